package guard_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/guard"
)

type pair struct{ a, b int }

func TestRWReadersShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW(pair{})
		gate := conctest.NewTurnstile()
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := g.Read(context.Background(), func(ctx context.Context, _ *pair) error {
					return gate.Pass(ctx)
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		if err := gate.WaitEntered(context.Background(), 5); err != nil {
			t.Fatal(err)
		}
		if st := g.Stats(); st.ReadInUse != 5 || st.WriteInUse != 0 {
			t.Fatalf("stats %+v, want 5 readers at once", st)
		}
		gate.Open()
		wg.Wait()
	})
}

func TestRWStress(t *testing.T) {
	// Writers change a and b in two steps; a reader must never see them
	// differ, and no reader may run alongside a writer. Plain fields: the
	// race detector checks the exclusion too.
	workers, calls := 12, 300
	if testing.Short() {
		calls = 80
	}
	g := guard.NewRW(pair{})
	var readers, writers, maxReaders atomic.Int64
	var readsRan, writesRan atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*20*time.Microsecond+time.Microsecond)
				var err error
				if (w+i)%4 == 0 {
					err = g.Write(ctx, func(_ context.Context, p *pair) error {
						writesRan.Add(1)
						if writers.Add(1) != 1 || readers.Load() != 0 {
							t.Error("writer not alone")
						}
						p.a++
						runtime.Gosched()
						p.b++
						writers.Add(-1)
						return nil
					})
				} else {
					err = g.Read(ctx, func(_ context.Context, p *pair) error {
						readsRan.Add(1)
						n := readers.Add(1)
						for m := maxReaders.Load(); n > m && !maxReaders.CompareAndSwap(m, n); m = maxReaders.Load() {
						}
						if writers.Load() != 0 {
							t.Error("reader alongside a writer")
						}
						if p.a != p.b {
							t.Errorf("reader saw a half-done write: %+v", *p)
						}
						runtime.Gosched()
						readers.Add(-1)
						return nil
					})
				}
				cancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("call: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	// Every callback that ran was admitted once; nothing else was.
	st := g.Stats()
	if st.ReadAdmitted != readsRan.Load() || st.WriteAdmitted != writesRan.Load() {
		t.Errorf("admitted %d reads, %d writes; %d and %d ran", st.ReadAdmitted, st.WriteAdmitted, readsRan.Load(), writesRan.Load())
	}
	st.ReadAdmitted, st.WriteAdmitted, st.ReadCancelled, st.WriteCancelled = 0, 0, 0, 0
	if st != (guard.RWStats{}) {
		t.Fatalf("stats after the stress: %+v", st)
	}
	t.Logf("most readers at once: %d", maxReaders.Load())
}

// rwCall starts a Read or Write whose callback blocks on gate; it returns
// once the call is inside the lock or queued (the bubble has settled).
func rwCall(g *guard.RW[[]string], write bool, gate *conctest.Turnstile, errs chan<- error) {
	go func() {
		fn := func(ctx context.Context, _ *[]string) error { return gate.Pass(ctx) }
		if write {
			errs <- g.Write(context.Background(), fn)
		} else {
			errs <- g.Read(context.Background(), fn)
		}
	}()
	synctest.Wait()
}

func TestRWWaitingWriterBlocksLaterReaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW([]string(nil))
		r1, w, r2 := conctest.NewTurnstile(), conctest.NewTurnstile(), conctest.NewTurnstile()
		errs := make(chan error, 3)
		rwCall(g, false, r1, errs)
		rwCall(g, true, w, errs)
		rwCall(g, false, r2, errs)
		if st := g.Stats(); st.ReadInUse != 1 || st.WriteWaiting != 1 || st.ReadWaiting != 1 {
			t.Fatalf("stats %+v: the later reader must wait behind the writer", st)
		}
		if r2.Entered() != 0 {
			t.Fatal("a reader overtook the waiting writer")
		}
		r1.Open()
		synctest.Wait()
		if w.Entered() != 1 || r2.Entered() != 0 {
			t.Fatal("writer not admitted next, or reader alongside it")
		}
		w.Open()
		synctest.Wait()
		if r2.Entered() != 1 {
			t.Fatal("reader not admitted after the writer")
		}
		r2.Open()
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestRWCancelWriterAtHead(t *testing.T) {
	// A writer at the head gives up: the readers behind it are admitted at
	// once, alongside the reader that still holds.
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW([]string(nil))
		r1, r2 := conctest.NewTurnstile(), conctest.NewTurnstile()
		errs := make(chan error, 3)
		rwCall(g, false, r1, errs)
		ctx, cancel := context.WithCancel(context.Background())
		wErr := make(chan error, 1)
		go func() {
			wErr <- g.Write(ctx, func(context.Context, *[]string) error {
				t.Error("cancelled writer ran")
				return nil
			})
		}()
		synctest.Wait()
		rwCall(g, false, r2, errs)
		cancel()
		if err := <-wErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("writer: %v", err)
		}
		synctest.Wait()
		if st := g.Stats(); st.ReadInUse != 2 || st.WriteWaiting != 0 {
			t.Fatalf("stats %+v, want both readers in", st)
		}
		r1.Open()
		r2.Open()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestRWNested(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW(pair{})
		ctx := context.Background()

		// Read inside Read runs inline even while a writer is queued
		// (taking a second read hold would wait behind that writer, which
		// waits for us: a deadlock).
		gate := conctest.NewTurnstile()
		outer := make(chan error, 1)
		go func() {
			outer <- g.Read(ctx, func(ctx context.Context, p *pair) error {
				if err := gate.Pass(ctx); err != nil {
					return err
				}
				if err := g.Read(ctx, func(context.Context, *pair) error { return nil }); err != nil {
					return err
				}
				// Write inside Read cannot upgrade.
				return g.Write(ctx, func(context.Context, *pair) error {
					t.Error("upgraded write ran")
					return nil
				})
			})
		}()
		synctest.Wait()
		wErr := make(chan error, 1)
		go func() {
			wErr <- g.Write(ctx, func(_ context.Context, p *pair) error { p.a, p.b = 1, 1; return nil })
		}()
		synctest.Wait()
		if st := g.Stats(); st.WriteWaiting != 1 {
			t.Fatalf("stats %+v, want a writer queued", st)
		}
		gate.Open()
		if err := <-outer; !errors.Is(err, guard.ErrUpgrade) {
			t.Fatalf("Write inside Read: %v, want ErrUpgrade", err)
		}
		if err := <-wErr; err != nil {
			t.Fatal(err)
		}

		// Inside a Write: Read and Write run inline and see the change.
		err := g.Write(ctx, func(ctx context.Context, p *pair) error {
			p.a = 5
			if err := g.Read(ctx, func(ctx context.Context, q *pair) error {
				if q.a != 5 {
					t.Errorf("nested Read saw %+v", *q)
				}
				// Write inside a Read inside a Write: the write hold is
				// ours, so it runs too.
				return g.Write(ctx, func(_ context.Context, q *pair) error { q.b = 5; return nil })
			}); err != nil {
				return err
			}
			return g.Write(ctx, func(_ context.Context, q *pair) error { q.a++; q.b++; return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = g.Read(ctx, func(_ context.Context, p *pair) error {
			if *p != (pair{6, 6}) {
				t.Errorf("value %+v, want {6 6}", *p)
			}
			return nil
		})
		if !strings.HasPrefix(guard.ErrUpgrade.Error(), "guard: ") {
			t.Fatalf("ErrUpgrade message %q", guard.ErrUpgrade)
		}
	})
}

func TestRWNestedUnrelatedContext(t *testing.T) {
	// Not recognised: a Write inside a Read made with another context
	// waits for the read hold its own caller has, until its ctx ends.
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW(pair{})
		err := g.Read(context.Background(), func(ctx context.Context, _ *pair) error {
			other, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return g.Write(other, func(context.Context, *pair) error { return nil })
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("nested Write with an unrelated ctx: %v, want DeadlineExceeded", err)
		}
	})
}

func TestRWStaleContext(t *testing.T) {
	// A callback's context kept past the callback no longer counts as a
	// hold: a call made with it waits like any other.
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW(pair{})
		var kept context.Context
		_ = g.Write(context.Background(), func(ctx context.Context, _ *pair) error { kept = ctx; return nil })
		gate := conctest.NewTurnstile()
		errs := make(chan error, 1)
		go func() {
			errs <- g.Write(context.Background(), func(ctx context.Context, _ *pair) error { return gate.Pass(ctx) })
		}()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(kept, time.Second)
		defer cancel()
		if err := g.Read(ctx, func(context.Context, *pair) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read with a stale hold: %v, want it to wait (DeadlineExceeded)", err)
		}
		gate.Open()
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	})
}

func TestRWClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := guard.NewRW([]string(nil))
		r := conctest.NewTurnstile()
		errs := make(chan error, 1)
		rwCall(g, false, r, errs)
		wErr := make(chan error, 2)
		for _, write := range []bool{true, false} {
			go func() {
				f := func(context.Context, *[]string) error { t.Error("queued call ran"); return nil }
				if write {
					wErr <- g.Write(context.Background(), f)
				} else {
					wErr <- g.Read(context.Background(), f)
				}
			}()
			synctest.Wait()
		}
		g.Close()
		for range 2 {
			if err := <-wErr; !errors.Is(err, guard.ErrClosed) {
				t.Fatalf("queued call after Close: %v", err)
			}
		}
		if err := g.Read(context.Background(), func(context.Context, *[]string) error { return nil }); !errors.Is(err, guard.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
		if st := g.Stats(); !st.Closed || st.ReadInUse != 1 {
			t.Fatalf("stats %+v", st)
		}
		r.Open()
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	})
}

func TestRWPanicReleases(t *testing.T) {
	g := guard.NewRW(pair{})
	for _, write := range []bool{true, false} {
		func() {
			defer func() { _ = recover() }()
			f := func(context.Context, *pair) error { panic("boom") }
			if write {
				_ = g.Write(context.Background(), f)
			} else {
				_ = g.Read(context.Background(), f)
			}
		}()
	}
	if st := g.Stats(); st.ReadInUse != 0 || st.WriteInUse != 0 {
		t.Fatalf("stats %+v after panics", st)
	}
}

func TestRWBadInput(t *testing.T) {
	g := guard.NewRW(0)
	f := func(context.Context, *int) error { return nil }
	conctest.MustPanic(t, func() { _ = g.Read(nil, f) }, "guard: ")  //nolint:staticcheck // deliberate
	conctest.MustPanic(t, func() { _ = g.Write(nil, f) }, "guard: ") //nolint:staticcheck // deliberate
	conctest.MustPanic(t, func() { _ = g.Read(context.Background(), nil) }, "guard: ")
	conctest.MustPanic(t, func() { _ = g.Write(context.Background(), nil) }, "guard: ")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Read(ctx, f); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a done ctx: %v", err)
	}
}
