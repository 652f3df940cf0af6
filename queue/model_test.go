package queue

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

// The model: what a permit-attached queue must do, as plainly as possible.
// The real queue is driven through the same random operations, one at a
// time, with synctest.Wait between them so every goroutine (producers
// blocked in Reserve) has settled; then both are compared, with the
// totals and wait times (the bubble's clock is exact, so the model
// predicts OldestWait and what OnWait is called with).
type qmodel struct {
	capacity  int
	reserved  []int       // reservation ids held
	queued    []int       // values, oldest first
	inProcess []int       // item ids received, not Done
	waiting   []int       // blocked producer ids, oldest first
	puts      map[int]int // blocked producer id -> value, for those in Put
	closed    bool

	admitted, cancelled, rejected int64
	since                         map[int]time.Time // when each waiting producer joined the line
	waits                         []time.Duration   // what OnWait must have been called with
}

func (m *qmodel) oldestWait() time.Duration {
	if len(m.waiting) == 0 {
		return 0
	}
	return time.Since(m.since[m.waiting[0]])
}

func (m *qmodel) used() int { return len(m.reserved) + len(m.queued) + len(m.inProcess) }

// admit gives room to blocked producers, oldest first, while it is free:
// a Reserve's room is reserved, a Put's value is queued at once. It
// returns the ids admitted.
func (m *qmodel) admit() []int {
	var got []int
	for len(m.waiting) > 0 && m.used() < m.capacity {
		id := m.waiting[0]
		m.waiting = m.waiting[1:]
		m.admitted++
		m.waits = append(m.waits, time.Since(m.since[id]))
		if v, ok := m.puts[id]; ok {
			delete(m.puts, id)
			m.queued = append(m.queued, v)
		} else {
			m.reserved = append(m.reserved, id)
		}
		got = append(got, id)
	}
	return got
}

type producer struct {
	cancel context.CancelFunc
	res    chan result // receives the outcome of the blocked Reserve or Put
	put    bool
}

type result struct {
	r   Reservation[int]
	err error
}

