package sem

import (
	"bytes"
	"context"
	"errors"
	"runtime/trace"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// totals is the part of Stats this file checks most.
type totals struct{ admitted, cancelled, rejected int64 }

func totalsOf(st Stats) totals { return totals{st.Admitted, st.Cancelled, st.Rejected} }

// TestTotals: what counts as Admitted, Cancelled and Rejected, and what
// counts as none of them.
func TestTotals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(2)
		check := func(what string, want totals) {
			t.Helper()
			synctest.Wait()
			if got := totalsOf(s.Stats()); got != want {
				t.Fatalf("after %s: totals %+v; want %+v", what, got, want)
			}
		}
		if err := s.Acquire(ctx, 1); err != nil {
			t.Fatal(err)
		}
		p, err := s.Permit(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		check("Acquire and Permit at once", totals{2, 0, 0})
		if s.TryAcquire(1) || s.TryPermit(1) != nil {
			t.Fatal("Try on a full semaphore succeeded")
		}
		check("two failed Trys", totals{2, 0, 2})
		if err := s.Acquire(ctx, 0); err != nil || !s.TryAcquire(0) {
			t.Fatal("n == 0 failed")
		}
		check("n == 0 twice", totals{4, 0, 2})

		// A ctx already done is no wait: no total.
		done, cancelDone := context.WithCancel(ctx)
		cancelDone()
		if err := s.Acquire(done, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire(done ctx) = %v", err)
		}
		// Too large: refused, but not a Try, so no total.
		if err := s.Acquire(ctx, 3); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Acquire(3) = %v", err)
		}
		check("a done ctx and a request too large", totals{4, 0, 2})

		// A waiter whose ctx ends: Cancelled.
		wctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- s.Acquire(wctx, 1) }()
		synctest.Wait()
		if !s.TryAcquire(0) || s.TryAcquire(1) {
			t.Fatal("TryAcquire(0) must succeed and TryAcquire(1) fail while someone waits")
		}
		check("a waiter queued, Trys", totals{5, 0, 3})
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter: %v", err)
		}
		check("a cancelled waiter", totals{5, 1, 3})

		// A waiter admitted after a wait: Admitted.
		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		p.Release()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		check("a waiter admitted", totals{6, 1, 3})

		// Waiters failed by Close, and calls after it: no Admitted or
		// Cancelled; a Try after Close is Rejected.
		go func() { errc <- s.Acquire(ctx, 2) }()
		synctest.Wait()
		s.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter at Close: %v", err)
		}
		if err := s.Acquire(ctx, 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("Acquire after Close: %v", err)
		}
		if err := s.Acquire(ctx, 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("Acquire(0) after Close: %v", err)
		}
		if s.TryAcquire(1) || s.TryAcquire(0) {
			t.Fatal("TryAcquire after Close succeeded")
		}
		check("Close", totals{6, 1, 5})
		s.Release(2)
	})
}

// TestAdmittedCarry crosses the state word's admitted field (2^16
// admissions) many times, with each kind of admission the one that finds
// the field full, and checks Admitted stays exact and the permit count is
// untouched.
func TestAdmittedCarry(t *testing.T) {
	ctx := context.Background()
	s := New(3)
	var want int64
	ops := []struct {
		name string
		do   func()
	}{
		{"Acquire", func() { _ = s.Acquire(ctx, 1); s.Release(1) }},
		{"TryAcquire", func() { s.TryAcquire(2); s.Release(2) }},
		{"Acquire(0)", func() { _ = s.Acquire(ctx, 0) }},
		{"TryAcquire(0)", func() { s.TryAcquire(0) }},
		{"Permit", func() { p, _ := s.Permit(ctx, 3); p.Release() }},
		{"TryPermit", func() { s.TryPermit(1).Release() }},
	}
	for _, op := range ops {
		// Fill the field to one short of a carry, then let op carry it.
		for int64(s.Stats().Admitted)%admitWrap != admitWrap-1 {
			_ = s.Acquire(ctx, 1)
			s.Release(1)
			want++
		}
		op.do()
		want++
		op.do()
		want++
		st := s.Stats()
		if st.Admitted != want || st.InUse != 0 || st.Rejected != 0 {
			t.Fatalf("after %s across a carry: %+v; want Admitted %d, nothing held or rejected", op.name, st, want)
		}
		// The next one, too, goes through the fast path again.
		if !s.TryAcquire(3) {
			t.Fatalf("after %s: TryAcquire(3) on a free semaphore failed", op.name)
		}
		if st := s.Stats(); st.InUse != 3 {
			t.Fatalf("after %s: InUse %d; want 3", op.name, st.InUse)
		}
		s.Release(3)
		want++
	}
	if got := s.Stats().Admitted; got != want {
		t.Fatalf("Admitted %d; want %d", got, want)
	}
}

