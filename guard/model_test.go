package guard_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/guard"
)

// The model: what a FIFO readers-writer lock must do, written as plainly
// as possible. An exclusive lock (Value) is the same model with writers
// only. The real lock is driven through the same random operations, one at
// a time, with synctest.Wait between them so every goroutine has settled;
// then the two are compared: who holds, who waits, who failed with what.
type rwModel struct {
	readers map[int]bool
	writer  int // id, or -1
	queue   []int
	write   map[int]bool // per id: a writer?
	closed  bool
	// ended: calls that have returned, with the error they returned (nil
	// for a callback that ran and finished).
	ended map[int]error

	// The totals, by lane (0: read, 1: write), and each queued call's
	// queueing time.
	admitted, cancelled [2]int64
	contended           int64
	since               map[int]time.Time
}

func lane(write bool) int {
	if write {
		return 1
	}
	return 0
}

func (m *rwModel) fits(id int) bool {
	if m.write[id] {
		return m.writer < 0 && len(m.readers) == 0
	}
	return m.writer < 0
}

func (m *rwModel) grant() {
	for len(m.queue) > 0 && m.fits(m.queue[0]) {
		m.admit(m.queue[0])
		m.queue = m.queue[1:]
	}
}

func (m *rwModel) admit(id int) {
	m.admitted[lane(m.write[id])]++
	if m.write[id] {
		m.writer = id
	} else {
		m.readers[id] = true
	}
}

// oldest is how long the oldest queued call of a lane has waited at now.
func (m *rwModel) oldest(write bool, now time.Time) time.Duration {
	for _, id := range m.queue {
		if m.write[id] == write {
			return now.Sub(m.since[id])
		}
	}
	return 0
}

func (m *rwModel) holders() []int {
	var ids []int
	for id := range m.readers {
		ids = append(ids, id)
	}
	if m.writer >= 0 {
		ids = append(ids, m.writer)
	}
	slices.Sort(ids)
	return ids
}

// target is the lock under test, seen through what the model needs.
type target interface {
	call(ctx context.Context, write bool, fn func(ctx context.Context) error) error
	close()
	stats() tstats
	onWait(fn func(time.Duration)) func()
}

// tstats is a target's Stats, by lane where the model has lanes (a
// Value or Serial is the write lane). contended is -1 where the target
// has no such figure.
type tstats struct {
	inUse, waiting, admitted, cancelled [2]int64
	oldest                              [2]time.Duration
	contended                           int64
	closed                              bool
}

type rwTarget struct{ g *guard.RW[int] }

func (r rwTarget) call(ctx context.Context, write bool, fn func(ctx context.Context) error) error {
	f := func(ctx context.Context, _ *int) error { return fn(ctx) }
	if write {
		return r.g.Write(ctx, f)
	}
	return r.g.Read(ctx, f)
}
func (r rwTarget) close() { r.g.Close() }
func (r rwTarget) stats() tstats {
	s := r.g.Stats()
	return tstats{
		inUse:     [2]int64{s.ReadInUse, s.WriteInUse},
		waiting:   [2]int64{s.ReadWaiting, s.WriteWaiting},
		admitted:  [2]int64{s.ReadAdmitted, s.WriteAdmitted},
		cancelled: [2]int64{s.ReadCancelled, s.WriteCancelled},
		oldest:    [2]time.Duration{s.ReadOldestWait, s.WriteOldestWait},
		contended: -1,
		closed:    s.Closed,
	}
}
func (r rwTarget) onWait(fn func(time.Duration)) func() { return r.g.OnWait(fn) }

type valueTarget struct{ g *guard.Value[int] }

