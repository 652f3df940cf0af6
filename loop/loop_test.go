package loop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", want)
		}
		msg := fmt.Sprint(r)
		if pe, ok := r.(*PanicError); ok {
			msg = fmt.Sprint(pe.Value)
		}
		if !strings.HasPrefix(msg, "loop: ") || !strings.Contains(msg, want) {
			t.Fatalf("panic %q, want one starting with \"loop: \" and containing %q", msg, want)
		}
	}()
	fn()
}

// closeAndWait closes l and waits for it, failing t if it does not end.
func closeAndWait[S any](t *testing.T, l *Loop[S]) {
	t.Helper()
	l.Close()
	// A liveness bound, generous: outside a bubble it is real time on a
	// loaded machine; inside one the fake clock makes it exact.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v\n%s", err, conctest.Stacks())
	}
}

// newLoop is New with a silent watchdog (tests block the loop on purpose);
// a WithSlowHook among opts wins.
func newLoop[S any](state S, opts ...Option) *Loop[S] {
	return New(state, append([]Option{WithSlowHook(func(Slow) {})}, opts...)...)
}

type counter struct {
	n   int
	log []int
}

func TestBadInput(t *testing.T) {
	mustPanic(t, "WithWorkers(0): worker count must be positive", func() { WithWorkers(0) })
	mustPanic(t, "WithWorkers(-2)", func() { WithWorkers(-2) })
	mustPanic(t, "WithQueueSize(0): size must be positive", func() { WithQueueSize(0) })
	mustPanic(t, "WithSlowThreshold(0s): threshold must be positive", func() { WithSlowThreshold(0) })
	mustPanic(t, "WithSlowThreshold(-1s)", func() { WithSlowThreshold(-time.Second) })
	mustPanic(t, "WithSlowHook(nil)", func() { WithSlowHook(nil) })
	mustPanic(t, "nil Option", func() { newLoop(0, nil) })

	synctest.Test(t, func(t *testing.T) {
		l := newLoop(counter{})
		defer closeAndWait(t, l)
		ctx := context.Background()
		mustPanic(t, "Do with nil function", func() { l.Do(ctx, nil) })
		mustPanic(t, "Do with nil Context", func() { l.Do(nil, func(*counter) {}) }) //nolint:staticcheck
		mustPanic(t, "DoNamed with nil function", func() { l.DoNamed(ctx, "x", nil) })
		mustPanic(t, "Post with nil function", func() { l.Post(ctx, nil) })
		mustPanic(t, "PostNamed with nil Context", func() { l.PostNamed(nil, "x", func(*counter) {}) }) //nolint:staticcheck
		mustPanic(t, "TryPost with nil function", func() { l.TryPost(nil) })
		mustPanic(t, "Wait with nil Context", func() { l.Wait(nil) }) //nolint:staticcheck
		work := func(context.Context) (int, error) { return 1, nil }
		then := func(*counter, int, error) {}
		mustPanic(t, "Offload with nil work function", func() { Offload[counter, int](l, ctx, nil, then) })
		mustPanic(t, "Offload with nil then function", func() { Offload(l, ctx, work, nil) })
		mustPanic(t, "Offload with nil Context", func() { Offload(l, nil, work, then) }) //nolint:staticcheck
		mustPanic(t, "Offload with nil Loop", func() { Offload(nil, ctx, work, then) })
	})
}

// Handlers from many goroutines run one at a time and see every earlier
// handler's effect; the race detector checks that the state is never
// touched from two goroutines at once.
func TestDoSerial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(counter{})
		ctx := context.Background()
		var tr conctest.Tracker
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					err := l.Do(ctx, func(s *counter) {
						defer tr.Enter()()
						s.n++
					})
					if err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		var n int
		l.Do(ctx, func(s *counter) { n = s.n })
		if n != 800 || tr.Max() != 1 {
			t.Fatalf("n = %d (want 800), most at once = %d (want 1)", n, tr.Max())
		}
		if st := l.Stats(); st.Handled != 801 || st.Running || st.Queued != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		closeAndWait(t, l)
	})
}

func TestPostFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(counter{}, WithQueueSize(4))
		ctx := context.Background()
		for i := range 50 {
			if err := l.Post(ctx, func(s *counter) { s.log = append(s.log, i) }); err != nil {
				t.Fatal(err)
			}
		}
		var got []int
		l.Do(ctx, func(s *counter) { got = append(got, s.log...) })
		for i, v := range got {
			if v != i {
				t.Fatalf("order %v", got)
			}
		}
		if len(got) != 50 {
			t.Fatalf("ran %d of 50", len(got))
		}
		closeAndWait(t, l)
	})
}

// A flood of posts waits for room, or fails clearly, and never grows the
// queue past its size.
func TestPostBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(2))
		g := conctest.NewTurnstile()
		// The running handler holds one room, the queued one the other.
		l.Post(ctx, func(*counter) { g.Pass(ctx) })
		g.WaitEntered(ctx, 1)
		if err := l.Post(ctx, func(s *counter) { s.n++ }); err != nil {
			t.Fatal(err)
		}
		if err := l.TryPost(func(s *counter) { s.n++ }); !errors.Is(err, ErrFull) {
			t.Fatalf("TryPost when full: %v", err)
		}
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := l.Post(tctx, func(s *counter) { s.n++ }); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Post when full past its deadline: %v", err)
		}
		posted := make(chan error, 1)
		go func() { posted <- l.Post(ctx, func(s *counter) { s.n += 10 }) }()
		synctest.Wait()
		st := l.Stats()
		if st.Waiting != 1 || st.Queued != 1 || !st.Running || st.QueueSize != 2 {
			t.Fatalf("Stats while full = %+v", st)
		}
		g.Open()
		if err := <-posted; err != nil {
			t.Fatal(err)
		}
		var n int
		l.Do(ctx, func(s *counter) { n = s.n })
		if n != 11 {
			t.Fatalf("n = %d, want 11 (the timed-out post must not run)", n)
		}
		closeAndWait(t, l)
	})
}

// From a handler, nothing waits for the loop itself: Post and Offload
// fail with ErrFull when the queue is full, Do panics at once.
func TestNoSelfWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(2))
		var postErr, tryErr, offErr, roomErr error
		err := l.Do(ctx, func(s *counter) {
			roomErr = l.Post(ctx, func(s *counter) { s.n++ }) // the last room
			postErr = l.Post(ctx, func(s *counter) { s.n++ })
			tryErr = l.TryPost(func(s *counter) { s.n++ })
			offErr = Offload(l, ctx, func(context.Context) (int, error) { return 1, nil },
				func(s *counter, v int, _ error) { s.n += v })
		})
		if err != nil || roomErr != nil {
			t.Fatalf("Do: %v, first Post: %v", err, roomErr)
		}
		for _, e := range []error{postErr, tryErr, offErr} {
			if !errors.Is(e, ErrFull) {
				t.Fatalf("from a handler on a full loop: %v, want ErrFull", e)
			}
		}
		mustPanic(t, "Do called from a handler of the same loop", func() {
			l.Do(ctx, func(*counter) { l.Do(ctx, func(*counter) {}) })
		})
		var n int
		l.Do(ctx, func(s *counter) { n = s.n })
		if n != 1 {
			t.Fatalf("n = %d, want 1", n)
		}
		closeAndWait(t, l)
	})
}

func TestDoCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		g := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { g.Pass(ctx) })
		g.WaitEntered(ctx, 1)

		// Queued behind the blocked handler: gives up, and never runs.
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := l.Do(tctx, func(s *counter) { s.n = -1 }); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Do past its deadline: %v", err)
		}
		// Already done: fails at once.
		if err := l.Do(tctx, func(s *counter) { s.n = -1 }); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Do with a done ctx: %v", err)
		}
		g.Open()

		// Started before the deadline: Do waits for it and reports success.
		g2 := conctest.NewTurnstile()
		tctx2, cancel2 := context.WithTimeout(ctx, time.Second)
		defer cancel2()
		ran := make(chan error, 1)
		go func() { ran <- l.Do(tctx2, func(s *counter) { g2.Pass(ctx); s.n++ }) }()
		g2.WaitEntered(ctx, 1)
		<-tctx2.Done()
		synctest.Wait()
		if len(ran) != 0 {
			t.Fatal("Do returned while its handler was running")
		}
		g2.Open()
		if err := <-ran; err != nil {
			t.Fatalf("Do whose handler started: %v", err)
		}
		var n int
		l.Do(ctx, func(s *counter) { n = s.n })
		if n != 1 {
			t.Fatalf("n = %d, want 1 (a cancelled handler ran)", n)
		}
		closeAndWait(t, l)
	})
}

func TestDoPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		boom := errors.New("boom")
		func() {
			defer func() {
				pe, ok := recover().(*PanicError)
				if !ok || !errors.Is(pe, boom) || !strings.Contains(string(pe.Stack), "TestDoPanic") {
					t.Fatalf("recovered %#v, want *PanicError wrapping boom with the handler's stack", pe)
				}
			}()
			l.Do(ctx, func(*counter) { panic(boom) })
		}()
		// The loop goes on.
		if err := l.Do(ctx, func(s *counter) { s.n++ }); err != nil {
			t.Fatal(err)
		}
		closeAndWait(t, l)
	})
}

type scores struct {
	got   map[int]int
	errs  int
	order []int
}