// TestAdmittedCarryConcurrent: goroutines acquiring at once, in fast and
// slow paths, across several carries; Admitted ends exact.
func TestAdmittedCarryConcurrent(t *testing.T) {
	ctx := context.Background()
	s := New(2)
	const goroutines, each = 4, admitWrap / 2
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				switch (g + i) % 3 {
				case 0:
					if err := s.Acquire(ctx, 1); err != nil {
						t.Error(err)
						return
					}
					s.Release(1)
				case 1:
					for !s.TryAcquire(1) {
						// Rejected; try again (counted, below).
						_ = s.Acquire(ctx, 0)
					}
					s.Release(1)
				default:
					p, err := s.Permit(ctx, 2)
					if err != nil {
						t.Error(err)
						return
					}
					p.Release()
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	// Every failed TryAcquire was followed by one Acquire(0).
	if want := goroutines*each + st.Rejected; st.Admitted != want || st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("Stats %+v; want Admitted %d (%d + the Acquire(0) after each of %d rejections)", st, want, goroutines*each, st.Rejected)
	}
}

// TestOldestWait: the head's wait, exact in a bubble, 0 with nobody
// waiting; it follows the head as waiters leave.
func TestOldestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(2)
		if !s.TryAcquire(2) {
			t.Fatal("TryAcquire")
		}
		oldest := func() time.Duration { return s.Stats().OldestWait }
		if got := oldest(); got != 0 {
			t.Fatalf("OldestWait with nobody waiting = %v", got)
		}
		actx, cancelA := context.WithCancel(context.Background())
		errA := make(chan error, 1)
		go func() { errA <- s.Acquire(actx, 1) }()
		synctest.Wait()
		time.Sleep(3 * time.Second) // the fake clock: A has waited 3s
		errB := make(chan error, 1)
		go func() { errB <- s.Acquire(context.Background(), 2) }()
		synctest.Wait()
		time.Sleep(2 * time.Second)
		if got := oldest(); got != 5*time.Second {
			t.Fatalf("OldestWait = %v; want 5s (A's)", got)
		}
		cancelA()
		if err := <-errA; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if got := oldest(); got != 2*time.Second {
			t.Fatalf("OldestWait after the head left = %v; want 2s (B's)", got)
		}
		s.Release(2)
		if err := <-errB; err != nil {
			t.Fatal(err)
		}
		if got := oldest(); got != 0 {
			t.Fatalf("OldestWait after the last waiter was admitted = %v", got)
		}
		s.Release(2)
	})
}

