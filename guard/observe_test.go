package guard_test

import (
	"bytes"
	"context"
	"errors"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/guard"
)

// waiter is a guard seen through what the observation tests need: an
// exclusive call, its figures, and OnWait.
type waiter struct {
	name   string
	do     func(ctx context.Context, fn func(ctx context.Context) error) error
	figs   func() (waiting int64, oldest time.Duration, admitted, cancelled int64)
	onWait func(fn func(time.Duration)) func()
}

func waiters() []waiter {
	v := guard.New(0)
	n := 0
	a := guard.Serial(&n)
	rw := guard.NewRW(0)
	return []waiter{
		{"Value",
			func(ctx context.Context, fn func(context.Context) error) error {
				return v.Do(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
			},
			func() (int64, time.Duration, int64, int64) {
				s := v.Stats()
				return s.Waiting, s.OldestWait, s.Admitted, s.Cancelled
			},
			v.OnWait},
		{"Serial",
			func(ctx context.Context, fn func(context.Context) error) error {
				return a.Do(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
			},
			func() (int64, time.Duration, int64, int64) {
				s := a.Stats()
				return s.Waiting, s.OldestWait, s.Admitted, s.Cancelled
			},
			a.OnWait},
		{"RW.Write",
			func(ctx context.Context, fn func(context.Context) error) error {
				return rw.Write(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
			},
			func() (int64, time.Duration, int64, int64) {
				s := rw.Stats()
				return s.WriteWaiting, s.WriteOldestWait, s.WriteAdmitted, s.WriteCancelled
			},
			rw.OnWait},
	}
}

// after advances the bubble's clock by d.
func after(d time.Duration) { <-time.After(d) }

// TestOldestWaitAndOnWait: in a bubble, where time is exact. A holder
// keeps the lock; a caller queues at 0 s, another at 1 s. OldestWait is
// the first one's wait; once it is admitted, the second's. Each admitted
// waiter reports its exact wait to every hook; an uncontended call
// reports nothing, a removed hook hears nothing more.
func TestOldestWaitAndOnWait(t *testing.T) {
	for _, w := range waiters() {
		t.Run(w.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Made in the bubble: a guard's waiters use channels.
				w := waiters()[indexOf(w.name)]
				ctx := context.Background()
				var mu sync.Mutex
				var got1, got2 []time.Duration
				stop1 := w.onWait(func(d time.Duration) { mu.Lock(); got1 = append(got1, d); mu.Unlock() })
				stop2 := w.onWait(func(d time.Duration) { mu.Lock(); got2 = append(got2, d); mu.Unlock() })

				if err := w.do(ctx, func(context.Context) error { return nil }); err != nil {
					t.Fatal(err)
				}
				release := make(chan struct{})
				held := make(chan struct{})
				go func() {
					_ = w.do(ctx, func(context.Context) error { close(held); <-release; return nil })
				}()
				<-held
				gates := []chan struct{}{make(chan struct{}), make(chan struct{})}
				var wg sync.WaitGroup
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_ = w.do(ctx, func(context.Context) error { <-gates[i]; return nil })
					}()
					synctest.Wait()
					if i == 0 {
						after(time.Second)
					}
				}
				after(2 * time.Second)
				if waiting, oldest, admitted, _ := w.figs(); waiting != 2 || oldest != 3*time.Second || admitted != 2 {
					t.Fatalf("waiting %d, oldest %v, admitted %d; want 2, 3s, 2", waiting, oldest, admitted)
				}
				close(release) // the first waiter is admitted, after 3 s
				synctest.Wait()
				if waiting, oldest, admitted, _ := w.figs(); waiting != 1 || oldest != 2*time.Second || admitted != 3 {
					t.Fatalf("waiting %d, oldest %v, admitted %d; want 1, 2s, 3", waiting, oldest, admitted)
				}
				stop2()
				stop2() // idempotent
				after(time.Second)
				close(gates[0]) // the second is admitted after 3 s too
				close(gates[1])
				wg.Wait()
				if waiting, oldest, admitted, _ := w.figs(); waiting != 0 || oldest != 0 || admitted != 4 {
					t.Fatalf("waiting %d, oldest %v, admitted %d; want 0, 0, 4", waiting, oldest, admitted)
				}
				mu.Lock()
				defer mu.Unlock()
				if want := []time.Duration{3 * time.Second, 3 * time.Second}; !equal(got1, want) || !equal(got2, want[:1]) {
					t.Fatalf("hook 1 saw %v, hook 2 %v; want %v and %v", got1, got2, want, want[:1])
				}
				stop1()
			})
		})
	}
}

