package pool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/sem"
)

// With WithCancelOnError, a Go call blocked when the first error is recorded
// must return the context's error and its task must never run, even if
// another worker looks for work between the error being recorded and the
// context being cancelled (the worker cancels outside the group's lock).
func TestCancelOnErrorBlockedGoNotAdmittedBeforeCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("a")
		p := New(context.Background(), 2, WithCancelOnError(), WithQueueSize(0))
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

// A group fed without pause must not keep a shared slot from a waiter
// that needs every slot: once someone waits on the semaphore, the group
// stops taking new work into its queue, and its last worker hands the
// Go calls blocked behind it to the semaphore's FIFO, behind that waiter.
func TestFedGroupDoesNotStarveLargeWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := sem.New(2)
		p := Shared(ctx, s, WithQueueSize(2))
		gate := conctest.NewTurnstile()
		task := func(ctx context.Context) error { return gate.Pass(ctx) }
		for range 4 { // 2 running, 2 queued
			if err := p.Go(task); err != nil {
				t.Fatal(err)
			}
		}
		big := make(chan error, 1)
		go func() { big <- s.Acquire(ctx, 2) }()
		synctest.Wait()

		stop := make(chan struct{})
		fed := make(chan int, 1)
		go func() { // the feeder: Go after Go, as long as it is let in
			n := 0
			defer func() { fed <- n }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := p.Go(task); err != nil {
					t.Error(err)
					return
				}
				n++
			}
		}()
		got := false
		for i := 0; i < 50 && !got; i++ {
			gate.Release(1)
			synctest.Wait()
			select {
			case err := <-big:
				if err != nil {
					t.Fatal(err)
				}
				got = true
			default:
			}
		}
		if !got {
			t.Fatal("a waiter for the whole semaphore was still blocked after 50 tasks of a fed group had run")
		}
		close(stop)
		s.Release(2)
		gate.Open()
		synctest.Wait()
		<-fed
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
			t.Fatalf("semaphore at the end: %+v", st)
		}
	})
}