// TestOnWait: the hooks get each admitted waiter's exact wait, on the
// waiter's goroutine before Acquire returns; never an uncontended,
// cancelled or closed call; stop removes one hook only.
func TestOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := New(1)
		var mu sync.Mutex
		var first, second []time.Duration
		stop1 := s.OnWait(func(d time.Duration) { mu.Lock(); first = append(first, d); mu.Unlock() })
		stop2 := s.OnWait(func(d time.Duration) { mu.Lock(); second = append(second, d); mu.Unlock() })
		got := func() ([]time.Duration, []time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			return append([]time.Duration(nil), first...), append([]time.Duration(nil), second...)
		}

		// Uncontended: no call.
		if err := s.Acquire(ctx, 1); err != nil {
			t.Fatal(err)
		}
		// Waits 4s, then is admitted.
		errc := make(chan error, 1)
		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		time.Sleep(4 * time.Second)
		s.Release(1)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if a, b := got(); len(a) != 1 || a[0] != 4*time.Second || len(b) != 1 || b[0] != 4*time.Second {
			t.Fatalf("hooks got %v and %v; want [4s] each", a, b)
		}

		// Cancelled after 1s, and failed by Close: no call.
		cctx, cancel := context.WithCancel(ctx)
		go func() { errc <- s.Acquire(cctx, 1) }()
		synctest.Wait()
		time.Sleep(time.Second)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}

		// stop removes its hook only, and is idempotent.
		stop1()
		stop1()
		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		time.Sleep(time.Millisecond)
		s.Release(1)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if a, b := got(); len(a) != 1 || len(b) != 2 || b[1] != time.Millisecond {
			t.Fatalf("after stop1: hooks got %v and %v; want [4s] and [4s 1ms]", a, b)
		}
		stop2()

		// On the admitted caller's goroutine, before Acquire returns: a
		// hook that blocks holds Acquire up.
		gate := make(chan struct{})
		stop3 := s.OnWait(func(time.Duration) { <-gate })
		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		s.Release(1)
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("Acquire returned (%v) before its hook did", err)
		default:
		}
		if st := s.Stats(); st.InUse != 1 || st.Waiting != 0 || st.Admitted != 4 {
			t.Fatalf("while the hook runs: %+v; want the permit held and counted", st)
		}
		close(gate)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		stop3()

		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		s.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
		if a, b := got(); len(a) != 1 || len(b) != 2 {
			t.Fatalf("at the end: hooks got %v and %v", a, b)
		}
		s.Release(1)
	})
}

// TestOnWaitConcurrent adds and stops hooks while waits go on (for the
// race detector): nothing is lost or called after the last stop.
func TestOnWaitConcurrent(t *testing.T) {
	ctx := context.Background()
	s := New(1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if err := s.Acquire(ctx, 1); err != nil {
					t.Error(err)
					return
				}
				s.Release(1)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 200 {
				stop := s.OnWait(func(time.Duration) {})
				stop()
			}
		})
	}
	wg.Wait()
	if n := s.hooks.Len(); n != 0 {
		t.Fatalf("%d hooks left after every stop", n)
	}
}

// TestTraceRegion: a blocking Acquire and Permit run in a trace region
// named after them; an uncontended one starts none.
func TestTraceRegion(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("a trace is already running")
	}
	ctx := context.Background()
	record := func(fn func()) []byte {
		var buf bytes.Buffer
		if err := trace.Start(&buf); err != nil {
			t.Fatal(err)
		}
		fn()
		trace.Stop()
		return buf.Bytes()
	}
	s := New(1)
	quiet := record(func() {
		_ = s.Acquire(ctx, 1)
		s.Release(1)
		p, _ := s.Permit(ctx, 1)
		p.Release()
	})
	if bytes.Contains(quiet, []byte("sluice/sem:")) {
		t.Fatal("an uncontended Acquire or Permit started a trace region")
	}
	blocked := record(func() {
		for _, permit := range []bool{false, true} {
			_ = s.Acquire(ctx, 1)
			errc := make(chan error, 1)
			go func() {
				if permit {
					p, err := s.Permit(ctx, 1)
					if err == nil {
						p.Release()
					}
					errc <- err
					return
				}
				err := s.Acquire(ctx, 1)
				if err == nil {
					s.Release(1)
				}
				errc <- err
			}()
			conctest.WaitFor(t, time.Minute, "a waiter queued", func() bool { return s.Stats().Waiting == 1 })
			s.Release(1)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, name := range []string{regionAcquire, regionPermit} {
		if !bytes.Contains(blocked, []byte(name)) {
			t.Errorf("no trace region %q around a blocking wait", name)
		}
	}
}