func (v valueTarget) call(ctx context.Context, _ bool, fn func(ctx context.Context) error) error {
	return v.g.Do(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
}
func (v valueTarget) close() { v.g.Close() }
func (v valueTarget) stats() tstats {
	s := v.g.Stats()
	return tstats{
		inUse:     [2]int64{0, s.InUse},
		waiting:   [2]int64{0, s.Waiting},
		admitted:  [2]int64{0, s.Admitted},
		cancelled: [2]int64{0, s.Cancelled},
		oldest:    [2]time.Duration{0, s.OldestWait},
		contended: s.Contended,
		closed:    s.Closed,
	}
}
func (v valueTarget) onWait(fn func(time.Duration)) func() { return v.g.OnWait(fn) }

type serialTarget struct{ a guard.Access[*int] }

func (s serialTarget) call(ctx context.Context, _ bool, fn func(ctx context.Context) error) error {
	return s.a.Do(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
}
func (s serialTarget) close() {}
func (s serialTarget) stats() tstats {
	st := s.a.Stats()
	return tstats{
		inUse:     [2]int64{0, st.InUse},
		waiting:   [2]int64{0, st.Waiting},
		admitted:  [2]int64{0, st.Admitted},
		cancelled: [2]int64{0, st.Cancelled},
		oldest:    [2]time.Duration{0, st.OldestWait},
		contended: st.Contended,
	}
}
func (s serialTarget) onWait(fn func(time.Duration)) func() { return s.a.OnWait(fn) }

// caller is one call in flight in the real lock.
type caller struct {
	cancel  context.CancelFunc
	release chan struct{} // closed to let the callback return
	running bool          // inside its callback
	done    bool
	err     error
}

func TestModelRW(t *testing.T) {
	runModels(t, true, true, func() target { return rwTarget{guard.NewRW(0)} })
}

func TestModelValue(t *testing.T) {
	runModels(t, false, true, func() target { return valueTarget{guard.New(0)} })
}

func TestModelSerial(t *testing.T) {
	runModels(t, false, false, func() target { n := 0; return serialTarget{guard.Serial(&n)} })
}

// runModels runs 150 random sequences (30 under -short), each from its
// own seed; conctest.Runs says how to replay a failed one.
func runModels(t *testing.T, readers, canClose bool, mk func() target) {
	conctest.Runs(t, 150, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runModel(t, seed, readers, canClose, mk()) })
	})
}

