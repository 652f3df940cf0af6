package run

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// held is a run that blocks until the test releases it with a result.
type held struct {
	entered chan struct{}
	release chan error
}

func newHeld() *held { return &held{entered: make(chan struct{}), release: make(chan error, 1)} }

func (h *held) fn(ctx context.Context) error {
	close(h.entered)
	select {
	case err := <-h.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func never(t *testing.T) func(context.Context) error {
	return func(context.Context) error {
		t.Error("this call's fn ran; it should have shared another call's run")
		return nil
	}
}

func TestRejectWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		h := newHeld()
		res := make(chan error, 1)
		go func() { res <- g.Do(context.Background(), Reject, h.fn) }()
		<-h.entered
		for range 2 {
			if err := g.Do(context.Background(), Reject, never(t)); !errors.Is(err, ErrRunning) {
				t.Fatalf("second trigger: %v, want ErrRunning", err)
			}
		}
		if st := g.Stats(); !st.Running || st.Rejected != 2 || st.Runs != 1 {
			t.Fatalf("stats: %+v", st)
		}
		errA := errors.New("a")
		h.release <- errA
		if err := <-res; err != errA {
			t.Fatalf("runner got %v", err)
		}
		// Idle again: the next trigger runs.
		ran := false
		if err := g.Do(context.Background(), Reject, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
			t.Fatalf("after the run: err %v, ran %v", err, ran)
		}
	})
}

func TestJoinSharesTheResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		h := newHeld()
		res := make(chan error, 4)
		go func() { res <- g.Do(context.Background(), Join, h.fn) }()
		<-h.entered
		for range 3 {
			go func() { res <- g.Do(context.Background(), Join, never(t)) }()
		}
		// One joiner gives up: it returns its ctx error; the run goes on.
		ctx, cancel := context.WithCancel(context.Background())
		left := make(chan error, 1)
		go func() { left <- g.Do(ctx, Join, never(t)) }()
		synctest.Wait()
		if st := g.Stats(); st.Waiting != 4 {
			t.Fatalf("stats: %+v", st)
		}
		cancel()
		if err := <-left; !errors.Is(err, context.Canceled) {
			t.Fatalf("leaving joiner: %v", err)
		}
		errA := errors.New("a")
		h.release <- errA
		for range 4 {
			if err := <-res; err != errA {
				t.Fatalf("got %v, want the run's result", err)
			}
		}
		if st := g.Stats(); st.Running || st.Waiting != 0 || st.Runs != 1 || st.Shared != 3 {
			t.Fatalf("stats: %+v", st)
		}
	})
}

func TestAgainCoalescesIntoOneTrailingRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		first := newHeld()
		res0 := make(chan error, 1)
		go func() { res0 <- g.Do(context.Background(), Again, first.fn) }()
		<-first.entered

		// Five calls arrive during the run. The oldest will start the
		// trailing run with its fn; the others share it.
		trailing := newHeld()
		res := make(chan error, 5)
		go func() { res <- g.Do(context.Background(), Again, trailing.fn) }()
		synctest.Wait()
		for range 4 {
			go func() { res <- g.Do(context.Background(), Again, never(t)) }()
		}
		synctest.Wait()
		if st := g.Stats(); !st.Pending || st.Waiting != 5 {
			t.Fatalf("stats: %+v", st)
		}
		first.release <- nil
		if err := <-res0; err != nil {
			t.Fatal(err)
		}
		<-trailing.entered // the trailing run started after all five began
		// A Join now shares the trailing run; a new Again wants another.
		joined := make(chan error, 1)
		go func() { joined <- g.Do(context.Background(), Join, never(t)) }()
		synctest.Wait()
		errB := errors.New("b")
		trailing.release <- errB
		for range 5 {
			if err := <-res; err != errB {
				t.Fatalf("got %v, want the trailing run's result", err)
			}
		}
		if err := <-joined; err != errB {
			t.Fatalf("joiner got %v", err)
		}
		if st := g.Stats(); st.Runs != 2 || st.Shared != 5 || st.Running || st.Pending {
			t.Fatalf("stats: %+v", st)
		}
	})
}

