package keyed

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/internal/keymap"
)

// call is a blocking call running on its own goroutine.
type call struct {
	done chan struct{}
	err  error
}

func start(fn func() error) *call {
	c := &call{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = fn()
	}()
	return c
}

// returned reports whether the call has returned. Use after synctest.Wait.
func (c *call) returned() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// nilCtx is a nil Context, for the bad-input tests.
func nilCtx() context.Context { return nil }

func (c *call) wait() error {
	<-c.done
	return c.err
}

func TestMutexZeroValue(t *testing.T) {
	var m Mutex[string]
	ctx := context.Background()
	if err := m.Lock(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(ctx, "b"); err != nil {
		t.Fatal("holding a blocked b:", err)
	}
	if n := m.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	m.Unlock("a")
	m.Unlock("b")
	if n := m.Len(); n != 0 {
		t.Fatalf("Len = %d after unlocking everything, want 0", n)
	}
	st := m.Stats()
	if st != (MutexStats{Admitted: 2}) {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestMutexExcludesPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mutex[int]
		ctx := context.Background()
		if err := m.Lock(ctx, 1); err != nil {
			t.Fatal(err)
		}
		b := start(func() error { return m.Lock(ctx, 1) })
		c := start(func() error { return m.Lock(ctx, 2) })
		synctest.Wait()
		if b.returned() {
			t.Fatal("second Lock of a held key returned")
		}
		if !c.returned() || c.err != nil {
			t.Fatal("Lock of another key waited")
		}
		if st := m.Stats(); st.Keys != 2 || st.Waiting != 1 {
			t.Fatalf("Stats = %+v, want 2 keys, 1 waiter", st)
		}
		m.Unlock(1)
		if err := b.wait(); err != nil {
			t.Fatal(err)
		}
		// Handed over: still held, now by b.
		if m.TryLock(1) {
			t.Fatal("TryLock took a key that was handed to a waiter")
		}
		m.Unlock(1)
		m.Unlock(2)
		if st := m.Stats(); st != (MutexStats{Admitted: 3, Contended: 1, Rejected: 1}) {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

func TestMutexFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mutex[string]
		ctx := context.Background()
		if err := m.Lock(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		var order []int
		var mu sync.Mutex
		var calls []*call
		for i := range 10 {
			calls = append(calls, start(func() error {
				if err := m.Lock(ctx, "k"); err != nil {
					return err
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				return nil
			}))
			synctest.Wait() // i is queued before i+1 arrives
		}
		for i := range 10 {
			m.Unlock("k")
			if err := calls[i].wait(); err != nil {
				t.Fatal(err)
			}
		}
		m.Unlock("k")
		for i, got := range order {
			if got != i {
				t.Fatalf("order %v, want arrival order", order)
			}
		}
		if m.Len() != 0 {
			t.Fatal("entry left behind")
		}
	})
}

func TestMutexTryLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mutex[string]
		if !m.TryLock("k") {
			t.Fatal("TryLock of a free key failed")
		}
		if m.TryLock("k") {
			t.Fatal("TryLock of a held key succeeded")
		}
		w := start(func() error { return m.Lock(context.Background(), "k") })
		synctest.Wait()
		m.Unlock("k") // handed to w
		if err := w.wait(); err != nil {
			t.Fatal(err)
		}
		if m.TryLock("k") {
			t.Fatal("TryLock jumped ahead of the waiter the key was handed to")
		}
		m.Unlock("k")
		if !m.TryLock("k") {
			t.Fatal("TryLock of a free key failed")
		}
		m.Unlock("k")
		m.Close()
		if m.TryLock("k") {
			t.Fatal("TryLock succeeded after Close")
		}
		if m.Len() != 0 {
			t.Fatal("entry left behind")
		}
	})
}

