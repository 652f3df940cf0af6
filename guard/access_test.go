package guard_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/guard"
)

// conn stands for a client that must not be used by two goroutines at
// once.
type conn struct {
	tr    conctest.Tracker
	calls int
}

func (c *conn) recv() {
	defer c.tr.Enter()()
	c.calls++
	runtime.Gosched() // widen the window an overlap would need
}

func TestSerialOneAtATime(t *testing.T) {
	c := &conn{}
	a := guard.Serial(c)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if err := a.Do(context.Background(), func(_ context.Context, c *conn) error {
					c.recv()
					return nil
				}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if c.tr.Max() != 1 || c.calls != 1600 {
		t.Fatalf("max at once %d, calls %d; want 1 and 1600", c.tr.Max(), c.calls)
	}
	if st := a.Stats(); !st.Serial || st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSerialNested(t *testing.T) {
	// A helper that takes the Access and a ctx, called from inside a Do
	// with the callback's ctx, runs inline. In a bubble, so NoDeadlock's
	// bound is exact.
	synctest.Test(t, testSerialNested)
}

func testSerialNested(t *testing.T) {
	a := guard.Serial(&conn{})
	balance := func(ctx context.Context, a guard.Access[*conn]) error {
		return a.Do(ctx, func(_ context.Context, c *conn) error { c.recv(); return nil })
	}
	conctest.NoDeadlock(t, 5*time.Second, "nested Serial call", func() {
		if err := a.Do(context.Background(), func(ctx context.Context, c *conn) error {
			c.recv()
			return balance(ctx, a)
		}); err != nil {
			t.Error(err)
		}
	})
}

func TestSerialNestedUnrelatedContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := guard.Serial(&conn{})
		err := a.Do(context.Background(), func(ctx context.Context, c *conn) error {
			other, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return a.Do(other, func(context.Context, *conn) error { return nil })
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("nested call with an unrelated ctx: %v, want DeadlineExceeded", err)
		}
		if st := a.Stats(); st.Cancelled != 1 || st.InUse != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestSerialCancelWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := guard.Serial(&conn{})
		gate := conctest.NewTurnstile()
		held := make(chan error, 1)
		go func() {
			held <- a.Do(context.Background(), func(ctx context.Context, _ *conn) error { return gate.Pass(ctx) })
		}()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.Do(ctx, func(context.Context, *conn) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waiter: %v", err)
		}
		if st := a.Stats(); st.InUse != 1 || st.Waiting != 0 || st.Contended != 1 || st.Cancelled != 1 {
			t.Fatalf("stats %+v", st)
		}
		gate.Open()
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	})
}

func TestConcurrentOverlaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := guard.Concurrent(http.DefaultClient)
		gate := conctest.NewTurnstile()
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.Do(context.Background(), func(ctx context.Context, _ *http.Client) error {
					return gate.Pass(ctx)
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		if err := gate.WaitEntered(context.Background(), 6); err != nil {
			t.Fatal(err)
		}
		if st := a.Stats(); st.Serial || st.InUse != 6 || st.Waiting != 0 {
			t.Fatalf("stats %+v, want 6 in flight at once", st)
		}
		gate.Open()
		wg.Wait()
		if st := a.Stats(); st.InUse != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestConcurrentPassesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, 1)
	a := guard.Concurrent(0)
	_ = a.Do(ctx, func(got context.Context, _ int) error {
		if got != ctx {
			t.Error("Concurrent changed the context")
		}
		return nil
	})
}

func TestAccessBadInput(t *testing.T) {
	for name, a := range map[string]guard.Access[int]{"Serial": guard.Serial(0), "Concurrent": guard.Concurrent(0)} {
		f := func(context.Context, int) error { return nil }
		conctest.MustPanic(t, func() { _ = a.Do(nil, f) }, "guard: ") //nolint:staticcheck // deliberate
		conctest.MustPanic(t, func() { _ = a.Do(context.Background(), nil) }, "guard: ")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := a.Do(ctx, func(context.Context, int) error {
			t.Errorf("%s: callback ran with a done ctx", name)
			return nil
		}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a done ctx: %v", name, err)
		}
	}
}

func TestCallbackContextFollowsParent(t *testing.T) {
	// Every guard's callback context carries the caller's values, deadline
	// and cancellation.
	type key struct{}
	v, rw, s := guard.New(0), guard.NewRW(0), guard.Serial(0)
	calls := map[string]func(ctx context.Context, fn func(ctx context.Context) error) error{
		"Value.Do": func(ctx context.Context, fn func(context.Context) error) error {
			return v.Do(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
		},
		"RW.Read": func(ctx context.Context, fn func(context.Context) error) error {
			return rw.Read(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
		},
		"RW.Write": func(ctx context.Context, fn func(context.Context) error) error {
			return rw.Write(ctx, func(ctx context.Context, _ *int) error { return fn(ctx) })
		},
		"Serial.Do": func(ctx context.Context, fn func(context.Context) error) error {
			return s.Do(ctx, func(ctx context.Context, _ int) error { return fn(ctx) })
		},
	}
	for name, call := range calls {
		parent, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, name), time.Hour)
		err := call(parent, func(ctx context.Context) error {
			if ctx.Value(key{}) != name {
				t.Errorf("%s: value lost", name)
			}
			if d, ok := ctx.Deadline(); !ok || d.IsZero() {
				t.Errorf("%s: deadline lost", name)
			}
			cancel()
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: callback ctx after the parent's cancel: %v", name, err)
		}
	}
}

func TestAccessClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// Serial: a caller inside fn finishes; a queued caller and every
		// later caller get ErrClosed; a nested call of the admitted caller
		// still runs.
		s := guard.Serial(new(int))
		gate := conctest.NewTurnstile()
		inside := make(chan error, 1)
		go func() {
			inside <- s.Do(ctx, func(ctx context.Context, c *int) error {
				if err := gate.Pass(ctx); err != nil {
					return err
				}
				return s.Do(ctx, func(context.Context, *int) error { return nil })
			})
		}()
		synctest.Wait()
		queued := make(chan error, 1)
		go func() { queued <- s.Do(ctx, func(context.Context, *int) error { return nil }) }()
		synctest.Wait()
		s.Close()
		if err := <-queued; !errors.Is(err, guard.ErrClosed) {
			t.Fatalf("queued Serial caller after Close: %v, want ErrClosed", err)
		}
		gate.Open()
		if err := <-inside; err != nil {
			t.Fatalf("admitted Serial caller (with a nested call) after Close: %v", err)
		}
		if err := s.Do(ctx, func(context.Context, *int) error { t.Error("ran after Close"); return nil }); !errors.Is(err, guard.ErrClosed) {
			t.Fatalf("Serial Do after Close: %v", err)
		}
		if !s.Stats().Closed {
			t.Fatal("Serial Stats().Closed is false")
		}
		s.Close() // idempotent

		c := guard.Concurrent(new(int))
		c.Close()
		if err := c.Do(ctx, func(context.Context, *int) error { t.Error("ran after Close"); return nil }); !errors.Is(err, guard.ErrClosed) {
			t.Fatalf("Concurrent Do after Close: %v", err)
		}
		if !c.Stats().Closed {
			t.Fatal("Concurrent Stats().Closed is false")
		}
	})
}
