package sem

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func TestAcquireReleaseAndStats(t *testing.T) {
	ctx := context.Background()
	s := New(5)
	if err := s.Acquire(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if !s.TryAcquire(2) {
		t.Fatal("TryAcquire(2) with 2 free failed")
	}
	if s.TryAcquire(1) {
		t.Fatal("TryAcquire(1) with 0 free succeeded")
	}
	want := Stats{Capacity: 5, InUse: 5, Admitted: 2, Rejected: 1}
	if got := s.Stats(); got != want {
		t.Fatalf("Stats = %+v; want %+v", got, want)
	}
	s.Release(4)
	s.Release(1)
	if got := s.Stats(); got != (Stats{Capacity: 5, Admitted: 2, Rejected: 1}) {
		t.Fatalf("Stats = %+v; want all free", got)
	}
	if s.Size() != 5 {
		t.Fatalf("Size = %d", s.Size())
	}
}

func TestZeroSucceedsAtOnceEvenWithWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(1)
		s.TryAcquire(1)
		go func() { _ = s.Acquire(ctx, 1); s.Release(1) }()
		synctest.Wait()
		if err := s.Acquire(ctx, 0); err != nil {
			t.Fatalf("Acquire(0) with a waiter queued: %v", err)
		}
		if !s.TryAcquire(0) {
			t.Fatal("TryAcquire(0) failed")
		}
		s.Release(0)
		s.Release(1)
		synctest.Wait()
		s.Close()
		if err := s.Acquire(ctx, 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("Acquire(0) after Close = %v; want ErrClosed", err)
		}
		if s.TryAcquire(0) {
			t.Fatal("TryAcquire(0) after Close succeeded")
		}
	})
}

func TestTooLargeFailsAtOnce(t *testing.T) {
	s := New(4)
	err := s.Acquire(context.Background(), 5)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Acquire(5) of 4 = %v; want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "5 of 4") {
		t.Fatalf("error %q does not give the figures", err)
	}
	if _, err := s.Permit(context.Background(), 5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Permit(5) of 4 = %v; want ErrTooLarge", err)
	}
	if s.TryAcquire(5) {
		t.Fatal("TryAcquire(5) of 4 succeeded")
	}
}

func TestDoneContextFailsEvenWhenFree(t *testing.T) {
	s := New(4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Acquire(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with done ctx = %v; want context.Canceled", err)
	}
	if st := s.Stats(); st.InUse != 0 {
		t.Fatalf("InUse = %d; want 0", st.InUse)
	}
}

// startWaiter starts an Acquire on its own goroutine and returns a channel
// that receives its result. The caller must synctest.Wait before relying
// on it being queued.
func startWaiter(s *Semaphore, ctx context.Context, n int64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Acquire(ctx, n) }()
	return ch
}

func pending(ch <-chan error) bool {
	select {
	case err := <-ch:
		panic("waiter finished early: " + errString(err))
	default:
		return true
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestFIFOOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(1)
		s.TryAcquire(1)
		var mu sync.Mutex
		var order []int
		for i := range 6 {
			go func() {
				if err := s.Acquire(ctx, 1); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				s.Release(1)
			}()
			synctest.Wait() // waiter i is queued before i+1 starts
		}
		if st := s.Stats(); st.Waiting != 6 {
			t.Fatalf("Waiting = %d; want 6", st.Waiting)
		}
		s.Release(1)
		synctest.Wait()
		for i, got := range order {
			if got != i {
				t.Fatalf("admission order %v; want 0..5", order)
			}
		}
		if len(order) != 6 {
			t.Fatalf("admitted %d; want 6", len(order))
		}
	})
}

// A large request at the head is not starved by small ones behind it, and
// TryAcquire does not jump the queue.
func TestLargeRequestNotStarved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(4)
		s.TryAcquire(1)
		big := startWaiter(s, ctx, 4)
		synctest.Wait()
		small := startWaiter(s, ctx, 1)
		synctest.Wait()
		if s.TryAcquire(1) {
			t.Fatal("TryAcquire jumped the queue past a waiting writer")
		}
		pending(big)
		pending(small)
		s.Release(1)
		synctest.Wait()
		if err := <-big; err != nil {
			t.Fatalf("big: %v", err)
		}
		pending(small)
		s.Release(4)
		if err := <-small; err != nil {
			t.Fatalf("small: %v", err)
		}
		s.Release(1)
	})
}

// A cancelled head that was blocking the queue lets the waiters behind it
// in at once, without any release.
func TestCancelledHeadUnblocksBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(4)
		s.TryAcquire(2)
		ctx, cancel := context.WithCancel(context.Background())
		big := startWaiter(s, ctx, 4)
		synctest.Wait()
		a := startWaiter(s, context.Background(), 1)
		synctest.Wait()
		b := startWaiter(s, context.Background(), 1)
		synctest.Wait()
		c := startWaiter(s, context.Background(), 1)
		synctest.Wait()
		pending(a)
		cancel()
		if err := <-big; !errors.Is(err, context.Canceled) {
			t.Fatalf("big = %v; want Canceled", err)
		}
		for _, ch := range []<-chan error{a, b} {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		pending(c) // 2 + 1 + 1 = 4: c still does not fit
		if st := s.Stats(); st.InUse != 4 || st.Waiting != 1 {
			t.Fatalf("Stats = %+v; want InUse 4, Waiting 1", st)
		}
		s.Release(1)
		if err := <-c; err != nil {
			t.Fatal(err)
		}
		s.Release(4)
	})
}

func TestDeadlineWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(1)
		s.TryAcquire(1)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		err := s.Acquire(ctx, 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Fatalf("waited %v; want exactly 3s", waited)
		}
		if st := s.Stats(); st.Waiting != 0 || st.InUse != 1 {
			t.Fatalf("Stats = %+v after timeout", st)
		}
		s.Release(1)
	})
}

func TestCloseFailsWaitersAndLaterCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(2)
		p, err := s.Permit(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		var waiters []<-chan error
		for range 5 {
			waiters = append(waiters, startWaiter(s, context.Background(), 1))
		}
		synctest.Wait()
		s.Close()
		for _, w := range waiters {
			if err := <-w; !errors.Is(err, ErrClosed) {
				t.Fatalf("waiter = %v; want ErrClosed", err)
			}
		}
		if err := s.Acquire(context.Background(), 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("Acquire after Close = %v", err)
		}
		if _, err := s.Permit(context.Background(), 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("Permit after Close = %v", err)
		}
		if s.TryAcquire(1) {
			t.Fatal("TryAcquire after Close succeeded")
		}
		if st := s.Stats(); !st.Closed || st.InUse != 2 || st.Waiting != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		if !p.Release() {
			t.Fatal("release after Close refused")
		}
		s.Close() // idempotent
		if st := s.Stats(); st.InUse != 0 {
			t.Fatalf("InUse = %d", st.InUse)
		}
	})
}

func TestPermitReleaseExactlyOnce(t *testing.T) {
	s := New(3)
	p, err := s.Permit(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.N() != 3 || p.Released() {
		t.Fatalf("N=%d Released=%v", p.N(), p.Released())
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if p.Release() {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d Release calls returned true; want exactly 1", wins.Load())
	}
	if !p.Released() || s.Stats().InUse != 0 {
		t.Fatalf("Released=%v InUse=%d", p.Released(), s.Stats().InUse)
	}
	if tp := s.TryPermit(4); tp != nil {
		t.Fatal("TryPermit(4) of 3 succeeded")
	}
	tp := s.TryPermit(2)
	if tp == nil || !tp.Release() || tp.Release() {
		t.Fatal("TryPermit(2) then Release twice misbehaved")
	}
}

// Many goroutines, random weights, random deadlines and cancellations,
// under -race: the count held never exceeds the size, and everything is
// given back at the end.
func TestStress(t *testing.T) {
	const size = 8
	s := New(size)
	var held atomic.Int64
	var wg sync.WaitGroup
	iters := 3000
	if testing.Short() {
		iters = 500
	}
	for g := range 32 {
		wg.Go(func() {
			for i := range iters {
				n := int64(1 + (g+i)%4)
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				switch i % 5 {
				case 0:
					ctx, cancel = context.WithTimeout(ctx, time.Duration(i%50)*time.Microsecond)
				case 1:
					ctx, cancel = context.WithCancel(ctx)
					if i%2 == 0 {
						cancel()
					}
				}
				var err error
				if i%7 == 0 {
					if !s.TryAcquire(n) {
						err = errors.New("busy")
					}
				} else {
					err = s.Acquire(ctx, n)
				}
				cancel()
				if err != nil {
					continue
				}
				if h := held.Add(n); h > size {
					t.Errorf("held %d > size %d", h, size)
				}
				held.Add(-n)
				s.Release(n)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("after stress: %+v", st)
	}
}

// Every path that frees permits must hand them to queued waiters: with
// fast-path acquirers and TryAcquire racing the hand-off, a lost wake-up
// would leave a waiter blocked forever (plain Background contexts,
// nothing else ends the wait), which NoDeadlock turns into a failure with
// every goroutine's stack. It runs in a bubble, on real parallel
// goroutines but fake time: NoDeadlock's bound then passes only once
// every goroutine is blocked, so it catches a lost wake-up exactly and
// never fires because the machine is slow.
func TestNoLostWakeup(t *testing.T) {
	synctest.Test(t, testNoLostWakeup)
}

func testNoLostWakeup(t *testing.T) {
	const size = 4
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	s := New(size)
	var held atomic.Int64
	conctest.NoDeadlock(t, time.Minute, "acquirers and releasers", func() {
		var wg sync.WaitGroup
		for g := range 12 {
			wg.Go(func() {
				for i := range iters {
					n := int64(1 + (g*7+i)%size) // large and small requests mixed
					if g%3 == 0 {
						if !s.TryAcquire(n) {
							continue
						}
					} else if err := s.Acquire(context.Background(), n); err != nil {
						t.Error(err)
						return
					}
					if h := held.Add(n); h > size {
						t.Errorf("held %d > size %d", h, size)
					}
					held.Add(-n)
					s.Release(n)
				}
			})
		}
		wg.Wait()
	})
	if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("after: %+v", st)
	}
}

func TestHasWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(1)
		if s.HasWaiters() {
			t.Fatal("HasWaiters on a new semaphore")
		}
		s.TryAcquire(1)
		w := startWaiter(s, context.Background(), 1)
		synctest.Wait()
		if !s.HasWaiters() {
			t.Fatal("HasWaiters false with a waiter queued")
		}
		s.Release(1)
		if err := <-w; err != nil {
			t.Fatal(err)
		}
		if s.HasWaiters() {
			t.Fatal("HasWaiters true once the waiter was admitted")
		}
		s.Release(1)
	})
}
