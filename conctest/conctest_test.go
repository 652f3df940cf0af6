package conctest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestMain(m *testing.M) { VerifyTestMain(m) }

func TestTurnstileReleasesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewTurnstile()
		var mu sync.Mutex
		var order []int
		for i := range 4 {
			go func() {
				if err := g.Pass(context.Background()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			}()
			synctest.Wait()
		}
		if g.Entered() != 4 || g.Blocked() != 4 || g.Passed() != 0 {
			t.Fatalf("entered %d blocked %d passed %d", g.Entered(), g.Blocked(), g.Passed())
		}
		g.Release(1)
		synctest.Wait()
		g.Release(1)
		synctest.Wait()
		if len(order) != 2 || order[0] != 0 || order[1] != 1 || g.Passed() != 2 {
			t.Fatalf("after two Release(1): order %v passed %d", order, g.Passed())
		}
		g.Open()
		synctest.Wait()
		if len(order) != 4 || g.Blocked() != 0 {
			t.Fatalf("after Open: order %v", order)
		}
		if err := g.Pass(context.Background()); err != nil {
			t.Fatalf("Pass on an open turnstile: %v", err)
		}
	})
}

func TestTurnstileTicketsAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewTurnstile()
		g.Release(1) // a ticket for the next call
		if err := g.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := g.Pass(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pass = %v; want DeadlineExceeded", err)
		}
		if time.Since(start) != time.Second {
			t.Fatalf("gave up after %v", time.Since(start))
		}
		if g.Entered() != 2 || g.Passed() != 1 || g.Blocked() != 0 {
			t.Fatalf("entered %d passed %d blocked %d", g.Entered(), g.Passed(), g.Blocked())
		}
	})
}

func TestTurnstileWaitEntered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewTurnstile()
		ctx := context.Background()
		for range 3 {
			go func() { _ = g.Pass(ctx) }()
		}
		if err := g.WaitEntered(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if err := g.WaitBlocked(ctx, 3); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := g.WaitEntered(short, 4); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitEntered(4) = %v", err)
		}
		g.Open()
	})
}

func TestTracker(t *testing.T) {
	var tr Tracker
	var wg sync.WaitGroup
	g := NewTurnstile()
	for range 5 {
		wg.Go(func() {
			defer tr.Enter()()
			_ = g.Pass(context.Background())
		})
	}
	if err := g.WaitBlocked(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	if tr.Current() != 5 {
		t.Fatalf("Current = %d", tr.Current())
	}
	g.Open()
	wg.Wait()
	leave := tr.Enter()
	leave()
	leave() // a second call is a no-op
	if tr.Current() != 0 || tr.Max() != 5 || tr.Total() != 6 {
		t.Fatalf("cur %d max %d total %d", tr.Current(), tr.Max(), tr.Total())
	}
}

// recorder captures Fatalf instead of ending the test, so the failing
// paths of WaitFor and NoDeadlock can be checked.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = format
	if len(args) > 0 {
		r.msg = strings.TrimSpace(strings.SplitN(sprintf(format, args...), "\n", 2)[0])
	}
	r.mu.Unlock()
	// Like t.Fatalf, stop the calling goroutine.
	panic(fatal{})
}

type fatal struct{}

func catchFatal(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatal); !ok {
				panic(r)
			}
		}
	}()
	fn()
}

func TestWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ready := time.Now().Add(30 * time.Millisecond)
		WaitFor(t, time.Second, "clock moved", func() bool { return !time.Now().Before(ready) })
		if d := time.Since(start); d < 30*time.Millisecond || d > 32*time.Millisecond {
			t.Fatalf("WaitFor returned after %v; want about 30ms", d)
		}
		r := &recorder{TB: t}
		start = time.Now()
		catchFatal(func() { WaitFor(r, 2*time.Second, "never", func() bool { return false }) })
		if !strings.Contains(r.msg, "never: not true within 2s") {
			t.Fatalf("failure message %q", r.msg)
		}
		if time.Since(start) != 2*time.Second {
			t.Fatalf("gave up after %v; want 2s", time.Since(start))
		}
	})
}

func TestNoDeadlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		NoDeadlock(t, time.Second, "quick", func() {})
		r := &recorder{TB: t}
		release := make(chan struct{})
		catchFatal(func() { NoDeadlock(r, time.Second, "stuck", func() { <-release }) })
		close(release)
		if !strings.Contains(r.msg, "stuck: still running after 1s") {
			t.Fatalf("failure message %q", r.msg)
		}
	})
}

func TestStacksListsThisGoroutine(t *testing.T) {
	if s := Stacks(); !strings.Contains(s, "TestStacksListsThisGoroutine") {
		t.Fatal("Stacks() does not show the calling goroutine")
	}
}
