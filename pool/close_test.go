package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/sem"
)

// Close fails the Go calls waiting to be admitted and every later one,
// lets the running and queued tasks finish, and does not cancel the
// group's context; Wait then returns the tasks' result.
func TestCloseFailsWaitingGoAndLetsAdmittedFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background(), 2, WithQueueSize(1))
		b := newBlocker()
		for id := range 3 { // 2 running, 1 queued
			if err := p.Go(b.task(id)); err != nil {
				t.Fatal(err)
			}
		}
		var ran atomic.Int64
		goErr := make(chan error, 2)
		for range 2 {
			go func() { goErr <- p.Go(func(context.Context) error { ran.Add(1); return nil }) }()
		}
		synctest.Wait()
		if st := p.Stats(); st.Waiting != 2 || st.InUse != 2 || st.Queued != 1 || st.Closed {
			t.Fatalf("before Close: %+v", st)
		}

		p.Close()
		for range 2 {
			if err := <-goErr; !errors.Is(err, ErrClosed) {
				t.Fatalf("Go waiting at Close returned %v, want ErrClosed", err)
			}
		}
		if st := p.Stats(); st.Waiting != 0 || st.InUse != 2 || st.Queued != 1 || !st.Closed || st.Done {
			t.Fatalf("after Close: %+v", st)
		}
		if err := p.Go(nop); !errors.Is(err, ErrClosed) {
			t.Fatalf("Go after Close returned %v, want ErrClosed", err)
		}
		if p.TryGo(nop) {
			t.Fatal("TryGo after Close admitted")
		}
		if err := p.Context().Err(); err != nil {
			t.Fatalf("Close cancelled the group's context: %v", err)
		}
		p.Close() // idempotent

		for id := range 3 {
			b.finish(id, nil)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := b.startedIDs(); len(got) != 3 || got[2] != 2 { // 0 and 1 in either order, then the queued 2
			t.Fatalf("started %v, want every admitted task", got)
		}
		if ran.Load() != 0 {
			t.Fatalf("%d tasks ran whose Go returned ErrClosed", ran.Load())
		}
		// Once closed, ErrClosed even after Wait (not ErrDone).
		if err := p.Go(nop); !errors.Is(err, ErrClosed) {
			t.Fatalf("Go after Close and Wait returned %v, want ErrClosed", err)
		}
		if st := p.Stats(); !st.Done || !st.Closed || st.Completed != 3 {
			t.Fatalf("at the end: %+v", st)
		}
		p.Close()
	})
}

// Wait waiting while Close is called returns only once the admitted tasks
// are done, with their result; Close adds no error of its own.
func TestCloseDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("a")
		p := New(context.Background(), 1, WithQueueSize(0))
		b := newBlocker()
		if err := p.Go(b.task(0)); err != nil {
			t.Fatal(err)
		}
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(nop) }()
		waitErr := make(chan error, 1)
		go func() { waitErr <- p.Wait() }()
		synctest.Wait()

		p.Close()
		if err := <-goErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Go returned %v, want ErrClosed", err)
		}
		synctest.Wait()
		select {
		case err := <-waitErr:
			t.Fatalf("Wait returned %v while a task still ran", err)
		default:
		}
		b.finish(0, errA)
		if err := <-waitErr; err != errA {
			t.Fatalf("Wait returned %v, want the task's error", err)
		}
	})
}

// With Shared, Close takes the group's Go calls out of the semaphore's
// FIFO (the waiters behind them move up) and leaves the semaphore, and
// the other groups on it, alone.
func TestCloseSharedGoWaitingOnSemaphore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := sem.New(1)
		if err := s.Acquire(ctx, 1); err != nil { // held by someone else
			t.Fatal(err)
		}
		p := Shared(ctx, s)
		other := Shared(ctx, s)
		var ran atomic.Bool
		pErr := make(chan error, 1)
		go func() { pErr <- p.Go(func(context.Context) error { ran.Store(true); return nil }) }()
		synctest.Wait()
		otherErr := make(chan error, 1)
		bo := newBlocker()
		go func() { otherErr <- other.Go(bo.task(0)) }()
		synctest.Wait()
		if st := s.Stats(); st.Waiting != 2 {
			t.Fatalf("semaphore before Close: %+v", st)
		}
		if st := p.Stats(); st.Waiting != 1 || st.InUse != 0 {
			t.Fatalf("group before Close: %+v", st)
		}

		p.Close()
		if err := <-pErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("Go waiting on the semaphore returned %v, want ErrClosed", err)
		}
		if st := s.Stats(); st.Waiting != 1 || st.InUse != 1 || st.Closed {
			t.Fatalf("semaphore after Close: %+v, want the other group's waiter only, and open", st)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}

		s.Release(1) // the other group's Go gets the slot
		if err := <-otherErr; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := bo.startedIDs(); len(got) != 1 {
			t.Fatalf("other group started %v", got)
		}
		bo.finish(0, nil)
		if err := other.Wait(); err != nil {
			t.Fatal(err)
		}
		if ran.Load() {
			t.Fatal("the closed group's task ran")
		}
		if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
			t.Fatalf("semaphore at the end: %+v", st)
		}
	})
}

