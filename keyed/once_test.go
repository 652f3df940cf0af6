package keyed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/sluice-go/sluice/conctest"
)

var errSetup = errors.New("setup failed")

func TestOnceRemembersSuccessNotFailure(t *testing.T) {
	var o Once[string]
	ctx := context.Background()
	runs := 0
	ok := func(context.Context) error { runs++; return nil }
	fail := func(context.Context) error { runs++; return errSetup }

	if err := o.Do(ctx, "bad", fail); !errors.Is(err, errSetup) {
		t.Fatalf("Do = %v", err)
	}
	if o.Len() != 0 {
		t.Fatal("a failed key left an entry")
	}
	if err := o.Do(ctx, "bad", ok); err != nil || runs != 2 {
		t.Fatalf("after a failure Do = %v, runs = %d: fn must run again", err, runs)
	}
	if err := o.Do(ctx, "bad", fail); err != nil || runs != 2 {
		t.Fatalf("after a success Do = %v, runs = %d: fn must not run", err, runs)
	}
	if o.Len() != 1 {
		t.Fatalf("Len = %d, want 1 remembered success", o.Len())
	}
	o.Forget("bad")
	o.Forget("never seen") // no-op
	if o.Len() != 0 {
		t.Fatal("Forget left the entry")
	}
	if err := o.Do(ctx, "bad", fail); !errors.Is(err, errSetup) || runs != 3 {
		t.Fatalf("after Forget Do = %v, runs = %d: fn must run again", err, runs)
	}
	st := o.Stats()
	if st != (OnceStats{Admitted: 4, Runs: 3, Hits: 1}) {
		t.Fatalf("Stats = %+v", st)
	}
}

// blocker is an fn that blocks until the test releases it with a result,
// and counts how many runs for its key are in progress at once.
type blocker struct {
	entered chan struct{}
	result  chan error
	tr      *conctest.Tracker
}

func newBlocker(tr *conctest.Tracker) *blocker {
	return &blocker{entered: make(chan struct{}, 16), result: make(chan error), tr: tr}
}

func (b *blocker) fn(ctx context.Context) error {
	defer b.tr.Enter()()
	b.entered <- struct{}{}
	select {
	case err := <-b.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestOnceWaitersShareTheResult(t *testing.T) {
	for _, want := range []error{nil, errSetup} {
		t.Run(fmt.Sprint(want), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var o Once[string]
				var tr conctest.Tracker
				b := newBlocker(&tr)
				bg := context.Background()
				first := start(func() error { return o.Do(bg, "peer", b.fn) })
				<-b.entered
				var others []*call
				for range 5 {
					others = append(others, start(func() error { return o.Do(bg, "peer", b.fn) }))
				}
				synctest.Wait()
				if st := o.Stats(); st.Waiting != 5 || st.Running != 1 {
					t.Fatalf("Stats = %+v", st)
				}
				b.result <- want
				for _, c := range append(others, first) {
					if err := c.wait(); !errors.Is(err, want) {
						t.Fatalf("got %v, want %v", err, want)
					}
				}
				if tr.Total() != 1 {
					t.Fatalf("fn ran %d times, want 1", tr.Total())
				}
				st := o.Stats()
				if st.Shared != 5 || st.Waiting != 0 || st.Running != 0 {
					t.Fatalf("Stats = %+v", st)
				}
				if wantLen := map[bool]int{true: 1, false: 0}[want == nil]; o.Len() != wantLen {
					t.Fatalf("Len = %d, want %d", o.Len(), wantLen)
				}
			})
		})
	}
}

// Seed 001, flaw 2: the seed deleted a peer's lock on disconnect while a
// setup held it, and a reconnect made a new lock and ran a second setup
// beside the first. Forget never does that: the reconnect waits for the
// running setup, then runs its own.
func TestOnceForgetDuringRunNeverRunsTwoAtOnce(t *testing.T) {
	for _, firstResult := range []error{nil, errSetup} {
		t.Run(fmt.Sprint(firstResult), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var o Once[string]
				var tr conctest.Tracker
				b := newBlocker(&tr)
				bg := context.Background()
				setup1 := start(func() error { return o.Do(bg, "peer", b.fn) })
				<-b.entered
				joined := start(func() error { return o.Do(bg, "peer", b.fn) }) // before the disconnect
				synctest.Wait()
				o.Forget("peer") // disconnect while setup1 runs
				if o.Len() != 1 {
					t.Fatal("Forget removed a running setup")
				}
				reconnect := start(func() error { return o.Do(bg, "peer", b.fn) })
				synctest.Wait()
				if reconnect.returned() || tr.Current() != 1 {
					t.Fatalf("reconnect did not wait for the running setup (in fn: %d)", tr.Current())
				}
				b.result <- firstResult
				if err := setup1.wait(); !errors.Is(err, firstResult) {
					t.Fatal(err)
				}
				if err := joined.wait(); !errors.Is(err, firstResult) {
					t.Fatalf("caller that joined before Forget got %v, want the run's %v", err, firstResult)
				}
				<-b.entered // the reconnect runs its own setup, after the first
				b.result <- nil
				if err := reconnect.wait(); err != nil {
					t.Fatal(err)
				}
				if tr.Max() != 1 || tr.Total() != 2 {
					t.Fatalf("setups: max %d at once, %d in all; want 1 and 2", tr.Max(), tr.Total())
				}
				if err := o.Do(bg, "peer", b.fn); err != nil || tr.Total() != 2 {
					t.Fatal("the reconnect's success was not remembered")
				}
				o.Forget("peer")
				if o.Len() != 0 {
					t.Fatal("entry left behind")
				}
			})
		})
	}
}