func TestAgainWhenIdleRunsAtOnce(t *testing.T) {
	var g Guard
	n := 0
	for range 3 {
		if err := g.Do(context.Background(), Again, func(context.Context) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != 3 {
		t.Fatalf("%d runs, want 3", n)
	}
}

// trailingSetup is a run in progress (first) and two calls waiting, in
// Again mode, for the trailing run: the oldest (the leaver, on ctx, with
// fn leaverFn) and the next (on a live context, with second.fn).
type trailingSetup struct {
	g         Guard
	first     *held
	res0      chan error // first's result
	left, res chan error // the leaver's and the second waiter's results
	second    *held
}

func newTrailingSetup(t *testing.T, ctx context.Context, leaverFn func(context.Context) error) *trailingSetup {
	s := &trailingSetup{
		first: newHeld(), second: newHeld(),
		res0: make(chan error, 1), left: make(chan error, 1), res: make(chan error, 1),
	}
	go func() { s.res0 <- s.g.Do(context.Background(), Again, s.first.fn) }()
	<-s.first.entered
	go func() { s.left <- s.g.Do(ctx, Again, leaverFn) }()
	synctest.Wait() // the leaver is the oldest waiter
	go func() { s.res <- s.g.Do(context.Background(), Again, s.second.fn) }()
	synctest.Wait()
	if st := s.g.Stats(); !st.Pending || st.Waiting != 2 {
		t.Fatalf("setup: %+v", st)
	}
	return s
}

// secondRuns checks that the second waiter started the trailing run with
// its own fn, and that the guard ends with two runs and nobody waiting.
func (s *trailingSetup) secondRuns(t *testing.T) {
	t.Helper()
	<-s.second.entered
	if err := <-s.res0; err != nil {
		t.Fatalf("first run: %v", err)
	}
	s.second.release <- nil
	if err := <-s.res; err != nil {
		t.Fatalf("second waiter got %v, want its own run's nil", err)
	}
	if st := s.g.Stats(); st.Runs != 2 || st.Shared != 0 || st.Running || st.Pending || st.Waiting != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// lazyCancelCtx is a context that, once armed, is cancelled by the first
// call to its Err method: it ends exactly between a waiter being handed
// the trailing run and the waiter checking its ctx before starting it.
type lazyCancelCtx struct {
	context.Context
	cancel context.CancelFunc
	armed  atomic.Bool
}

func (c *lazyCancelCtx) Err() error {
	if c.armed.Load() {
		c.cancel()
	}
	return c.Context.Err()
}

// The oldest waiter for the trailing run leaves around the moment the
// current run finishes. Each order is made to happen on purpose, and each
// has its own outcome.
func TestTrailingRunPassesToNextWaiter(t *testing.T) {
	t.Run("cancel before release", func(t *testing.T) {
		// The leaver is gone before the run finishes: it is never chosen,
		// and the next oldest starts the trailing run.
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			s := newTrailingSetup(t, ctx, never(t))
			cancel()
			if err := <-s.left; !errors.Is(err, context.Canceled) {
				t.Fatalf("leaver got %v", err)
			}
			if st := s.g.Stats(); !st.Pending || st.Waiting != 1 {
				t.Fatalf("after the leaver left: %+v", st)
			}
			s.first.release <- nil
			s.secondRuns(t)
		})
	})
	t.Run("release before cancel", func(t *testing.T) {
		// The run finishes while the leaver still waits: the leaver, the
		// oldest, starts the trailing run with its fn and ctx. Its ctx
		// ending then stops that run, and the second waiter, which shared
		// it, gets the run's error although its own ctx is live (see the
		// package doc); its fn never runs.
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			leaverRun := newHeld()
			s := newTrailingSetup(t, ctx, leaverRun.fn)
			s.first.release <- nil
			<-leaverRun.entered
			if err := <-s.res0; err != nil {
				t.Fatalf("first run: %v", err)
			}
			synctest.Wait()
			if st := s.g.Stats(); !st.Running || st.Pending || st.Runs != 2 || st.Waiting != 1 {
				t.Fatalf("with the leaver's run in progress: %+v", st)
			}
			cancel()
			if err := <-s.left; !errors.Is(err, context.Canceled) {
				t.Fatalf("leaver got %v, want its run's context.Canceled", err)
			}
			if err := <-s.res; !errors.Is(err, context.Canceled) {
				t.Fatalf("second waiter got %v, want the leaver's run's context.Canceled", err)
			}
			select {
			case <-s.second.entered:
				t.Fatal("the second waiter's fn ran; it should have shared the leaver's run")
			default:
			}
			if st := s.g.Stats(); st.Runs != 2 || st.Shared != 1 || st.Running || st.Waiting != 0 {
				t.Fatalf("stats: %+v", st)
			}
		})
	})
	t.Run("cancel after being chosen", func(t *testing.T) {
		// The leaver is handed the trailing run, and its ctx ends before
		// it starts it: it hands the run on to the next oldest.
		synctest.Test(t, func(t *testing.T) {
			inner, cancel := context.WithCancel(context.Background())
			ctx := &lazyCancelCtx{Context: inner, cancel: cancel}
			s := newTrailingSetup(t, ctx, never(t))
			ctx.armed.Store(true)
			s.first.release <- nil
			if err := <-s.left; !errors.Is(err, context.Canceled) {
				t.Fatalf("leaver got %v", err)
			}
			s.secondRuns(t)
		})
	})
	t.Run("chosen while leaving", func(t *testing.T) {
		// The leaver has seen its ctx end and, before it takes the guard's
		// lock, is handed the trailing run: it hands it on to the next
		// oldest.
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			s := newTrailingSetup(t, ctx, never(t))
			testHookLeaving = func() {
				// The first run finishes now and hands the trailing run
				// to the leaver: its Do has returned once that is done.
				s.first.release <- nil
				err := <-s.res0
				s.res0 <- err // for secondRuns
			}
			defer func() { testHookLeaving = nil }()
			cancel()
			if err := <-s.left; !errors.Is(err, context.Canceled) {
				t.Fatalf("leaver got %v", err)
			}
			s.secondRuns(t)
		})
	})
}