func TestModel(t *testing.T) {
	conctest.Runs(t, 300, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runModel(t, seed) })
	})
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b9))
	m := &qmodel{capacity: 1 + rng.IntN(4), puts: map[int]int{}, since: map[int]time.Time{}}
	q := New[int](m.capacity)
	ctx := context.Background()
	var waitsMu sync.Mutex
	var waits []time.Duration // what the OnWait hook was called with
	q.OnWait(func(d time.Duration) {
		waitsMu.Lock()
		waits = append(waits, d)
		waitsMu.Unlock()
	})

	reservations := map[int]Reservation[int]{} // id -> the real one
	items := map[int]Item[int]{}               // id -> the real one
	var finished []Item[int]                   // Done already: must stay inert
	producers := map[int]*producer{}
	nextID, nextVal := 0, 0

	// collect takes the results of the producers the model admitted.
	collect := func(ids []int) {
		for _, id := range ids {
			p := producers[id]
			select {
			case res := <-p.res:
				if res.err != nil {
					t.Fatalf("seed %d: admitted producer %d got %v", seed, id, res.err)
				}
				if !p.put {
					reservations[id] = res.r
				}
				p.cancel()
				delete(producers, id)
			default:
				t.Fatalf("seed %d: producer %d should have been admitted", seed, id)
			}
		}
		// Nobody else may have been admitted.
		for id, p := range producers {
			if len(p.res) != 0 {
				t.Fatalf("seed %d: producer %d admitted out of turn (waiting %v)", seed, id, m.waiting)
			}
		}
	}
	pick := func(ids []int) int { return ids[rng.IntN(len(ids))] }

	for step := 0; step < 200; step++ {
		switch op := rng.IntN(14); op {
		case 0: // TryReserve
			r, err := q.TryReserve()
			switch {
			case m.closed:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("seed %d step %d: TryReserve when closed: %v", seed, step, err)
				}
				m.rejected++
			case len(m.waiting) > 0 || m.used() == m.capacity:
				if !errors.Is(err, ErrFull) {
					t.Fatalf("seed %d step %d: TryReserve when full: %v", seed, step, err)
				}
				m.rejected++
			default:
				if err != nil {
					t.Fatalf("seed %d step %d: TryReserve: %v", seed, step, err)
				}
				id := nextID
				nextID++
				m.reserved = append(m.reserved, id)
				reservations[id] = r
				m.admitted++
			}
		case 13: // time passes: waiting producers wait longer
			time.Sleep(time.Duration(1+rng.IntN(4000)) * time.Millisecond)
		case 1, 2: // Reserve, blocking if need be
			id := nextID
			nextID++
			pctx, cancel := context.WithCancel(ctx)
			p := &producer{cancel: cancel, res: make(chan result, 1)}
			go func() {
				r, err := q.Reserve(pctx)
				p.res <- result{r, err}
			}()
			synctest.Wait()
			switch {
			case m.closed:
				res := <-p.res
				if !errors.Is(res.err, ErrClosed) {
					t.Fatalf("seed %d step %d: Reserve when closed: %v", seed, step, res.err)
				}
				cancel()
			case len(m.waiting) > 0 || m.used() == m.capacity:
				m.waiting = append(m.waiting, id)
				m.since[id] = time.Now()
				producers[id] = p
				collect(nil)
			default:
				m.reserved = append(m.reserved, id)
				m.admitted++
				producers[id] = p
				collect([]int{id})
			}
		case 11, 12: // Put, blocking if need be
			id, v := nextID, nextVal
			nextID++
			nextVal++
			pctx, cancel := context.WithCancel(ctx)
			p := &producer{cancel: cancel, res: make(chan result, 1), put: true}
			go func() { p.res <- result{err: q.Put(pctx, v)} }()
			synctest.Wait()
			switch {
			case m.closed:
				res := <-p.res
				if !errors.Is(res.err, ErrClosed) {
					t.Fatalf("seed %d step %d: Put when closed: %v", seed, step, res.err)
				}
				cancel()
			case len(m.waiting) > 0 || m.used() == m.capacity:
				m.waiting = append(m.waiting, id)
				m.since[id] = time.Now()
				m.puts[id] = v
				producers[id] = p
				collect(nil)
			default:
				m.queued = append(m.queued, v)
				m.admitted++
				producers[id] = p
				collect([]int{id})
			}
		case 3: // a waiting producer gives up
			if len(m.waiting) == 0 {
				continue
			}
			id := pick(m.waiting)
			p := producers[id]
			p.cancel()
			synctest.Wait()
			res := <-p.res
			if !errors.Is(res.err, context.Canceled) {
				t.Fatalf("seed %d step %d: cancelled producer: %v", seed, step, res.err)
			}
			delete(producers, id)
			delete(m.puts, id)
			m.waiting = slices.DeleteFunc(m.waiting, func(x int) bool { return x == id })
			m.cancelled++
			collect(m.admit())
		case 4, 5: // Send on a reservation
			if len(m.reserved) == 0 {
				continue
			}
			id := pick(m.reserved)
			err := reservations[id].Send(nextVal)
			m.reserved = slices.DeleteFunc(m.reserved, func(x int) bool { return x == id })
			if m.closed {
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("seed %d step %d: Send when closed: %v", seed, step, err)
				}
			} else {
				if err != nil {
					t.Fatalf("seed %d step %d: Send: %v", seed, step, err)
				}
				m.queued = append(m.queued, nextVal)
			}
			nextVal++
			synctest.Wait()
			collect(m.admit())
		case 6: // Cancel a reservation, and a second Cancel that must be inert
			if len(m.reserved) == 0 {
				continue
			}
			id := pick(m.reserved)
			if !reservations[id].Cancel() {
				t.Fatalf("seed %d step %d: Cancel returned false", seed, step)
			}
			if reservations[id].Cancel() {
				t.Fatalf("seed %d step %d: second Cancel returned true", seed, step)
			}
			m.reserved = slices.DeleteFunc(m.reserved, func(x int) bool { return x == id })
			synctest.Wait()
			collect(m.admit())
		case 7, 8: // Recv
			if len(m.queued) == 0 {
				if m.closed {
					if _, err := q.Recv(ctx); !errors.Is(err, ErrClosed) {
						t.Fatalf("seed %d step %d: Recv when closed and drained: %v", seed, step, err)
					}
				} else if _, ok, err := q.TryRecv(); ok || err != nil {
					t.Fatalf("seed %d step %d: TryRecv on empty: %v %v", seed, step, ok, err)
				}
				continue
			}
			it, err := q.Recv(ctx)
			if err != nil || it.Value != m.queued[0] {
				t.Fatalf("seed %d step %d: Recv = %d, %v; want %d", seed, step, it.Value, err, m.queued[0])
			}
			m.queued = m.queued[1:]
			id := nextID
			nextID++
			items[id] = it
			m.inProcess = append(m.inProcess, id)
		case 9: // Done, and a stale Done that must be inert
			if len(finished) > 0 && finished[rng.IntN(len(finished))].Done() {
				t.Fatalf("seed %d step %d: stale Done returned true", seed, step)
			}
			if len(m.inProcess) == 0 {
				continue
			}
			id := pick(m.inProcess)
			if !items[id].Done() {
				t.Fatalf("seed %d step %d: Done returned false", seed, step)
			}
			finished = append(finished, items[id])
			delete(items, id)
			m.inProcess = slices.DeleteFunc(m.inProcess, func(x int) bool { return x == id })
			synctest.Wait()
			collect(m.admit())
		case 10: // Close, rarely
			if rng.IntN(4) != 0 {
				continue
			}
			q.Close()
			synctest.Wait()
			m.closed = true
			for _, id := range m.waiting {
				res := <-producers[id].res
				if !errors.Is(res.err, ErrClosed) {
					t.Fatalf("seed %d step %d: waiting producer after Close: %v", seed, step, res.err)
				}
				producers[id].cancel()
				delete(producers, id)
			}
			m.waiting = nil
			clear(m.puts)
		}

		got := q.Stats()
		want := Stats{
			Capacity: int64(m.capacity),
			Reserved: int64(len(m.reserved)),
			Queued:   int64(len(m.queued)),
			InUse:    int64(len(m.inProcess)),
			Waiting:  int64(len(m.waiting)),
			Closed:   m.closed,

			Admitted:   m.admitted,
			Cancelled:  m.cancelled,
			Rejected:   m.rejected,
			OldestWait: m.oldestWait(),
		}
		if got != want {
			t.Fatalf("seed %d step %d: Stats = %+v, model %+v", seed, step, got, want)
		}
		waitsMu.Lock()
		gotWaits := slices.Clone(waits)
		waitsMu.Unlock()
		slices.Sort(gotWaits)
		wantWaits := slices.Clone(m.waits)
		slices.Sort(wantWaits)
		if !slices.Equal(gotWaits, wantWaits) {
			t.Fatalf("seed %d step %d: OnWait called with %v, model %v", seed, step, gotWaits, wantWaits)
		}
		if got.Reserved+got.Queued+got.InUse > got.Capacity {
			t.Fatalf("seed %d step %d: over capacity: %+v", seed, step, got)
		}
	}
	// Tear down: release every waiting producer.
	q.Close()
	for _, p := range producers {
		<-p.res
		p.cancel()
	}
}