// A blocked Go call that the group's last worker handed to the shared
// semaphore (so that a waiter there gets in) is waiting on the semaphore
// for its own slot: Close fails it there too.
func TestCloseGoHandedToSemaphore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := sem.New(2)
		p := Shared(ctx, s, WithQueueSize(0))
		b := newBlocker()
		for id := range 2 {
			if err := p.Go(b.task(id)); err != nil {
				t.Fatal(err)
			}
		}
		var ran atomic.Bool
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(func(context.Context) error { ran.Store(true); return nil }) }()
		synctest.Wait()
		big := make(chan error, 1)
		go func() { big <- s.Acquire(ctx, 2) }()
		synctest.Wait()

		// Both tasks end: the first worker yields its slot, the last hands
		// the blocked Go to the semaphore (behind big) and yields too.
		b.finish(0, nil)
		b.finish(1, nil)
		if err := <-big; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := p.Stats(); st.Waiting != 1 || st.InUse != 0 {
			t.Fatalf("group with its Go on the semaphore: %+v", st)
		}

		p.Close()
		if err := <-goErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("Go handed to the semaphore returned %v, want ErrClosed", err)
		}
		s.Release(2)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if ran.Load() {
			t.Fatal("a task whose Go returned ErrClosed ran")
		}
		if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
			t.Fatalf("semaphore at the end: %+v", st)
		}
	})
}

// A task may Close its own group: the tasks admitted with it still run.
func TestCloseFromTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background(), 1, WithQueueSize(2))
		var ran atomic.Int64
		gate := make(chan struct{})
		p.Go(func(context.Context) error { <-gate; p.Close(); return nil })
		for range 2 {
			if err := p.Go(func(context.Context) error { ran.Add(1); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		close(gate)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if ran.Load() != 2 {
			t.Fatalf("%d queued tasks ran after a task closed the group, want 2", ran.Load())
		}
		if err := p.Go(nop); !errors.Is(err, ErrClosed) {
			t.Fatalf("Go returned %v, want ErrClosed", err)
		}
	})
}

// Close, Wait and Go from many goroutines at once, on groups sharing a
// semaphore: every Go that returned nil ran exactly once, every other one
// returned ErrClosed (or ErrDone, when an early Wait found the group idle
// and finished it) and never ran, every Wait returned, and the semaphore
// is empty at the end. Run under -race.
func TestCloseConcurrent(t *testing.T) {
	conctest.Runs(t, 20, func(t *testing.T, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 3))
		s := sem.New(int64(1 + rng.IntN(3)))
		var wg sync.WaitGroup
		for range 2 {
			p := Shared(context.Background(), s, WithQueueSize(rng.IntN(4)))
			var admitted, ran atomic.Int64
			closeAt := rng.IntN(200)
			var subs sync.WaitGroup
			for sub := range 3 {
				subs.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer subs.Done()
					for i := range 100 {
						if sub == 0 && i == closeAt%100 {
							p.Close()
						}
						err := p.Go(func(context.Context) error { ran.Add(1); return nil })
						switch {
						case err == nil:
							admitted.Add(1)
						case !errors.Is(err, ErrClosed) && !errors.Is(err, ErrDone):
							t.Errorf("Go returned %v, want nil, ErrClosed or ErrDone", err)
							return
						}
					}
				}()
			}
			wg.Add(3)
			go func() { defer wg.Done(); p.Close() }()
			go func() { // a Wait racing with the Go calls and the Closes
				defer wg.Done()
				if err := p.Wait(); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				subs.Wait()
				p.Close() // at the latest now, so that Wait below ends
				if err := p.Wait(); err != nil {
					t.Error(err)
				}
				if admitted.Load() != ran.Load() {
					t.Errorf("%d admitted, %d ran", admitted.Load(), ran.Load())
				}
			}()
		}
		wg.Wait()
		if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 || st.Closed {
			t.Fatalf("semaphore at the end: %+v", st)
		}
	})
}