func TestOffload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const workers = 3
		l := newLoop(scores{got: map[int]int{}}, WithWorkers(workers), WithQueueSize(64))
		g := conctest.NewTurnstile()
		var tr conctest.Tracker
		bad := errors.New("bad")
		var delivered sync.WaitGroup
		// Offload from handlers: the loop stays free while work blocks.
		for i := range 10 {
			delivered.Add(1)
			err := l.Do(ctx, func(s *scores) {
				err := Offload(l, ctx, func(ctx context.Context) (int, error) {
					defer tr.Enter()()
					if err := g.Pass(ctx); err != nil {
						return 0, err
					}
					if i == 7 {
						return 0, bad
					}
					return i * i, nil
				}, func(s *scores, v int, err error) {
					defer delivered.Done()
					s.order = append(s.order, i)
					if err != nil {
						s.errs++
						return
					}
					s.got[i] = v
				})
				if err != nil {
					t.Error(err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		g.WaitBlocked(ctx, workers)
		synctest.Wait()
		st := l.Stats()
		if st.Offloading != workers || st.OffloadQueued != 10-workers || st.Reserved != 10 || st.Workers != workers {
			t.Fatalf("Stats with work blocked = %+v", st)
		}
		// The loop answers while every worker is blocked.
		if err := l.Do(ctx, func(*scores) {}); err != nil {
			t.Fatal(err)
		}
		// Admitted works start in FIFO order: release one at a time.
		for range 10 {
			g.Release(1)
			synctest.Wait()
		}
		delivered.Wait()
		var got map[int]int
		var errs int
		var order []int
		l.Do(ctx, func(s *scores) { got, errs, order = s.got, s.errs, s.order })
		if len(got) != 9 || got[3] != 9 || errs != 1 {
			t.Fatalf("scores %v, errors %d", got, errs)
		}
		// The first `workers` works started together; every later one
		// started, in FIFO order, as a worker came free.
		first := slices.Clone(order[:workers])
		slices.Sort(first)
		for i, v := range append(first, order[workers:]...) {
			if v != i {
				t.Fatalf("results in order %v, want FIFO after the first %d", order, workers)
			}
		}
		if tr.Max() != workers {
			t.Fatalf("at most %d works at once, want %d", tr.Max(), workers)
		}
		if st := l.Stats(); st.Offloading != 0 || st.Reserved != 0 || st.OffloadQueued != 0 {
			t.Fatalf("Stats at rest = %+v", st)
		}
		closeAndWait(t, l)
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(3), WithWorkers(1))
		g := conctest.NewTurnstile()
		// A running handler (finishes), a queued Do (ErrClosed), an
		// offloaded work running (ctx cancelled, result dropped), one
		// waiting for a worker (never runs), and a Post waiting for room.
		l.Post(ctx, func(*counter) { g.Pass(ctx) })
		g.WaitEntered(ctx, 1)
		workErr := make(chan error, 1)
		var thenRan, secondRan atomic.Bool
		Offload(l, ctx, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			workErr <- ctx.Err()
			return 0, ctx.Err()
		}, func(*counter, int, error) { thenRan.Store(true) })
		Offload(l, ctx, func(ctx context.Context) (int, error) {
			secondRan.Store(true)
			return 0, nil
		}, func(*counter, int, error) { thenRan.Store(true) })
		// The queue (3) is now full: the running handler and two results.
		doErr := make(chan error, 1)
		var doRan atomic.Bool
		go func() { doErr <- l.Do(ctx, func(*counter) { doRan.Store(true) }) }()
		postErr := make(chan error, 1)
		go func() { postErr <- l.Post(ctx, func(*counter) { doRan.Store(true) }) }()
		synctest.Wait()
		if st := l.Stats(); st.Waiting != 2 || st.Offloading != 1 || st.OffloadQueued != 1 {
			t.Fatalf("Stats before Close = %+v", st)
		}

		l.Close()
		l.Close()
		if err := <-doErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("waiting Do: %v", err)
		}
		if err := <-postErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("waiting Post: %v", err)
		}
		if err := <-workErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("offloaded work's ctx: %v", err)
		}
		for _, err := range []error{
			l.Do(ctx, func(*counter) {}),
			l.Post(ctx, func(*counter) {}),
			l.TryPost(func(*counter) {}),
			Offload(l, ctx, func(context.Context) (int, error) { return 0, nil }, func(*counter, int, error) {}),
		} {
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("call after Close: %v", err)
			}
		}
		// The running handler still holds the loop: Wait waits for it.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := l.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait with a handler running: %v", err)
		}
		g.Open()
		closeAndWait(t, l)
		if doRan.Load() || thenRan.Load() || secondRan.Load() {
			t.Fatalf("ran after Close: queued %v, then %v, queued work %v", doRan.Load(), thenRan.Load(), secondRan.Load())
		}
		if st := l.Stats(); !st.Closed || st.Running || st.Offloading != 0 || st.OffloadQueued != 0 {
			t.Fatalf("Stats at the end = %+v", st)
		}
	})
}

// A Do queued behind a handler that calls Close gets ErrClosed.
func TestCloseFromHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		g := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { g.Pass(ctx); l.Close() })
		g.WaitEntered(ctx, 1)
		got := make(chan error, 1)
		go func() { got <- l.Do(ctx, func(*counter) {}) }()
		synctest.Wait()
		g.Open()
		if err := <-got; !errors.Is(err, ErrClosed) {
			t.Fatalf("Do queued behind Close: %v", err)
		}
		closeAndWait(t, l)
	})
}

func TestWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reports := make(chan Slow, 10)
		l := newLoop(counter{}, WithSlowThreshold(100*time.Millisecond), WithSlowHook(func(s Slow) { reports <- s }))

		// Fast handlers are not reported, however many.
		for range 1000 {
			l.Do(ctx, func(s *counter) { s.n++ })
		}
		// A handler that blocks the loop: reported at 100 ms, again at 200.
		g := conctest.NewTurnstile()
		done := make(chan error, 1)
		go func() { done <- l.DoNamed(ctx, "fetchScores", func(*counter) { blockingCall(ctx, g) }) }()
		r := <-reports
		if r.Name != "fetchScores" || r.Running != 100*time.Millisecond || r.Report != 1 {
			t.Fatalf("first report = %+v", r)
		}
		if !strings.Contains(r.Stack, "loop.blockingCall") || !strings.Contains(r.Stack, "conctest.(*Turnstile).Pass") {
			t.Fatalf("report's stack does not show the blocking call:\n%s", r.Stack)
		}
		r = <-reports
		if r.Running != 200*time.Millisecond || r.Report != 2 {
			t.Fatalf("second report = %+v", r)
		}
		g.Open()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Unnamed handlers are named by their function and position.
		g2 := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { blockingCall(ctx, g2) })
		r = <-reports
		if !strings.Contains(r.Name, "loop.TestWatchdog.func") || !strings.Contains(r.Name, "loop_test.go:") {
			t.Fatalf("unnamed handler reported as %q", r.Name)
		}
		g2.Open()
		// An Offload result is named after its then function.
		Offload(l, ctx, func(context.Context) (int, error) { return 1, nil }, slowThen(g2))
		g3 := conctest.NewTurnstile()
		Offload(l, ctx, func(context.Context) (int, error) { return 1, nil }, slowThen(g3))
		r = <-reports
		if !strings.Contains(r.Name, "slowThen") {
			t.Fatalf("Offload result reported as %q", r.Name)
		}
		g3.Open()
		synctest.Wait()

		// Idle and then busy with fast handlers again: silence.
		idle := time.NewTimer(time.Second)
		<-idle.C
		for range 100 {
			l.Do(ctx, func(s *counter) { s.n++ })
		}
		idle.Reset(time.Second)
		<-idle.C
		if len(reports) != 0 {
			t.Fatalf("unexpected report %+v", <-reports)
		}
		if got := l.Stats().SlowReports; got != 4 {
			t.Fatalf("SlowReports = %d, want 4", got)
		}
		closeAndWait(t, l)
	})
}

//go:noinline
func blockingCall(ctx context.Context, g *conctest.Turnstile) { g.Pass(ctx) }

func slowThen(g *conctest.Turnstile) func(*counter, int, error) {
	return func(*counter, int, error) { g.Pass(context.Background()) }
}

// A handler still slow during Close is still reported, and Wait waits.
func TestWatchdogDuringClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reports := make(chan Slow, 10)
		l := newLoop(counter{}, WithSlowThreshold(time.Second), WithSlowHook(func(s Slow) { reports <- s }))
		g := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { g.Pass(ctx) })
		g.WaitEntered(ctx, 1)
		l.Close()
		r := <-reports
		if r.Running != time.Second {
			t.Fatalf("report = %+v", r)
		}
		g.Open()
		closeAndWait(t, l)
	})
}

// Stress: Do, Post, TryPost and Offload from many goroutines at once, then
// Close in the middle of it. Every call either ran its handler exactly
// once or failed; nothing is left behind.
func TestStress(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		l := newLoop(counter{}, WithQueueSize(8), WithWorkers(4))
		ctx := context.Background()
		var ok, ran atomic.Int64
		var tr conctest.Tracker
		var wg sync.WaitGroup
		inc := func(s *counter) {
			defer tr.Enter()()
			s.n++
			ran.Add(1)
		}
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					var err error
					switch (g + i) % 4 {
					case 0:
						err = l.Do(ctx, inc)
					case 1:
						err = l.Post(ctx, inc)
					case 2:
						if err = l.TryPost(inc); errors.Is(err, ErrFull) {
							continue
						}
					case 3:
						err = Offload(l, ctx, func(context.Context) (int, error) { return 1, nil },
							func(s *counter, _ int, _ error) { inc(s) })
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("call: %v", err)
						return
					}
					ok.Add(1)
				}
			}()
		}
		// Close after some work, from outside or from a handler.
		conctest.WaitFor(t, time.Minute, "some handlers ran", func() bool { return ran.Load() > int64(20+50*round) })
		if round%2 == 0 {
			l.Close()
		} else {
			l.Post(ctx, func(*counter) { l.Close() })
			l.Close()
		}
		conctest.NoDeadlock(t, time.Minute, "callers return after Close", wg.Wait)
		closeAndWait(t, l)
		if tr.Max() != 1 {
			t.Fatalf("round %d: %d handlers at once", round, tr.Max())
		}
		if ran.Load() > ok.Load() {
			t.Fatalf("round %d: %d handlers ran for %d accepted calls", round, ran.Load(), ok.Load())
		}
	}
}

