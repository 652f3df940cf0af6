package pool

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// With CancelOnError, a Go call blocked when the first error is recorded
// must return the context's error and its task must never run, even if
// another worker looks for work between the error being recorded and the
// context being cancelled (the worker cancels outside the group's lock).
func TestCancelOnErrorBlockedGoNotAdmittedBeforeCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("a")
		p := New(context.Background(), 2, CancelOnError(), QueueSize(0))
		b := newBlocker()
		p.Go(b.task(0))
		p.Go(b.task(1))
		var ran atomic.Bool
		goErr := make(chan error, 1)
		go func() {
			goErr <- p.Go(func(context.Context) error { ran.Store(true); return nil })
		}()
		synctest.Wait()
		testHookBeforeCancel = func() {
			// Task 0 has failed and its worker is about to cancel: the
			// other worker finishes its task now and looks for the next.
			b.finish(1, nil)
			synctest.Wait()
		}
		defer func() { testHookBeforeCancel = nil }()
		b.finish(0, errA)
		err := <-goErr
		if werr := p.Wait(); werr != errA {
			t.Fatalf("Wait returned %v, want %v", werr, errA)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Go blocked at the first error returned %v, want context.Canceled", err)
		}
		if ran.Load() {
			t.Fatal("a task whose Go was blocked at the first error ran")
		}
	})
}

// A limit the semaphore cannot hold is bad input to pool.New: the panic
// names pool, not the sem it is built on.
func TestNewLimitTooLargePanicsWithPoolMessage(t *testing.T) {
	defer func() {
		r := recover()
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, "pool: ") {
			t.Fatalf("New(ctx, MaxInt) panicked with %v, want a message starting with \"pool: \"", r)
		}
	}()
	New(context.Background(), math.MaxInt)
}
