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
}

func (m *rwModel) fits(id int) bool {
	if m.write[id] {
		return m.writer < 0 && len(m.readers) == 0
	}
	return m.writer < 0
}

func (m *rwModel) admit(id int) {
	if m.write[id] {
		m.writer = id
	} else {
		m.readers[id] = true
	}
}

func (m *rwModel) grant() {
	for len(m.queue) > 0 && m.fits(m.queue[0]) {
		m.admit(m.queue[0])
		m.queue = m.queue[1:]
	}
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
	// stats: read holds, write holds, readers waiting, writers waiting, closed.
	stats() (int64, int64, int64, int64, bool)
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
func (r rwTarget) stats() (int64, int64, int64, int64, bool) {
	s := r.g.Stats()
	return s.ReadInUse, s.WriteInUse, s.ReadWaiting, s.WriteWaiting, s.Closed
}

type valueTarget struct{ g *guard.Value[int] }

func (v valueTarget) call(ctx context.Context, _ bool, fn func(ctx context.Context) error) error {
	return v.g.Do(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
}
func (v valueTarget) close() { v.g.Close() }
func (v valueTarget) stats() (int64, int64, int64, int64, bool) {
	s := v.g.Stats()
	return 0, s.InUse, 0, s.Waiting, s.Closed
}

type serialTarget struct{ a guard.Access[*int] }

func (s serialTarget) call(ctx context.Context, _ bool, fn func(ctx context.Context) error) error {
	return s.a.Do(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
}
func (s serialTarget) close() {}
func (s serialTarget) stats() (int64, int64, int64, int64, bool) {
	st := s.a.Stats()
	return 0, st.InUse, 0, st.Waiting, false
}

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
	m := &rwModel{readers: map[int]bool{}, writer: -1, write: map[int]bool{}, ended: map[int]error{}}
	var mu sync.Mutex
	calls := map[int]*caller{}
	var trace []string
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
		r, w, sr, sw, closed := tg.stats()
		if r != int64(len(m.readers)) || w != wantW || sr != wr || sw != ww || closed != m.closed {
			fail("stats (%d, %d, %d, %d, %v), model (%d, %d, %d, %d, %v)",
				r, w, sr, sw, closed, len(m.readers), wantW, wr, ww, m.closed)
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
			m.grant()
		case op < 10 && len(m.queue) > 0 && (op < 9 || !canClose): // a waiter gives up
			i := rng.IntN(len(m.queue))
			id := m.queue[i]
			trace = append(trace, fmt.Sprintf("cancel%d", id))
			calls[id].cancel()
			m.queue = slices.Delete(m.queue, i, i+1)
			m.ended[id] = context.Canceled
			m.grant()
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
