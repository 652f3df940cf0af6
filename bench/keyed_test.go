package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moby/locker"
	"github.com/sluice-go/sluice/keyed"
)

// The two keyed locks under the same calls: Lock then Unlock of a string key.
type keyedLocker interface {
	lock(k string)
	unlock(k string)
}

type sluiceKeyed struct{ m keyed.Mutex[string] }

func (s *sluiceKeyed) lock(k string) {
	if err := s.m.Lock(context.Background(), k); err != nil {
		panic(err)
	}
}
func (s *sluiceKeyed) unlock(k string) { s.m.Unlock(k) }

type mobyKeyed struct{ l *locker.Locker }

func (s mobyKeyed) lock(k string) { s.l.Lock(k) }
func (s mobyKeyed) unlock(k string) {
	if err := s.l.Unlock(k); err != nil {
		panic(err)
	}
}

func keyedLockers() []struct {
	name string
	l    keyedLocker
} {
	return []struct {
		name string
		l    keyedLocker
	}{
		{"sluice", &sluiceKeyed{}},
		{"locker", mobyKeyed{locker.New()}},
	}
}

// xorshift is a tiny per-goroutine random source, so that picking a key
// costs nothing next to the lock.
type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

// BenchmarkKeyed: Keyed/case=hot|distinct/impl=sluice|locker (moby/locker).
func BenchmarkKeyed(b *testing.B) {
	b.Run("case=hot", keyedHot)
	b.Run("case=distinct", keyedDistinct)
}

// keyedHot: every goroutine (b.RunParallel: GOMAXPROCS of them)
// locks and unlocks one of 8 hot keys, picked at random for each call, so
// goroutines sometimes meet on a key and wait for each other. keyed.Mutex
// allocates nothing unless a Lock has to queue; from about 4 goroutines up
// some do (one small waiter each), which shows as ~20 B/op on average
// while allocs/op still rounds to 0.
func keyedHot(b *testing.B) {
	var keys [8]string
	for i := range keys {
		keys[i] = "peer-" + strconv.Itoa(i)
	}
	for _, c := range keyedLockers() {
		b.Run("impl="+c.name, func(b *testing.B) {
			var id atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rng := xorshift(id.Add(1) * 0x9e3779b97f4a7c15)
				for pb.Next() {
					k := keys[rng.next()&7]
					c.l.lock(k)
					c.l.unlock(k)
				}
			})
		})
	}
}

var (
	distinctOnce sync.Once
	distinctKeys []string
)

// keyedDistinct: Lock then Unlock, each time on a key not used
// for the last 1,000,000 calls, from GOMAXPROCS goroutines. This is the
// peer-churn case: the cost of creating and removing an entry per key.
func keyedDistinct(b *testing.B) {
	const n = 1_000_000
	distinctOnce.Do(func() {
		distinctKeys = make([]string, n)
		for i := range distinctKeys {
			distinctKeys[i] = "peer-" + strconv.Itoa(i)
		}
	})
	for _, c := range keyedLockers() {
		b.Run("impl="+c.name, func(b *testing.B) {
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks its own stretch of the key space.
				i := next.Add(1) * 7919
				for pb.Next() {
					k := distinctKeys[i%n]
					i++
					c.l.lock(k)
					c.l.unlock(k)
				}
			})
		})
	}
}