func runModel(t *testing.T, seed uint64, readers, canClose bool, tg target) {
	rng := rand.New(rand.NewPCG(seed, 0x9a7d))
	m := &rwModel{readers: map[int]bool{}, writer: -1, write: map[int]bool{}, ended: map[int]error{}, since: map[int]time.Time{}}
	var mu sync.Mutex
	calls := map[int]*caller{}
	var trace []string
	// Every wait reported to OnWait, and the model's: the waits of the
	// calls admitted from the queue, in the order they were admitted
	// (the real ones are sorted before comparing: readers admitted
	// together report in any order).
	var waits, wantWaits []time.Duration
	defer tg.onWait(func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	})()
	grant := func() {
		before := len(m.queue)
		queued := slices.Clone(m.queue)
		m.grant()
		for _, id := range queued[:before-len(m.queue)] {
			wantWaits = append(wantWaits, time.Since(m.since[id]))
		}
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s\ntrace: %v", seed, fmt.Sprintf(format, args...), trace)
	}

	settle := func() {
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		var running []int
		for id, c := range calls {
			if c.running {
				running = append(running, id)
			}
			want, ended := m.ended[id]
			switch {
			case c.done && !ended:
				fail("call %d returned %v, the model has it holding or waiting", id, c.err)
			case c.done && !errors.Is(c.err, want):
				fail("call %d returned %v, want %v", id, c.err, want)
			case !c.done && ended:
				fail("call %d still in the lock, the model ended it with %v", id, want)
			}
		}
		slices.Sort(running)
		if want := m.holders(); !slices.Equal(running, want) {
			fail("holding: %v, model %v (queue %v)", running, want, m.queue)
		}
		var wr, ww, wantW int64
		if m.writer >= 0 {
			wantW = 1
		}
		for _, id := range m.queue {
			if m.write[id] {
				ww++
			} else {
				wr++
			}
		}
		now := time.Now()
		want := tstats{
			inUse:     [2]int64{int64(len(m.readers)), wantW},
			waiting:   [2]int64{wr, ww},
			admitted:  m.admitted,
			cancelled: m.cancelled,
			oldest:    [2]time.Duration{m.oldest(false, now), m.oldest(true, now)},
			contended: m.contended,
			closed:    m.closed,
		}
		got := tg.stats()
		if got.contended < 0 {
			want.contended = -1
		}
		if _, isSerial := tg.(serialTarget); isSerial {
			want.closed = false
		}
		if got != want {
			fail("stats %+v\n model %+v (queue %v)", got, want, m.queue)
		}
		got1, want1 := slices.Clone(waits), slices.Clone(wantWaits)
		slices.Sort(got1)
		slices.Sort(want1)
		if !slices.Equal(got1, want1) {
			fail("OnWait saw %v, model %v", waits, wantWaits)
		}
	}

	var wg sync.WaitGroup
	defer func() {
		// Let every callback end, so no goroutine outlives the bubble.
		mu.Lock()
		for _, c := range calls {
			c.cancel()
			if c.release != nil {
				select {
				case <-c.release:
				default:
					close(c.release)
				}
			}
		}
		mu.Unlock()
		wg.Wait()
	}()

	next := 0
	for range 60 {
		op := rng.IntN(10)
		switch {
		case op < 5: // a new call
			id := next
			next++
			write := !readers || rng.IntN(3) == 0
			m.write[id] = write
			ctx, cancel := context.WithCancel(context.Background())
			c := &caller{cancel: cancel, release: make(chan struct{})}
			mu.Lock()
			calls[id] = c
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := tg.call(ctx, write, func(ctx context.Context) error {
					mu.Lock()
					c.running = true
					mu.Unlock()
					<-c.release
					mu.Lock()
					c.running = false
					mu.Unlock()
					return nil
				})
				mu.Lock()
				c.done, c.err = true, err
				mu.Unlock()
			}()
			trace = append(trace, fmt.Sprintf("call%d(w=%v)", id, write))
			switch {
			case m.closed:
				m.ended[id] = guard.ErrClosed
			case len(m.queue) == 0 && m.fits(id):
				m.admit(id)
			default:
				m.queue = append(m.queue, id)
				m.since[id] = time.Now()
				m.contended++
			}
		case op < 8: // a holder finishes
			hs := m.holders()
			if len(hs) == 0 {
				continue
			}
			id := hs[rng.IntN(len(hs))]
			trace = append(trace, fmt.Sprintf("release%d", id))
			close(calls[id].release)
			m.ended[id] = nil
			if m.writer == id {
				m.writer = -1
			} else {
				delete(m.readers, id)
			}
			grant()
		case op < 10 && len(m.queue) > 0 && (op < 9 || !canClose): // a waiter gives up
			i := rng.IntN(len(m.queue))
			id := m.queue[i]
			trace = append(trace, fmt.Sprintf("cancel%d", id))
			calls[id].cancel()
			m.queue = slices.Delete(m.queue, i, i+1)
			m.ended[id] = context.Canceled
			m.cancelled[lane(m.write[id])]++
			grant()
		case op == 9 && rng.IntN(2) == 0: // time passes
			d := time.Duration(1+rng.IntN(3000)) * time.Millisecond
			trace = append(trace, fmt.Sprintf("wait%v", d))
			<-time.After(d) // the bubble's clock
		case op == 9 && canClose && rng.IntN(4) == 0:
			trace = append(trace, "close")
			tg.close()
			m.closed = true
			for _, id := range m.queue {
				m.ended[id] = guard.ErrClosed
			}
			m.queue = nil
		}
		settle()
	}
}