func indexOf(name string) int {
	for i, w := range waiters() {
		if w.name == name {
			return i
		}
	}
	panic(name)
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCancelledWaiterNotReported: a waiter that gives up is counted in
// Cancelled, not Admitted, and its wait is not reported.
func TestCancelledWaiterNotReported(t *testing.T) {
	for _, w := range waiters() {
		t.Run(w.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := waiters()[indexOf(w.name)]
				reported := 0
				defer w.onWait(func(time.Duration) { reported++ })()
				release := make(chan struct{})
				held := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = w.do(context.Background(), func(context.Context) error { close(held); <-release; return nil })
				}()
				<-held
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if err := w.do(ctx, func(context.Context) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Do: %v", err)
				}
				if waiting, oldest, admitted, cancelled := w.figs(); waiting != 0 || oldest != 0 || admitted != 1 || cancelled != 1 {
					t.Fatalf("waiting %d, oldest %v, admitted %d, cancelled %d; want 0, 0, 1, 1", waiting, oldest, admitted, cancelled)
				}
				close(release)
				<-done
				if reported != 0 {
					t.Fatalf("%d waits reported", reported)
				}
			})
		})
	}
}

// TestOnWaitPanicReleases: a hook that panics reaches the caller that
// waited, and the lock it had just been granted is given back.
func TestOnWaitPanicReleases(t *testing.T) {
	for _, w := range waiters() {
		t.Run(w.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := waiters()[indexOf(w.name)]
				stop := w.onWait(func(time.Duration) { panic("hook") })
				release := make(chan struct{})
				held := make(chan struct{})
				go func() {
					_ = w.do(context.Background(), func(context.Context) error { close(held); <-release; return nil })
				}()
				<-held
				got := make(chan any)
				go func() {
					defer func() { got <- recover() }()
					_ = w.do(context.Background(), func(context.Context) error {
						t.Error("callback ran after its hook panicked")
						return nil
					})
				}()
				synctest.Wait()
				close(release)
				if r := <-got; r != "hook" {
					t.Fatalf("recovered %v, want the hook's panic", r)
				}
				stop()
				// The lock is free again.
				if err := w.do(context.Background(), func(context.Context) error { return nil }); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestOnWaitNil(t *testing.T) {
	n := 0
	for name, call := range map[string]func(){
		"Value.OnWait":  func() { guard.New(0).OnWait(nil) },
		"RW.OnWait":     func() { guard.NewRW(0).OnWait(nil) },
		"Access.OnWait": func() { guard.Serial(&n).OnWait(nil) },
		"Concurrent":    func() { guard.Concurrent(&n).OnWait(nil) },
	} {
		t.Run(name, func(t *testing.T) {
			if msg := conctest.MustPanic(t, call, "nil func"); !strings.HasPrefix(msg, "guard: ") {
				t.Fatalf("panic %q does not name the package", msg)
			}
		})
	}
	var nilV *guard.Value[int]
	conctest.MustPanic(t, func() { nilV.OnWait(func(time.Duration) {}) }, "guard: Value.OnWait on a nil receiver")
	var nilRW *guard.RW[int]
	conctest.MustPanic(t, func() { nilRW.OnWait(func(time.Duration) {}) }, "guard: RW.OnWait on a nil receiver")
}

// TestRWReadLaneFigures: the read lane's own figures, beside a waiting
// writer: readers queued behind it wait in the read lane.
func TestRWReadLaneFigures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW(0)
		ctx := context.Background()
		var waits []time.Duration
		var mu sync.Mutex
		defer g.OnWait(func(d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() })()
		release := make(chan struct{})
		held := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = g.Read(ctx, func(context.Context, *int) error { close(held); <-release; return nil })
		})
		<-held
		wg.Go(func() { _ = g.Write(ctx, func(context.Context, *int) error { return nil }) })
		synctest.Wait()
		after(time.Second)
		rctx, cancel := context.WithCancel(ctx)
		wg.Go(func() { _ = g.Read(rctx, func(context.Context, *int) error { return nil }) })
		wg.Go(func() { _ = g.Read(ctx, func(context.Context, *int) error { return nil }) })
		synctest.Wait()
		after(time.Second)
		st := g.Stats()
		if st.ReadWaiting != 2 || st.WriteWaiting != 1 || st.ReadOldestWait != time.Second || st.WriteOldestWait != 2*time.Second {
			t.Fatalf("stats %+v", st)
		}
		cancel()
		synctest.Wait()
		close(release)
		wg.Wait()
		st = g.Stats()
		want := guard.RWStats{ReadAdmitted: 2, WriteAdmitted: 1, ReadCancelled: 1}
		if st != want {
			t.Fatalf("stats %+v, want %+v", st, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if !equal(waits, []time.Duration{2 * time.Second, time.Second}) {
			t.Fatalf("waits %v, want the writer's 2s, then the reader's 1s", waits)
		}
	})
}

