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

func TestTrailingRunPassesToNextWaiter(t *testing.T) {
	// The oldest waiter for the trailing run leaves just as the current run
	// finishes: whether it leaves before or after being chosen, the next
	// oldest starts the run.
	for i := range 40 {
		synctest.Test(t, func(t *testing.T) {
			var g Guard
			first := newHeld()
			go g.Do(context.Background(), Again, first.fn)
			<-first.entered
			ctx, cancel := context.WithCancel(context.Background())
			left := make(chan error, 1)
			go func() { left <- g.Do(ctx, Again, never(t)) }()
			synctest.Wait()
			second := newHeld()
			res := make(chan error, 1)
			go func() { res <- g.Do(context.Background(), Again, second.fn) }()
			synctest.Wait()
			if i%2 == 0 {
				cancel()
				first.release <- nil
			} else {
				first.release <- nil
				cancel()
			}
			if err := <-left; !errors.Is(err, context.Canceled) {
				t.Fatalf("leaver got %v", err)
			}
			<-second.entered
			second.release <- nil
			if err := <-res; err != nil {
				t.Fatal(err)
			}
			if st := g.Stats(); st.Runs != 2 || st.Running || st.Waiting != 0 {
				t.Fatalf("stats: %+v", st)
			}
		})
	}
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

func TestBadInput(t *testing.T) {
	var g Guard
	var k Keyed[string]
	bg := context.Background()
	ok := func(context.Context) error { return nil }
	for name, f := range map[string]func(){
		"nil ctx":         func() { g.Do(nil, Reject, ok) }, //nolint:staticcheck
		"nil fn":          func() { g.Do(bg, Reject, nil) },
		"zero mode":       func() { g.Do(bg, 0, ok) },
		"bad mode":        func() { g.Do(bg, Mode(9), ok) },
		"keyed nil ctx":   func() { k.Do(nil, "a", Reject, ok) }, //nolint:staticcheck
		"keyed nil fn":    func() { k.Do(bg, "a", Reject, nil) },
		"keyed zero mode": func() { k.Do(bg, "a", 0, ok) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "run: ") {
					t.Errorf("%s: panic %v, want a message starting with \"run: \"", name, r)
				}
			}()
			f()
		}()
	}
	if st := k.Stats(); st.Keys != 0 {
		t.Fatalf("bad calls left keys behind: %+v", st)
	}
	if !strings.HasPrefix(ErrRunning.Error(), "run: ") || Again.String() != "Again" || Mode(7).String() != "Mode(7)" {
		t.Fatal("names")
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
