package sem

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// The model: what a strict-FIFO weighted semaphore must do, written as
// plainly as possible. The real semaphore is driven through the same random
// operations, one at a time, with synctest.Wait between them so every
// goroutine has settled; then both are compared.
//
// Time is the bubble's fake clock, so the model predicts wait times
// exactly: OldestWait, and what the OnWait hook is called with.
type model struct {
	size    int64
	inUse   int64
	queue   []int // waiter ids, oldest first
	closed  bool
	granted map[int]bool

	admitted, cancelled, rejected int64
	since                         map[int]time.Time // when each queued waiter began to wait
	waits                         []time.Duration   // what OnWait must have been called with
}

func (m *model) grant(want map[int]int64) {
	for len(m.queue) > 0 {
		id := m.queue[0]
		if m.inUse+want[id] > m.size {
			return
		}
		m.inUse += want[id]
		m.granted[id] = true
		m.queue = m.queue[1:]
		m.admitted++
		m.waits = append(m.waits, time.Since(m.since[id]))
	}
}

func (m *model) oldestWait() time.Duration {
	if len(m.queue) == 0 {
		return 0
	}
	return time.Since(m.since[m.queue[0]])
}

type acquirer struct {
	n      int64
	cancel context.CancelFunc
	done   bool
	err    error
}

func TestModel(t *testing.T) {
	conctest.Runs(t, 200, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runModel(t, seed) })
	})
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5e3a))
	size := int64(1 + rng.IntN(6))
	s := New(size)
	m := &model{size: size, granted: map[int]bool{}, since: map[int]time.Time{}}
	want := map[int]int64{}
	var hookMu sync.Mutex
	var waits []time.Duration // what the OnWait hook was called with
	s.OnWait(func(d time.Duration) {
		hookMu.Lock()
		waits = append(waits, d)
		hookMu.Unlock()
	})

	var mu sync.Mutex
	acq := map[int]*acquirer{}
	var holders []int    // ids holding permits (in model and real)
	var tryHolds []int64 // permits taken by TryAcquire
	next := 0

	settle := func() {
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for id, a := range acq {
			if !a.done {
				if m.granted[id] {
					t.Fatalf("seed %d: waiter %d (n=%d) admitted by the model, still blocked in the semaphore", seed, id, a.n)
				}
				continue
			}
			if m.granted[id] {
				if a.err != nil {
					t.Fatalf("seed %d: waiter %d: err %v; model admitted it", seed, id, a.err)
				}
				holders = append(holders, id)
			} else if a.err == nil {
				t.Fatalf("seed %d: waiter %d admitted; the model says it waits (queue %v)", seed, id, m.queue)
			}
			delete(acq, id)
		}
		st := s.Stats()
		if st.InUse != m.inUse || st.Waiting != int64(len(m.queue)) || st.Closed != m.closed {
			t.Fatalf("seed %d: Stats %+v; model inUse=%d waiters=%d closed=%v", seed, st, m.inUse, len(m.queue), m.closed)
		}
		if st.Admitted != m.admitted || st.Cancelled != m.cancelled || st.Rejected != m.rejected || st.OldestWait != m.oldestWait() {
			t.Fatalf("seed %d: Stats %+v; model admitted=%d cancelled=%d rejected=%d oldest wait %v",
				seed, st, m.admitted, m.cancelled, m.rejected, m.oldestWait())
		}
		hookMu.Lock()
		got := slices.Clone(waits)
		hookMu.Unlock()
		slices.Sort(got)
		wantWaits := slices.Clone(m.waits)
		slices.Sort(wantWaits)
		if !slices.Equal(got, wantWaits) {
			t.Fatalf("seed %d: OnWait called with %v; model %v", seed, got, wantWaits)
		}
	}

	for step := 0; step < 60; step++ {
		switch op := rng.IntN(100); {
		case op < 40: // Acquire
			id := next
			next++
			n := int64(rng.IntN(int(size)) + 1)
			want[id] = n
			ctx, cancel := context.WithCancel(context.Background())
			a := &acquirer{n: n, cancel: cancel}
			mu.Lock()
			acq[id] = a
			mu.Unlock()
			switch {
			case m.closed:
			case len(m.queue) == 0 && m.inUse+n <= size:
				m.inUse += n
				m.granted[id] = true
				m.admitted++
			default:
				m.queue = append(m.queue, id)
				m.since[id] = time.Now()
			}
			go func() {
				err := s.Acquire(ctx, n)
				mu.Lock()
				a.done, a.err = true, err
				mu.Unlock()
			}()
		case op < 50: // TryAcquire
			n := int64(rng.IntN(int(size)) + 1)
			ok := s.TryAcquire(n)
			wantOK := !m.closed && len(m.queue) == 0 && m.inUse+n <= size
			if ok != wantOK {
				t.Fatalf("seed %d: TryAcquire(%d) = %v; model %v (inUse %d, queue %v)", seed, n, ok, wantOK, m.inUse, m.queue)
			}
			if ok {
				m.inUse += n
				tryHolds = append(tryHolds, n)
				m.admitted++
			} else {
				m.rejected++
			}
		case op < 80: // Release something held
			if len(holders) > 0 {
				i := rng.IntN(len(holders))
				id := holders[i]
				holders = slices.Delete(holders, i, i+1)
				s.Release(want[id])
				m.inUse -= want[id]
			} else if len(tryHolds) > 0 {
				n := tryHolds[0]
				tryHolds = tryHolds[1:]
				s.Release(n)
				m.inUse -= n
			} else {
				continue
			}
			m.grant(want)
		case op < 92: // Cancel a waiter
			if len(m.queue) == 0 {
				continue
			}
			i := rng.IntN(len(m.queue))
			id := m.queue[i]
			m.queue = slices.Delete(m.queue, i, i+1)
			mu.Lock()
			a := acq[id]
			mu.Unlock()
			a.cancel()
			m.cancelled++
			m.grant(want)
		case op < 99: // time passes: the waiters wait longer
			time.Sleep(time.Duration(1+rng.IntN(5000)) * time.Millisecond)
		default: // Close
			s.Close()
			m.closed = true
			m.queue = nil
		}
		settle()
	}
	// Tidy up: cancel the rest, give everything back.
	for _, a := range acq {
		a.cancel()
	}
	synctest.Wait()
	for _, id := range holders {
		s.Release(want[id])
	}
	for _, n := range tryHolds {
		s.Release(n)
	}
	mu.Lock()
	for _, a := range acq {
		if a.err == nil {
			// Admitted just as it was cancelled would be a bug: settle
			// checked that no model-waiter got in.
			s.Release(a.n)
		} else if !errors.Is(a.err, context.Canceled) && !errors.Is(a.err, ErrClosed) {
			t.Fatalf("seed %d: leftover waiter error %v", seed, a.err)
		}
	}
	mu.Unlock()
	if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("seed %d: at the end %+v", seed, st)
	}
}