// TestConcurrentAdmitted: Concurrent counts every call let in, and none
// waits.
func TestConcurrentAdmitted(t *testing.T) {
	n := 0
	a := guard.Concurrent(&n)
	defer a.OnWait(func(time.Duration) { t.Error("Concurrent reported a wait") })()
	for range 3 {
		_ = a.Do(context.Background(), func(context.Context, *int) error { return nil })
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.Do(ctx, func(context.Context, *int) error { return nil })
	if st := a.Stats(); st.Admitted != 3 || st.InUse != 0 {
		t.Fatalf("stats %+v, want 3 admitted", st)
	}
}

// TestTraceRegions: a call that waits is wrapped in a runtime/trace
// region named for its method; the region names are in the trace's
// string table.
func TestTraceRegions(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("trace.Start: %v (another trace is running)", err)
	}
	traced := false
	defer func() {
		if !traced {
			trace.Stop()
		}
	}()
	ctx := context.Background()
	wait := func(hold func(fn func()), waitFor func(), queued func() bool) {
		release := make(chan struct{})
		held := make(chan struct{})
		done := make(chan struct{})
		go func() { hold(func() { close(held); <-release }); close(done) }()
		<-held
		waited := make(chan struct{})
		go func() { waitFor(); close(waited) }()
		conctest.WaitFor(t, time.Minute, "a caller queued", queued)
		close(release)
		<-done
		<-waited
	}
	v := guard.New(0)
	vdo := func(fn func()) { _ = v.Do(ctx, func(context.Context, *int) error { fn(); return nil }) }
	wait(vdo, func() { vdo(func() {}) }, func() bool { return v.Stats().Waiting == 1 })
	n := 0
	a := guard.Serial(&n)
	ado := func(fn func()) { _ = a.Do(ctx, func(context.Context, *int) error { fn(); return nil }) }
	wait(ado, func() { ado(func() {}) }, func() bool { return a.Stats().Waiting == 1 })
	rw := guard.NewRW(0)
	write := func(fn func()) { _ = rw.Write(ctx, func(context.Context, *int) error { fn(); return nil }) }
	read := func(fn func()) { _ = rw.Read(ctx, func(context.Context, *int) error { fn(); return nil }) }
	wait(write, func() { read(func() {}) }, func() bool { return rw.Stats().ReadWaiting == 1 })
	wait(read, func() { write(func() {}) }, func() bool { return rw.Stats().WriteWaiting == 1 })
	trace.Stop()
	traced = true
	for _, name := range []string{"sluice/guard: Value.Do wait", "sluice/guard: Access.Do wait",
		"sluice/guard: RW.Read wait", "sluice/guard: RW.Write wait"} {
		if !bytes.Contains(buf.Bytes(), []byte(name)) {
			t.Errorf("no region %q in the trace", name)
		}
	}
}
