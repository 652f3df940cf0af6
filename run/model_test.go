package run

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
)

// The model: what a Guard must do, written as plainly as possible. The
// real Guard (or one key of a Keyed) is driven through the same random
// operations (a call in a random mode, the run returning or panicking, a
// caller's ctx ending, Close), one at a time, with synctest.Wait between
// them so every goroutine has settled; then both are compared: who is
// running fn, what each call returned, Stats.
type guardModel struct {
	runner                           int   // caller running fn, -1 if idle
	joiners                          []int // waiting for the current run's result
	cands                            []int // waiting for the trailing run, oldest first
	pending                          bool
	closed                           bool
	result                           map[int]string // what each finished call returned
	ran                              map[int]bool   // callers whose fn ran
	runs, rejected, shared, panicked int64
	admitted, cancelled              int64
}

func (m *guardModel) call(c int, mode Mode) {
	switch {
	case m.closed:
		m.result[c] = "closed"
	case m.runner < 0:
		m.startRun(c)
	case mode == Reject:
		m.result[c] = "running"
		m.rejected++
	case mode == Join:
		m.joiners = append(m.joiners, c)
	default:
		m.cands = append(m.cands, c)
		m.pending = true
	}
}

func (m *guardModel) startRun(c int) {
	m.runner = c
	m.ran[c] = true
	m.runs++
	m.admitted++
}

// finish ends the run: the runner returns own, its joiners get shared.
func (m *guardModel) finish(own, shared string) {
	m.result[m.runner] = own
	for _, j := range m.joiners {
		m.result[j] = shared
		m.shared++
		m.admitted++
	}
	m.runner, m.joiners = -1, nil
	if m.pending {
		m.startRun(m.cands[0])
		m.joiners = m.cands[1:]
		m.cands, m.pending = nil, false
	}
}

func (m *guardModel) cancel(c int) {
	switch {
	case c == m.runner:
		m.finish("canceled", "canceled")
	case slices.Contains(m.joiners, c):
		m.joiners = slices.DeleteFunc(m.joiners, func(x int) bool { return x == c })
		m.result[c] = "canceled"
		m.cancelled++
	case slices.Contains(m.cands, c):
		m.cands = slices.DeleteFunc(m.cands, func(x int) bool { return x == c })
		m.result[c] = "canceled"
		m.cancelled++
		m.pending = len(m.cands) > 0
	}
}

// close fails every waiter; the run in progress goes on.
func (m *guardModel) close() {
	m.closed = true
	for _, c := range append(m.joiners, m.cands...) {
		m.result[c] = "closed"
	}
	m.joiners, m.cands, m.pending = nil, nil, false
}

// busy reports whether any call is in progress (a Keyed then has the key).
func (m *guardModel) busy() bool {
	return m.runner >= 0 || len(m.joiners) > 0 || len(m.cands) > 0
}

// guardUT is a Guard, or one key of a Keyed, behind the model's operations.
type guardUT interface {
	do(ctx context.Context, mode Mode, fn func(context.Context) error) error
	close()
	// check compares the Stats with the model's and returns what differs.
	check(m *guardModel) string
}

type plainUT struct{ g Guard }

func (u *plainUT) do(ctx context.Context, mode Mode, fn func(context.Context) error) error {
	return u.g.Do(ctx, mode, fn)
}
func (u *plainUT) close() { u.g.Close() }
func (u *plainUT) check(m *guardModel) string {
	want := Stats{
		Running:   m.runner >= 0,
		Pending:   m.pending,
		Waiting:   int64(len(m.joiners) + len(m.cands)),
		Admitted:  m.admitted,
		Cancelled: m.cancelled,
		Runs:      m.runs,
		Rejected:  m.rejected,
		Shared:    m.shared,
		Panicked:  m.panicked,
		Closed:    m.closed,
	}
	if st := u.g.Stats(); st != want {
		return fmt.Sprintf("stats %+v, want %+v", st, want)
	}
	return ""
}

type keyedUT struct{ k Keyed[string] }

func (u *keyedUT) do(ctx context.Context, mode Mode, fn func(context.Context) error) error {
	return u.k.Do(ctx, "key", mode, fn)
}
func (u *keyedUT) close() { u.k.Close() }
func (u *keyedUT) check(m *guardModel) string {
	want := KeyedStats{
		Waiting:   int64(len(m.joiners) + len(m.cands)),
		Admitted:  m.admitted,
		Cancelled: m.cancelled,
		Runs:      m.runs,
		Rejected:  m.rejected,
		Shared:    m.shared,
		Panicked:  m.panicked,
		Closed:    m.closed,
	}
	if m.busy() {
		want.Keys = 1
	}
	if m.runner >= 0 {
		want.Running = 1
	}
	if st := u.k.Stats(); st != want {
		return fmt.Sprintf("stats %+v, want %+v", st, want)
	}
	return ""
}