// A success of a run that Forget made stale is not remembered.
func TestOnceStaleSuccessNotRemembered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		var tr conctest.Tracker
		b := newBlocker(&tr)
		bg := context.Background()
		c := start(func() error { return o.Do(bg, "peer", b.fn) })
		<-b.entered
		o.Forget("peer")
		b.result <- nil
		if err := c.wait(); err != nil {
			t.Fatal(err)
		}
		if o.Len() != 0 {
			t.Fatal("a stale success was remembered")
		}
		c = start(func() error { return o.Do(bg, "peer", b.fn) })
		<-b.entered
		b.result <- nil
		if err := c.wait(); err != nil || tr.Total() != 2 {
			t.Fatalf("fn ran %d times, want 2", tr.Total())
		}
	})
}

// The caller running fn gives up: its ctx error is its own. The oldest
// waiter runs fn next, with its own ctx, and the others share that run.
func TestOnceRunnerCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		var tr conctest.Tracker
		b := newBlocker(&tr)
		bg := context.Background()
		ctxA, cancelA := context.WithCancel(bg)
		a := start(func() error { return o.Do(ctxA, "peer", b.fn) })
		<-b.entered
		w1 := start(func() error { return o.Do(bg, "peer", b.fn) })
		synctest.Wait()
		w2 := start(func() error { return o.Do(bg, "peer", b.fn) })
		synctest.Wait()
		cancelA()
		if err := a.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("runner got %v", err)
		}
		<-b.entered // w1 runs fn now
		synctest.Wait()
		if w1.returned() || w2.returned() {
			t.Fatal("a waiter inherited the runner's cancellation")
		}
		b.result <- nil
		if w1.wait() != nil || w2.wait() != nil {
			t.Fatal("waiters failed")
		}
		if tr.Total() != 2 || tr.Max() != 1 {
			t.Fatalf("fn ran %d times, %d at most at once", tr.Total(), tr.Max())
		}
		if st := o.Stats(); st.Shared != 1 || st.Done != 1 || st.Runs != 2 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

func TestOnceWaiterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		var tr conctest.Tracker
		b := newBlocker(&tr)
		bg := context.Background()
		a := start(func() error { return o.Do(bg, "peer", b.fn) })
		<-b.entered
		ctx, cancel := context.WithCancel(bg)
		w := start(func() error { return o.Do(ctx, "peer", b.fn) })
		other := start(func() error { return o.Do(bg, "peer", b.fn) })
		synctest.Wait()
		cancel()
		if err := w.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("waiter got %v", err)
		}
		if st := o.Stats(); st.Waiting != 1 || st.Cancelled != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		b.result <- errSetup
		if a.wait() != errSetup || other.wait() != errSetup {
			t.Fatal("run and remaining waiter should share errSetup")
		}
		if o.Len() != 0 {
			t.Fatal("failed key left an entry")
		}
	})
}

// A waiter is handed the run at the moment it gives up: it must pass the
// run on, and the next waiter runs fn.
func TestOnceGiveUpWhenHandedTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		var tr conctest.Tracker
		b := newBlocker(&tr)
		bg := context.Background()
		a := start(func() error { return o.Do(bg, "peer", b.fn) })
		<-b.entered
		o.Forget("peer") // so the waiters below need a run of their own
		ctx, cancel := context.WithCancel(bg)
		w := start(func() error { return o.Do(ctx, "peer", b.fn) })
		synctest.Wait()
		next := start(func() error { return o.Do(bg, "peer", b.fn) })
		synctest.Wait()

		inHook, release := make(chan struct{}), make(chan struct{})
		testHookGiveUp = func() { close(inHook); <-release }
		defer func() { testHookGiveUp = nil }()
		cancel()
		<-inHook
		b.result <- nil // a's run ends; w, the oldest, is handed the next run
		if err := a.wait(); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := w.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("w got %v", err)
		}
		<-b.entered // next runs fn
		b.result <- nil
		if err := next.wait(); err != nil {
			t.Fatal(err)
		}
		if tr.Total() != 2 || tr.Max() != 1 {
			t.Fatalf("fn ran %d times, %d at most at once", tr.Total(), tr.Max())
		}
		// w returned ctx.Err(): it gave up, and Stats counts it.
		if st := o.Stats(); st.Runs != 2 || st.Done != 1 || st.Waiting != 0 || st.Cancelled != 1 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// The result reaches a waiter at the moment it gives up: it returns the
