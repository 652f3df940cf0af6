package loop

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

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
		Offload(l, ctx, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		}, func(*counter, int, error) {})
		<-started
		var secondRan atomic.Bool
		Offload(l, ctx, func(ctx context.Context) (int, error) {
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

// A fetch that fails with a deadline error of its own (an HTTP client
// timeout, say) while its caller's ctx is live is a failed fetch, not an
// abandoned one: the callers that shared it get its error instead of each
// fetching again in turn.
func TestCacheSharedFetchOwnTimeoutNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		var fetches atomic.Int64
		c := NewCache(func(ctx context.Context, k int) (int, error) {
			fetches.Add(1)
			g.Pass(ctx)
			return 0, fmt.Errorf("api: %w", context.DeadlineExceeded)
		}, func(int) bool { return true })
		first := make(chan error, 1)
		go func() { _, err := c.Get(ctx, 1); first <- err }()
		g.WaitEntered(ctx, 1)
		shared := make(chan error, 1)
		go func() { _, err := c.Get(ctx, 1); shared <- err }()
		synctest.Wait() // the second Get waits for the first one's fetch
		g.Open()
		if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("fetching Get = %v", err)
		}
		if err := <-shared; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sharing Get = %v", err)
		}
		if n := fetches.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1: the sharing caller fetched again though the fetcher's ctx was live", n)
		}
	})
}

// What Offload's doc warns about: work that waits for room in its own loop
// while the queue is full of rooms held for offloaded results waits until
// its ctx ends, because its own result holds one of those rooms.
func TestOffloadWorkWaitingForOwnLoopStalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(1), WithWorkers(1))
		got := make(chan error, 1)
		Offload(l, ctx, func(context.Context) (int, error) {
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return 0, l.Do(wctx, func(*counter) {})
		}, func(_ *counter, _ int, err error) { got <- err })
		if err := <-got; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Do from offloaded work with the queue full = %v, want it stalled until its deadline", err)
		}
		closeAndWait(t, l)
	})
}
