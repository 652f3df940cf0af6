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
)

// The model: what a Guard must do, written as plainly as possible. The
// real Guard is driven through the same random operations (a call in a
// random mode, the run returning, a caller's ctx ending), one at a time,
// with synctest.Wait between them so every goroutine has settled; then
// both are compared: who is running fn, what each call returned, Stats.
type guardModel struct {
	runner                 int   // caller running fn, -1 if idle
	joiners                []int // waiting for the current run's result
	cands                  []int // waiting for the trailing run, oldest first
	pending                bool
	result                 map[int]string // what each finished call returned
	ran                    map[int]bool   // callers whose fn ran
	runs, rejected, shared int64
}

func (m *guardModel) call(c int, mode Mode) {
	switch {
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
}

func (m *guardModel) finish(res string) {
	m.result[m.runner] = res
	for _, j := range m.joiners {
		m.result[j] = res
		m.shared++
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
		m.finish("canceled")
	case slices.Contains(m.joiners, c):
		m.joiners = slices.DeleteFunc(m.joiners, func(x int) bool { return x == c })
		m.result[c] = "canceled"
	case slices.Contains(m.cands, c):
		m.cands = slices.DeleteFunc(m.cands, func(x int) bool { return x == c })
		m.result[c] = "canceled"
		m.pending = len(m.cands) > 0
	}
}

func TestModel(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	for seed := range seeds {
		synctest.Test(t, func(t *testing.T) { runGuardModel(t, uint64(seed)) })
		if t.Failed() {
			t.Fatalf("failed with seed %d", seed)
		}
	}
}

func runGuardModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x70a1))
	m := &guardModel{runner: -1, result: map[int]string{}, ran: map[int]bool{}}
	var g Guard

	var mu sync.Mutex
	running := map[int]bool{} // fn executing now
	ran := map[int]bool{}
	result := map[int]string{}
	release := map[int]chan error{}
	cancels := map[int]context.CancelFunc{}
	name := func(err error) string {
		var f failure
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, ErrRunning):
			return "running"
		case errors.Is(err, context.Canceled):
			return "canceled"
		case errors.As(err, &f):
			return err.Error()
		}
		return "unexpected: " + err.Error()
	}

	check := func(op string) {
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
		want := Stats{
			Running:  m.runner >= 0,
			Pending:  m.pending,
			Waiting:  len(m.joiners) + len(m.cands),
			Runs:     m.runs,
			Rejected: m.rejected,
			Shared:   m.shared,
		}
		if st := g.Stats(); st != want {
			t.Fatalf("seed %d, after %s: stats %+v, want %+v", seed, op, st, want)
		}
	}

	next := 0
	for step := 0; step < 60; step++ {
		switch r := rng.IntN(10); {
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
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			go func() {
				err := g.Do(ctx, mode, fn)
				mu.Lock()
				result[c] = name(err)
				mu.Unlock()
			}()
			m.call(c, mode)
			check(fmt.Sprintf("call %d %v", c, mode))
		case r < 8 && m.runner >= 0: // the run returns
			var err error
			if rng.IntN(2) == 0 {
				err = failure(fmt.Sprintf("run by %d failed", m.runner))
			}
			release[m.runner] <- err
			m.finish(name(err))
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