// A handler that calls runtime.Goexit (t.FailNow, say) ends the loop
// goroutine: the loop closes instead of leaving callers waiting.
func TestGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		g := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { g.Pass(ctx) })
		g.WaitEntered(ctx, 1)
		queued := make(chan error, 1)
		go func() {
			defer func() {
				pe, ok := recover().(*PanicError)
				if !ok || !errors.Is(pe, errGoexit) {
					queued <- fmt.Errorf("recovered %v, want a PanicError for Goexit", pe)
					return
				}
				queued <- nil
			}()
			l.Do(ctx, func(*counter) { runtime.Goexit() })
			queued <- errors.New("Do returned")
		}()
		behind := make(chan error, 1)
		synctest.Wait()
		go func() { behind <- l.Do(ctx, func(*counter) {}) }()
		synctest.Wait()
		g.Open()
		if err := <-queued; err != nil {
			t.Fatal(err)
		}
		if err := <-behind; !errors.Is(err, ErrClosed) {
			t.Fatalf("Do queued behind the Goexit: %v", err)
		}
		closeAndWait(t, l)
		if err := l.Post(ctx, func(*counter) {}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Post after: %v", err)
		}
	})
}

// A Post handler's panic ends the program (nobody waits to receive it),
// with the handler's frame in the trace, rather than hang the loop.
func TestPostPanicCrashes(t *testing.T) {
	if os.Getenv("LOOP_POST_PANIC") == "1" {
		l := New(counter{})
		l.Post(context.Background(), func(*counter) { postPanics() })
		l.Wait(context.Background()) // never returns: the panic ends the process
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPostPanicCrashes$")
	cmd.Env = append(os.Environ(), "LOOP_POST_PANIC=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the process survived a Post handler's panic:\n%s", out)
	}
	if !strings.Contains(string(out), "panic: boom") || !strings.Contains(string(out), "loop.postPanics") {
		t.Fatalf("crash output lacks the panic or its frame:\n%s", out)
	}
}

//go:noinline
func postPanics() { panic("boom") }

// Offloaded work that calls runtime.Goexit takes its worker with it; the
// room it held comes back and the works behind it still run.
func TestOffloadGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithWorkers(1))
		g := conctest.NewTurnstile()
		var thenRan atomic.Int32
		Offload(l, ctx, func(ctx context.Context) (int, error) {
			g.Pass(ctx)
			runtime.Goexit()
			return 0, nil
		}, func(*counter, int, error) { thenRan.Add(100) })
		delivered := make(chan struct{})
		Offload(l, ctx, func(context.Context) (int, error) { return 1, nil },
			func(_ *counter, v int, _ error) { thenRan.Add(int32(v)); close(delivered) })
		g.WaitEntered(ctx, 1)
		g.Open()
		<-delivered
		synctest.Wait()
		if got := thenRan.Load(); got != 1 {
			t.Fatalf("then results = %d, want only the second (1)", got)
		}
		if st := l.Stats(); st.Reserved != 0 || st.Offloading != 0 || st.OffloadQueued != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		closeAndWait(t, l)
	})
}