func TestTrailingRunDroppedWhenEveryoneLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		first := newHeld()
		res0 := make(chan error, 1)
		go func() { res0 <- g.Do(context.Background(), Again, first.fn) }()
		<-first.entered
		ctx, cancel := context.WithCancel(context.Background())
		left := make(chan error, 2)
		for range 2 {
			go func() { left <- g.Do(ctx, Again, never(t)) }()
		}
		synctest.Wait()
		cancel()
		for range 2 {
			if err := <-left; !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
		}
		if st := g.Stats(); st.Pending {
			t.Fatalf("trailing run still pending with nobody waiting: %+v", st)
		}
		first.release <- nil
		<-res0
		if st := g.Stats(); st.Running || st.Runs != 1 {
			t.Fatalf("stats: %+v", st)
		}
	})
}

func TestStarterCancelledWhileJoinersWait(t *testing.T) {
	// Documented: the run gets its starter's ctx; when that ends, the run
	// stops and the joiners get its error although their ctx is live.
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		ctx, cancel := context.WithCancel(context.Background())
		h := newHeld()
		res0 := make(chan error, 1)
		go func() { res0 <- g.Do(ctx, Join, h.fn) }()
		<-h.entered
		joined := make(chan error, 1)
		go func() { joined <- g.Do(context.Background(), Join, never(t)) }()
		synctest.Wait()
		cancel()
		if err := <-res0; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if err := <-joined; !errors.Is(err, context.Canceled) {
			t.Fatalf("joiner got %v, want the run's context.Canceled", err)
		}
	})
}

func TestPanicFreesTheGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		entered := make(chan struct{})
		release := make(chan struct{})
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			g.Do(context.Background(), Join, func(context.Context) error {
				close(entered)
				<-release
				panic("boom")
			})
		}()
		<-entered
		joined := make(chan error, 1)
		go func() { joined <- g.Do(context.Background(), Join, never(t)) }()
		synctest.Wait()
		close(release)
		if v := <-panicked; v != "boom" {
			t.Fatalf("runner's panic: %v", v)
		}
		if err := <-joined; !errors.Is(err, ErrPanicked) || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("joiner got %v", err)
		}
		if err := g.Do(context.Background(), Reject, func(context.Context) error { return nil }); err != nil {
			t.Fatalf("guard not free after a panic: %v", err)
		}
	})
}

// TestBadInput calls every exported function and method with each nil
// (or otherwise invalid) argument, and checks that it panics with a
// message that starts with "run: " and names the mistake.
func TestBadInput(t *testing.T) {
	var g Guard
	var k Keyed[string]
	var nilGuard *Guard
	var nilKeyed *Keyed[string]
	bg := context.Background()
	ok := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"Do nil ctx", "run: Do with nil Context", func() { g.Do(nil, Reject, ok) }}, //nolint:staticcheck
		{"Do nil fn", "run: Do with nil func", func() { g.Do(bg, Reject, nil) }},
		{"Do zero mode", "run: Do with invalid Mode(0)", func() { g.Do(bg, 0, ok) }},
		{"Do bad mode", "run: Do with invalid Mode(9)", func() { g.Do(bg, Mode(9), ok) }},
		{"Do on nil Guard", "run: Do on nil *Guard", func() { nilGuard.Do(bg, Reject, ok) }},
		{"Stats on nil Guard", "run: Stats on nil *Guard", func() { nilGuard.Stats() }},
		{"Keyed.Do nil ctx", "run: Keyed.Do with nil Context", func() { k.Do(nil, "a", Reject, ok) }}, //nolint:staticcheck
		{"Keyed.Do nil fn", "run: Keyed.Do with nil func", func() { k.Do(bg, "a", Reject, nil) }},
		{"Keyed.Do zero mode", "run: Keyed.Do with invalid Mode(0)", func() { k.Do(bg, "a", 0, ok) }},
		{"Keyed.Do on nil Keyed", "run: Keyed.Do on nil *Keyed", func() { nilKeyed.Do(bg, "a", Reject, ok) }},
		{"Keyed.Stats on nil Keyed", "run: Keyed.Stats on nil *Keyed", func() { nilKeyed.Stats() }},
		{"Close on nil Guard", "run: Close on nil *Guard", func() { nilGuard.Close() }},
		{"Keyed.Close on nil Keyed", "run: Keyed.Close on nil *Keyed", func() { nilKeyed.Close() }},
		{"Keyed.Do bad mode", "run: Keyed.Do with invalid Mode(-1)", func() { k.Do(bg, "a", Mode(-1), ok) }},
		{"OnWait nil fn", "run: OnWait with nil func", func() { g.OnWait(nil) }},
		{"OnWait on nil Guard", "run: OnWait on nil *Guard", func() { nilGuard.OnWait(func(time.Duration) {}) }},
		{"Keyed.OnWait nil fn", "run: Keyed.OnWait with nil func", func() { k.OnWait(nil) }},
		{"Keyed.OnWait on nil Keyed", "run: Keyed.OnWait on nil *Keyed", func() { nilKeyed.OnWait(func(time.Duration) {}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, ok := r.(string); !ok || !strings.HasPrefix(msg, tc.want) {
					t.Errorf("panic %#v, want a message starting with %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
	// The checks come first: bad calls leave nothing behind.
	if st := k.Stats(); st.Keys != 0 {
		t.Fatalf("bad calls left keys behind: %+v", st)
	}
	if st := g.Stats(); st != (Stats{}) {
		t.Fatalf("bad calls changed the guard: %+v", st)
	}
	if !strings.HasPrefix(ErrRunning.Error(), "run: ") || !strings.HasPrefix(ErrPanicked.Error(), "run: ") {
		t.Fatal("errors do not name the package")
	}
	if Again.String() != "Again" || Mode(7).String() != "Mode(7)" {
		t.Fatal("mode names")
	}
}

func TestKeyed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var k Keyed[string]
		ha, hb := newHeld(), newHeld()
		resA, resB := make(chan error, 1), make(chan error, 1)
		go func() { resA <- k.Do(context.Background(), "a", Reject, ha.fn) }()
		go func() { resB <- k.Do(context.Background(), "b", Reject, hb.fn) }()
		<-ha.entered
		<-hb.entered // different keys run at once
		if err := k.Do(context.Background(), "a", Reject, never(t)); !errors.Is(err, ErrRunning) {
			t.Fatalf("same key: %v", err)
		}
		if st := k.Stats(); st.Keys != 2 || st.Running != 2 || st.Runs != 2 || st.Rejected != 1 {
			t.Fatalf("stats: %+v", st)
		}
		ha.release <- nil
		hb.release <- nil
		<-resA
		<-resB
		if st := k.Stats(); st.Keys != 0 || st.Running != 0 || st.Runs != 2 || st.Rejected != 1 {
			t.Fatalf("entries not freed or counters lost: %+v", st)
		}
	})
}

// runResult is what the stress test's runs return, so that each caller
// can tell which run it got.
type runResult struct{ id, startSeq int64 }

func (r *runResult) Error() string { return fmt.Sprintf("run %d", r.id) }

// TestStress drives a Guard (and a Keyed) from many goroutines in random
// modes, with random cancellations, and checks: one run at a time; an
// Again call's result comes from a run that started after the call began;
// a Reject call either ran itself or got ErrRunning.
func TestStress(t *testing.T) {
	iters := 300
	if testing.Short() {
		iters = 100
	}
	var g Guard
	var k Keyed[int]
	var seq, runIDs atomic.Int64
	var trs [4]conctest.Tracker // per key of k; [3] for g
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range iters {
				mode := Mode(1 + rng.IntN(3))
				key := rng.IntN(3)
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(8) == 0 {
					cancel()
				}
				began := seq.Add(1)
				var ranHere atomic.Bool
				tr := &trs[key]
				if w%2 == 0 {
					tr = &trs[3]
				}
				fn := func(ctx context.Context) error {
					defer tr.Enter()()
					ranHere.Store(true)
					r := &runResult{id: runIDs.Add(1), startSeq: seq.Add(1)}
					for range rng.IntN(3) {
						runtime.Gosched()
					}
					return r
				}
				var err error
				if w%2 == 0 {
					err = g.Do(ctx, mode, fn)
				} else {
					err = k.Do(ctx, key, mode, fn)
				}
				cancel()
				var rr *runResult
				switch {
				case errors.As(err, &rr):
					if mode == Again && rr.startSeq < began {
						t.Errorf("Again call (began %d) got run %d, which started at %d", began, rr.id, rr.startSeq)
					}
					if mode == Reject && !ranHere.Load() {
						t.Errorf("Reject call got another call's run")
					}
				case errors.Is(err, ErrRunning):
					if mode != Reject {
						t.Errorf("%v call got ErrRunning", mode)
					}
				case errors.Is(err, context.Canceled):
				default:
					t.Errorf("unexpected result %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for key := range trs {
		if trs[key].Max() > 1 {
			t.Fatalf("tracker %d: %d runs at once", key, trs[key].Max())
		}
	}
	if st := k.Stats(); st.Keys != 0 || st.Waiting != 0 {
		t.Fatalf("keyed after: %+v", st)
	}
	if st := g.Stats(); st.Running || st.Pending || st.Waiting != 0 {
		t.Fatalf("guard after: %+v", st)
	}
}
