package loop

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

// The model: a loop of size n runs handlers one at a time in FIFO order;
// the running handler and the queued ones hold the n rooms; posters wait
// for room in FIFO order; Close fails waiters at once and drops what is
// queued once the running handler (if any) has returned.
// The real loop is driven through random operations (each handler blocks
// on a gate until the test lets it finish), with synctest.Wait between
// them, and compared with the model after each.
type lmodel struct {
	size    int
	running int   // id of the running handler, -1 if none
	queued  []int // handler ids, oldest first
	waiting []int // poster ids, oldest first
	ran     []int // handlers that ran, in order
	closed  bool

	// The totals, each waiting poster's start, and the waits the OnWait
	// hook must have seen.
	admitted, cancelled, rejected int64
	since                         map[int]time.Time
	waits                         []time.Duration
}

func (m *lmodel) used() int {
	n := len(m.queued)
	if m.running >= 0 {
		n++
	}
	return n
}

// settle starts the next handler and admits waiting posters while there
// is room.
func (m *lmodel) settle() {
	if m.closed && m.running < 0 {
		// The loop drops what was queued before Close once it is free.
		m.queued = nil
	}
	for {
		if m.running < 0 && len(m.queued) > 0 && !m.closed {
			m.running, m.queued = m.queued[0], m.queued[1:]
			m.ran = append(m.ran, m.running)
			continue
		}
		if len(m.waiting) > 0 && m.used() < m.size && !m.closed {
			id := m.waiting[0]
			m.queued = append(m.queued, id)
			m.waiting = m.waiting[1:]
			m.admitted++
			m.waits = append(m.waits, time.Since(m.since[id]))
			continue
		}
		return
	}
}

type poster struct {
	cancel context.CancelFunc
	err    chan error
}

func TestModel(t *testing.T) {
	conctest.Runs(t, 200, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runLoopModel(t, seed) })
	})
}

func runLoopModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x100b))
	m := &lmodel{size: 1 + rng.IntN(4), running: -1, since: map[int]time.Time{}}
	l := newLoop([]int(nil), WithQueueSize(m.size), WithSlowThreshold(24*time.Hour)) // time passes; no reports
	ctx := context.Background()
	var waitsMu sync.Mutex
	var waits []time.Duration
	defer l.OnWait(func(d time.Duration) {
		waitsMu.Lock()
		waits = append(waits, d)
		waitsMu.Unlock()
	})()
	// Each handler logs its id, then waits until the test lets it finish.
	finish := make(chan struct{})
	handler := func(id int) func(*[]int) {
		return func(ran *[]int) {
			*ran = append(*ran, id)
			<-finish
		}
	}
	posters := map[int]*poster{}
	nextID := 0

	for step := 0; step < 150; step++ {
		switch op := rng.IntN(8); op {
		case 0, 1: // Post, waiting if need be
			id := nextID
			nextID++
			pctx, cancel := context.WithCancel(ctx)
			p := &poster{cancel: cancel, err: make(chan error, 1)}
			go func() { p.err <- l.Post(pctx, handler(id)) }()
			synctest.Wait()
			switch {
			case m.closed:
				if err := <-p.err; !errors.Is(err, ErrClosed) {
					t.Fatalf("seed %d step %d: Post after Close: %v", seed, step, err)
				}
				cancel()
			case len(m.waiting) > 0 || m.used() == m.size:
				m.waiting = append(m.waiting, id)
				m.since[id] = time.Now()
				posters[id] = p
			default:
				if err := <-p.err; err != nil {
					t.Fatalf("seed %d step %d: Post: %v", seed, step, err)
				}
				cancel()
				m.queued = append(m.queued, id)
				m.admitted++
			}
		case 2: // TryPost
			id := nextID
			nextID++
			err := l.TryPost(handler(id))
			switch {
			case m.closed:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("seed %d step %d: TryPost after Close: %v", seed, step, err)
				}
			case len(m.waiting) > 0 || m.used() == m.size:
				if !errors.Is(err, ErrFull) {
					t.Fatalf("seed %d step %d: TryPost when full: %v", seed, step, err)
				}
				m.rejected++
			default:
				if err != nil {
					t.Fatalf("seed %d step %d: TryPost: %v", seed, step, err)
				}
				m.queued = append(m.queued, id)
				m.admitted++
			}
		case 3, 4, 5: // the running handler finishes
			if m.running < 0 {
				continue
			}
			finish <- struct{}{}
			m.running = -1
		case 6: // a waiting poster gives up
			if len(m.waiting) == 0 {
				continue
			}
			id := m.waiting[rng.IntN(len(m.waiting))]
			posters[id].cancel()
			if err := <-posters[id].err; !errors.Is(err, context.Canceled) {
				t.Fatalf("seed %d step %d: cancelled Post: %v", seed, step, err)
			}
			delete(posters, id)
			m.waiting = slices.DeleteFunc(m.waiting, func(x int) bool { return x == id })
			m.cancelled++
		case 7: // Close, rarely; else time passes
			if rng.IntN(5) != 0 || m.closed {
				<-time.After(time.Duration(1+rng.IntN(2000)) * time.Millisecond) // the bubble's clock
				continue
			}
			l.Close()
			m.closed = true
			for _, id := range m.waiting {
				if err := <-posters[id].err; !errors.Is(err, ErrClosed) {
					t.Fatalf("seed %d step %d: waiting Post after Close: %v", seed, step, err)
				}
				delete(posters, id)
			}
			m.waiting = nil
		}
		synctest.Wait()
		m.settle()
		// Posters the model admitted have returned nil.
		for id, p := range posters {
			if slices.Contains(m.waiting, id) {
				if len(p.err) != 0 {
					t.Fatalf("seed %d step %d: poster %d admitted out of turn (waiting %v)", seed, step, id, m.waiting)
				}
				continue
			}
			if err := <-p.err; err != nil {
				t.Fatalf("seed %d step %d: admitted poster %d: %v", seed, step, id, err)
			}
			p.cancel()
			delete(posters, id)
		}
		st := l.Stats()
		want := Stats{
			Capacity: int64(m.size), Queued: int64(len(m.queued)), Waiting: int64(len(m.waiting)),
			InUse: int64(boolInt(m.running >= 0)), Handled: int64(len(m.ran) - boolInt(m.running >= 0)),
			Admitted: m.admitted, Cancelled: m.cancelled, Rejected: m.rejected,
			OffloadCapacity: DefaultWorkers, Closed: m.closed,
		}
		if len(m.waiting) > 0 {
			want.OldestWait = time.Since(m.since[m.waiting[0]])
		}
		if st != want {
			t.Fatalf("seed %d step %d: Stats = %+v, model %+v", seed, step, st, want)
		}
		waitsMu.Lock()
		got := slices.Clone(waits)
		waitsMu.Unlock()
		if !slices.Equal(got, m.waits) {
			t.Fatalf("seed %d step %d: OnWait saw %v, model %v", seed, step, got, m.waits)
		}
	}
	// Tear down; then the log of what ran must match the model's.
	l.Close()
	for m.running >= 0 {
		finish <- struct{}{}
		m.running = -1
	}
	for _, p := range posters {
		<-p.err
		p.cancel()
	}
	closeAndWait(t, l)
	var ran []int
	l.state, ran = nil, l.state // the loop goroutine is gone: the state is ours
	if !slices.Equal(ran, m.ran) {
		t.Fatalf("seed %d: ran %v, model %v", seed, ran, m.ran)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