func TestMutexBadInput(t *testing.T) {
	var m Mutex[string]
	conctest.MustPanic(t, func() { m.Unlock("never") }, "keyed:", "Mutex.Unlock", "never", "not locked")
	m.TryLock("k")
	m.Unlock("k")
	conctest.MustPanic(t, func() { m.Unlock("k") }, "keyed:", "not locked")
	conctest.MustPanic(t, func() { _ = m.Lock(nilCtx(), "k") }, "keyed:", "nil Context")
	// The panics left the Mutex usable.
	if !m.TryLock("k") {
		t.Fatal("Mutex unusable after a bad Unlock")
	}
	m.Unlock("k")
}

func TestMutexDoneContextFailsAtOnce(t *testing.T) {
	var m Mutex[string]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Lock(ctx, "free"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a done ctx = %v, want context.Canceled", err)
	}
	if m.Len() != 0 {
		t.Fatal("a failed Lock left an entry")
	}
}

// A cancelled waiter returns its ctx error, leaves no trace, and the waiter
// behind it gets the key when the holder lets go.
func TestMutexCancelledWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mutex[string]
		bg := context.Background()
		if err := m.Lock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		ctxB, cancelB := context.WithCancel(bg)
		b := start(func() error { return m.Lock(ctxB, "k") })
		synctest.Wait()
		ctxC, cancelC := context.WithTimeout(bg, time.Minute)
		defer cancelC()
		c := start(func() error { return m.Lock(ctxC, "k") })
		ctxD, cancelD := context.WithTimeout(bg, time.Second)
		defer cancelD()
		d := start(func() error { return m.Lock(ctxD, "k") })
		synctest.Wait()
		if st := m.Stats(); st.Waiting != 3 {
			t.Fatalf("Waiting = %d, want 3", st.Waiting)
		}
		cancelB() // the head of the queue gives up
		if err := b.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter got %v", err)
		}
		// d's deadline passes (fake time): it gives up from the tail.
		if err := d.wait(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waiter past its deadline got %v", err)
		}
		if st := m.Stats(); st.Waiting != 1 || st.Cancelled != 2 || st.Keys != 1 {
			t.Fatalf("Stats = %+v, want 1 waiter, 2 cancelled, 1 key", st)
		}
		m.Unlock("k")
		if err := c.wait(); err != nil {
			t.Fatalf("waiter behind the cancelled ones got %v", err)
		}
		m.Unlock("k")
		if m.Len() != 0 {
			t.Fatal("entry left behind")
		}
	})
}

// The key is handed to a waiter at the moment it gives up: it must not
// keep it, and must pass it to the next waiter.
func TestMutexGiveUpDuringHandoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mutex[string]
		bg := context.Background()
		if err := m.Lock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		ctxB, cancelB := context.WithCancel(bg)
		b := start(func() error { return m.Lock(ctxB, "k") })
		synctest.Wait()
		c := start(func() error { return m.Lock(bg, "k") })
		synctest.Wait()

		inHook, release := make(chan struct{}), make(chan struct{})
		testHookGiveUp = func() { close(inHook); <-release }
		defer func() { testHookGiveUp = nil }()
		cancelB()
		<-inHook      // b saw its ctx end and has not taken the shard lock
		m.Unlock("k") // hands k to b, the head
		close(release)
		if err := b.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("b = %v, want context.Canceled", err)
		}
		if err := c.wait(); err != nil {
			t.Fatalf("c, behind b, got %v", err)
		}
		m.Unlock("k") // c's
		// b was granted k but returned its ctx error: it counts as
		// cancelled, not admitted.
		st := m.Stats()
		if st.Keys != 0 || st.Waiting != 0 || st.Admitted != 2 || st.Contended != 1 || st.Cancelled != 1 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

func TestMutexClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mutex[string]
		bg := context.Background()
		if err := m.Lock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		w1 := start(func() error { return m.Lock(bg, "k") })
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		w2 := start(func() error { return m.Lock(ctx, "k") })
		synctest.Wait()
		m.Close()
		m.Close() // idempotent
		for _, w := range []*call{w1, w2} {
			if err := w.wait(); !errors.Is(err, ErrClosed) {
				t.Fatalf("waiter got %v, want ErrClosed", err)
			}
		}
		if err := m.Lock(bg, "other"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Lock after Close = %v", err)
		}
		if !strings.HasPrefix(ErrClosed.Error(), "keyed: ") {
			t.Fatalf("ErrClosed = %q", ErrClosed)
		}
		st := m.Stats()
		if !st.Closed || st.Keys != 1 || st.Waiting != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		m.Unlock("k") // the holder may still let go
		if m.Len() != 0 {
			t.Fatal("entry left behind")
		}
	})
}

// Seed 001, flaw 1: the per-peer lock map grew for every peer whose
// disconnect was never seen. Here nobody cleans up and nothing grows.
func TestMutexMillionKeys(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	var m Mutex[int]
	ctx := context.Background()
	for k := range n {
		if err := m.Lock(ctx, k); err != nil {
			t.Fatal(err)
		}
		m.Unlock(k)
	}
	if l := m.Len(); l != 0 {
		t.Fatalf("Len = %d after %d keys came and went, want 0", l, n)
	}
	// A burst of keys held at once: the tables grow, then give it back.
	const burst = 100_000
	for k := range burst {
		if !m.TryLock(k) {
			t.Fatal("TryLock of a free key failed")
		}
	}
	if l := m.Len(); l != burst {
		t.Fatalf("Len = %d, want %d", l, burst)
	}
	for k := range burst {
		m.Unlock(k)
	}
	if l := m.Len(); l != 0 {
		t.Fatalf("Len = %d after the burst, want 0", l)
	}
	// What is left is at most the small table each shard keeps.
	if slots := m.m.Slots(); slots > keymap.NumShards*64 {
		t.Fatalf("%d slots kept after every key went", slots)
	}
}

// Many goroutines over a few keys, with Lock, TryLock and Locks that are
// cancelled at random moments: never two holders of a key, and everything
// is gone at the end.
func TestMutexStress(t *testing.T) {
	const keys = 4
	workers, rounds := 8, 2000
	if testing.Short() {
		rounds = 300
	}
	var m Mutex[int]
	var inside [keys]atomic.Int32
	cancels := make(chan context.CancelFunc, 64)
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() { // the canceller: ends some contexts while they wait
		defer cwg.Done()
		for c := range cancels {
			c()
		}
	}()
	var wg sync.WaitGroup
	var got, gaveUp atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				k := rng.IntN(keys)
				var err error
				switch rng.IntN(3) {
				case 0:
					err = m.Lock(context.Background(), k)
				case 1:
					if !m.TryLock(k) {
						continue
					}
				case 2:
					ctx, cancel := context.WithCancel(context.Background())
					cancels <- cancel
					err = m.Lock(ctx, k)
					cancel()
				}
				if err != nil {
					gaveUp.Add(1)
					continue
				}
				got.Add(1)
				if n := inside[k].Add(1); n != 1 {
					t.Errorf("key %d has %d holders", k, n)
				}
				inside[k].Add(-1)
				m.Unlock(k)
			}
		}()
	}
	wg.Wait()
	close(cancels)
	cwg.Wait()
	st := m.Stats()
	if st.Keys != 0 || st.Waiting != 0 {
		t.Fatalf("after the run: %+v", st)
	}
	if st.Admitted < got.Load() {
		t.Fatalf("Stats.Admitted = %d < %d successful locks", st.Admitted, got.Load())
	}
	t.Logf("%d locks, %d gave up, %+v", got.Load(), gaveUp.Load(), st)
}

func BenchmarkMutexUncontended(b *testing.B) {
	var m Mutex[string]
	ctx := context.Background()
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = "peer-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&63]
		i++
		_ = m.Lock(ctx, k)
		m.Unlock(k)
	}
}
