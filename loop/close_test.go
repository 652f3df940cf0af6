package loop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

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
		Offload(ctx, l, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			workErr <- ctx.Err()
			return 0, ctx.Err()
		}, func(*counter, int, error) { thenRan.Store(true) })
		Offload(ctx, l, func(ctx context.Context) (int, error) {
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
		if st := l.Stats(); st.Waiting != 2 || st.OffloadInUse != 1 || st.OffloadQueued != 1 {
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
			Offload(ctx, l, func(context.Context) (int, error) { return 0, nil }, func(*counter, int, error) {}),
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
		if st := l.Stats(); !st.Closed || st.InUse != 0 || st.OffloadInUse != 0 || st.OffloadQueued != 0 {
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

// Close fails at once a Do whose handler is queued behind a handler that
// is still running: the caller does not wait for the loop to get to it.
func TestCloseFailsQueuedDoAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		g := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { g.Pass(ctx) })
		g.WaitEntered(ctx, 1)
		var ran atomic.Bool
		doErr := make(chan error, 1)
		go func() { doErr <- l.Do(ctx, func(*counter) { ran.Store(true) }) }()
		synctest.Wait() // the Do is queued behind the running handler
		l.Close()
		synctest.Wait()
		select {
		case err := <-doErr:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("queued Do after Close = %v, want ErrClosed", err)
			}
		default:
			t.Error("Close did not fail a queued Do at once: it still waits for the running handler")
		}
		g.Open()
		closeAndWait(t, l)
		if ran.Load() {
			t.Fatal("the queued Do's handler ran after Close")
		}
	})
}

// An offloaded work that was waiting for a worker when Close was called
// never runs, even when the running work returns (its ctx cancelled by
// Close) and its worker goes back for more before Close has finished.
func TestCloseDropsQueuedWorkBeforeCancellingRunningWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithWorkers(1))
		started := make(chan struct{})
		Offload(ctx, l, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		}, func(*counter, int, error) {})
		<-started
		var secondRan atomic.Bool
		Offload(ctx, l, func(ctx context.Context) (int, error) {
			secondRan.Store(true)
			return 0, nil
		}, func(*counter, int, error) {})
		// Inside Close, once running work has been cancelled, let every
		// goroutine run: the worker finishes the first work and looks for
		// the next.
		l.testHookCancelled = synctest.Wait
		l.Close()
		closeAndWait(t, l)
		if secondRan.Load() {
			t.Fatal("an offloaded work queued before Close ran after Close")
		}
	})
}

// A caller waiting for room when Close is called gets ErrClosed, even
// when Close itself frees room: the cancel ends a running work, and the
// work queued behind it, dropped unstarted, gives its room back.
func TestCloseFreesNoRoomForWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(2), WithWorkers(1))
		started := make(chan struct{})
		Offload(ctx, l, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		}, func(*counter, int, error) {})
		<-started
		Offload(ctx, l, func(context.Context) (int, error) { return 0, nil }, func(*counter, int, error) {})
		posted := make(chan error, 1)
		go func() { posted <- l.Post(ctx, func(*counter) { t.Error("a Post waiting at Close ran") }) }()
		synctest.Wait()
		if st := l.Stats(); st.Waiting != 1 || st.Reserved != 2 {
			t.Fatalf("Stats before Close = %+v", st)
		}
		// Inside Close, once running work has been cancelled, let every
		// goroutine run: the works end and give their rooms back.
		l.testHookCancelled = synctest.Wait
		l.Close()
		if err := <-posted; !errors.Is(err, ErrClosed) {
			t.Fatalf("Post waiting for room at Close: %v, want ErrClosed", err)
		}
		closeAndWait(t, l)
	})
}