// result.
func TestOnceGiveUpWhenResultArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		var tr conctest.Tracker
		b := newBlocker(&tr)
		bg := context.Background()
		a := start(func() error { return o.Do(bg, "peer", b.fn) })
		<-b.entered
		ctx, cancel := context.WithCancel(bg)
		w := start(func() error { return o.Do(ctx, "peer", b.fn) })
		synctest.Wait()
		inHook, release := make(chan struct{}), make(chan struct{})
		testHookGiveUp = func() { close(inHook); <-release }
		defer func() { testHookGiveUp = nil }()
		cancel()
		<-inHook
		b.result <- errSetup
		if err := a.wait(); err != errSetup {
			t.Fatal(err)
		}
		close(release)
		if err := w.wait(); err != errSetup {
			t.Fatalf("w got %v, want the run's result", err)
		}
	})
}

func TestOncePanicInFn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		bg := context.Background()
		entered, boom := make(chan struct{}), make(chan struct{})
		panicky := func(context.Context) error {
			close(entered)
			<-boom
			panic("boom")
		}
		var recovered any
		a := start(func() (err error) {
			defer func() { recovered = recover() }()
			return o.Do(bg, "peer", panicky)
		})
		<-entered
		w := start(func() error { return o.Do(bg, "peer", panicky) })
		synctest.Wait()
		close(boom)
		_ = a.wait()
		if recovered != "boom" {
			t.Fatalf("the panic did not reach the runner: %v", recovered)
		}
		if err := w.wait(); !errors.Is(err, ErrAborted) {
			t.Fatalf("waiter got %v, want ErrAborted", err)
		}
		if o.Len() != 0 {
			t.Fatal("an aborted run left an entry")
		}
		if err := o.Do(bg, "peer", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOnceBadInputAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		bg := context.Background()
		ok := func(context.Context) error { return nil }
		conctest.MustPanic(t, func() { _ = o.Do(nilCtx(), "k", ok) }, "keyed:", "Once.Do", "nil Context")
		conctest.MustPanic(t, func() { _ = o.Do(bg, "k", nil) }, "keyed:", "Once.Do", "nil fn")
		done, cancel := context.WithCancel(bg)
		cancel()
		if err := o.Do(done, "k", ok); !errors.Is(err, context.Canceled) {
			t.Fatalf("Do with a done ctx = %v", err)
		}
		if err := o.Do(bg, "remembered", ok); err != nil {
			t.Fatal(err)
		}
		var tr conctest.Tracker
		b := newBlocker(&tr)
		runner := start(func() error { return o.Do(bg, "k", b.fn) })
		<-b.entered
		w := start(func() error { return o.Do(bg, "k", b.fn) })
		synctest.Wait()
		o.Close()
		if err := w.wait(); !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter got %v, want ErrClosed", err)
		}
		if err := o.Do(bg, "remembered", ok); !errors.Is(err, ErrClosed) {
			t.Fatalf("Do after Close = %v", err)
		}
		b.result <- nil // the run in progress goes on to its end
		if err := runner.wait(); err != nil {
			t.Fatal(err)
		}
		if st := o.Stats(); !st.Closed || st.Running != 0 || st.Waiting != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		o.Forget("k")
		o.Forget("remembered")
		if o.Len() != 0 {
			t.Fatal("entries left after Forget")
		}
	})
}

// Memory: failures leave nothing, successes stay until Forget.
func TestOnceMemory(t *testing.T) {
	const n = 100_000
	var o Once[int]
	bg := context.Background()
	for k := range n {
		_ = o.Do(bg, k, func(context.Context) error { return errSetup })
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d after %d failures", o.Len(), n)
	}
	for k := range n {
		_ = o.Do(bg, k, func(context.Context) error { return nil })
	}
	if o.Len() != n {
		t.Fatalf("Len = %d, want %d remembered", o.Len(), n)
	}
	for k := range n {
		o.Forget(k)
	}
	if st := o.Stats(); st.Keys != 0 || st.Done != 0 {
		t.Fatalf("after Forget: %+v", st)
	}
}

// Dial, inbound and disconnect paths racing over a few peers: never two
// runs of fn for a peer at once, and Forget leaves nothing behind.
func TestOnceStress(t *testing.T) {
	const peers = 4
	workers, rounds := 8, 1500
	if testing.Short() {
		rounds = 300
	}
	var o Once[int]
	var inside [peers]atomic.Int32
	var runs atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for range rounds {
				p := rng.IntN(peers)
				if rng.IntN(4) == 0 {
					o.Forget(p)
					continue
				}
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(8) == 0 {
					cancel()
				}
				fail := rng.IntN(3) == 0
				_ = o.Do(ctx, p, func(context.Context) error {
					if inside[p].Add(1) != 1 {
						t.Errorf("peer %d: two setups at once", p)
					}
					runs.Add(1)
					inside[p].Add(-1)
					if fail {
						return errSetup
					}
					return nil
				})
				cancel()
			}
		}()
	}
	wg.Wait()
	for p := range peers {
		o.Forget(p)
	}
	st := o.Stats()
	if st.Keys != 0 || st.Waiting != 0 || st.Running != 0 || st.Runs != runs.Load() {
		t.Fatalf("after the run: %+v (fn ran %d times)", st, runs.Load())
	}
}
