package loop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/internal/panics"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

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
		if st := l.Stats(); st.Handled != 801 || st.InUse != 0 || st.Queued != 0 {
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
		if st.Waiting != 1 || st.Queued != 1 || st.InUse != 1 || st.Capacity != 2 {
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
			offErr = Offload(ctx, l, func(context.Context) (int, error) { return 1, nil },
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
		conctest.MustPanic(t, func() {
			l.Do(ctx, func(*counter) { l.Do(ctx, func(*counter) {}) })
		}, "loop: Do called from a handler of the same loop")
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
		// A named handler's panic names it; errors.As finds the one
		// PanicError every sluice package reports.
		func() {
			defer func() {
				err, _ := recover().(error)
				var pe *panics.Error
				if !errors.As(err, &pe) || pe.Op != `loop: handler "score"` || pe.Value != "bad" || pe.Goexit {
					t.Fatalf("recovered %v, want a *PanicError for handler \"score\"", err)
				}
			}()
			l.DoNamed(ctx, "score", func(*counter) { panic("bad") })
		}()
		if st := l.Stats(); st.Panicked != 2 || st.Handled != 3 {
			t.Fatalf("Stats = %+v, want 2 panicked of 3 handled", st)
		}
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
						err = Offload(ctx, l, func(context.Context) (int, error) { return 1, nil },
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
				if !ok || !pe.Goexit {
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