func TestModel(t *testing.T) {
	conctest.Runs(t, 300, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runGuardModel(t, seed, &plainUT{}) })
	})
}

func TestKeyedModel(t *testing.T) {
	conctest.Runs(t, 150, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runGuardModel(t, seed, &keyedUT{}) })
	})
}

// errPanicNow, sent to a run, makes its fn panic.
var errPanicNow = errors.New("panic now")

func runGuardModel(t *testing.T, seed uint64, g guardUT) {
	rng := rand.New(rand.NewPCG(seed, 0x70a1))
	m := &guardModel{runner: -1, result: map[int]string{}, ran: map[int]bool{}}

	var mu sync.Mutex
	running := map[int]bool{} // fn executing now
	ran := map[int]bool{}
	result := map[int]string{}
	release := map[int]chan error{}
	cancels := map[int]context.CancelFunc{}
	name := func(err error) string {
		var f failure
		var pe *PanicError
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, ErrRunning):
			return "running"
		case errors.Is(err, ErrClosed):
			return "closed"
		case errors.Is(err, context.Canceled):
			return "canceled"
		case errors.Is(err, ErrPanicked) && errors.As(err, &pe) && pe.Value == errPanicNow:
			return "panicked"
		case errors.As(err, &f):
			return err.Error()
		}
		return "unexpected: " + err.Error()
	}

	check := func(op string) {
		t.Helper()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for c := range running {
			if c != m.runner {
				t.Fatalf("seed %d, after %s: caller %d is running fn, the model says %d", seed, op, c, m.runner)
			}
		}
		if m.runner >= 0 && !running[m.runner] {
			t.Fatalf("seed %d, after %s: caller %d should be running fn", seed, op, m.runner)
		}
		for c := range ran {
			if !m.ran[c] {
				t.Fatalf("seed %d, after %s: caller %d's fn ran, the model says not", seed, op, c)
			}
		}
		for c, want := range m.result {
			if got, ok := result[c]; !ok || got != want {
				t.Fatalf("seed %d, after %s: caller %d returned %q (%v), want %q", seed, op, c, got, ok, want)
			}
		}
		for c, got := range result {
			if _, ok := m.result[c]; !ok {
				t.Fatalf("seed %d, after %s: caller %d returned %q, the model says it still waits", seed, op, c, got)
			}
		}
		if diff := g.check(m); diff != "" {
			t.Fatalf("seed %d, after %s: %s", seed, op, diff)
		}
	}

	next := 0
	closeAt := -1
	if rng.IntN(3) == 0 {
		closeAt = rng.IntN(60)
	}
	for step := 0; step < 60; step++ {
		switch r := rng.IntN(10); {
		case step == closeAt:
			g.close()
			m.close()
			check("close")
		case r < 5: // a new call
			c := next
			next++
			mode := Mode(1 + rng.IntN(3))
			ctx, cancel := context.WithCancel(context.Background())
			cancels[c] = cancel
			rel := make(chan error, 1)
			release[c] = rel
			fn := func(ctx context.Context) error {
				mu.Lock()
				running[c], ran[c] = true, true
				mu.Unlock()
				defer func() {
					mu.Lock()
					delete(running, c)
					mu.Unlock()
				}()
				select {
				case err := <-rel:
					if err == errPanicNow {
						panic(err)
					}
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			go func() {
				res := "panic"
				defer func() {
					if v := recover(); v != nil && v != errPanicNow {
						res = fmt.Sprintf("panic %v", v)
					}
					mu.Lock()
					result[c] = res
					mu.Unlock()
				}()
				res = name(g.do(ctx, mode, fn))
			}()
			m.call(c, mode)
			check(fmt.Sprintf("call %d %v", c, mode))
		case r < 8 && m.runner >= 0: // the run returns, or panics
			var err error
			switch rng.IntN(5) {
			case 0:
				err = errPanicNow
			case 1, 2:
				err = failure(fmt.Sprintf("run by %d failed", m.runner))
			}
			release[m.runner] <- err
			if err == errPanicNow {
				m.panicked++
				m.finish("panic", "panicked")
			} else {
				m.finish(name(err), name(err))
			}
			check(fmt.Sprintf("run returns %v", err))
		case next > 0: // some caller's ctx ends
			c := rng.IntN(next)
			cancels[c]()
			m.cancel(c)
			check(fmt.Sprintf("cancel %d", c))
		}
	}
	for _, cancel := range cancels {
		cancel()
	}
	synctest.Wait()
}

type failure string

func (f failure) Error() string { return string(f) }
