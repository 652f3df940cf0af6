package run

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
)

// Close fails the joiners and the callers waiting for a trailing run at
// once; the run in progress goes on and its caller gets fn's result; every
// later call gets ErrClosed.
func TestGuardClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		bg := context.Background()
		h := newHeld()
		runner := make(chan error, 1)
		go func() { runner <- g.Do(bg, Join, h.fn) }()
		<-h.entered
		waiters := make(chan error, 4)
		for _, mode := range []Mode{Join, Join, Again, Again} {
			go func() { waiters <- g.Do(bg, mode, never(t)) }()
		}
		synctest.Wait()
		if st := g.Stats(); st.Waiting != 4 || !st.Pending {
			t.Fatalf("before Close: %+v", st)
		}
		g.Close()
		for range 4 {
			if err := <-waiters; !errors.Is(err, ErrClosed) {
				t.Fatalf("waiter got %v, want ErrClosed", err)
			}
		}
		if st := g.Stats(); !st.Running || st.Pending || st.Waiting != 0 || !st.Closed || st.Shared != 0 {
			t.Fatalf("after Close, run in progress: %+v", st)
		}
		for _, mode := range []Mode{Reject, Join, Again} {
			if err := g.Do(bg, mode, never(t)); !errors.Is(err, ErrClosed) {
				t.Fatalf("%v after Close: %v, want ErrClosed", mode, err)
			}
		}
		errA := errors.New("a")
		h.release <- errA
		if err := <-runner; err != errA {
			t.Fatalf("runner got %v, want its own result", err)
		}
		synctest.Wait() // the trailing run must not start
		if st := g.Stats(); st.Running || st.Runs != 1 || !st.Closed {
			t.Fatalf("after the run: %+v", st)
		}
		if !strings.HasPrefix(ErrClosed.Error(), "run: ") {
			t.Fatal("ErrClosed does not name the package")
		}
		g.Close() // idempotent
	})
}

// Close while a trailing run has been handed to its starter, which has
// not started it yet: the starter and the others waiting for it get
// ErrClosed, and the run never starts.
func TestGuardCloseDuringHandoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		bg := context.Background()
		h := newHeld()
		runner := make(chan error, 1)
		go func() { runner <- g.Do(bg, Join, h.fn) }()
		<-h.entered
		waiters := make(chan error, 2)
		for range 2 {
			go func() { waiters <- g.Do(bg, Again, never(t)) }()
		}
		synctest.Wait()
		testHookChosen = func() { g.Close() }
		defer func() { testHookChosen = nil }()
		h.release <- nil
		if err := <-runner; err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := <-waiters; !errors.Is(err, ErrClosed) {
				t.Fatalf("waiter got %v, want ErrClosed", err)
			}
		}
		if st := g.Stats(); st.Running || st.Pending || st.Runs != 1 || st.Waiting != 0 || !st.Closed {
			t.Fatalf("after Close: %+v", st)
		}
	})
}

func TestKeyedClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var k Keyed[string]
		bg := context.Background()
		h := newHeld()
		runner := make(chan error, 1)
		go func() { runner <- k.Do(bg, "a", Join, h.fn) }()
		<-h.entered
		joiner := make(chan error, 1)
		go func() { joiner <- k.Do(bg, "a", Join, never(t)) }()
		synctest.Wait()
		k.Close()
		if err := <-joiner; !errors.Is(err, ErrClosed) {
			t.Fatalf("joiner got %v, want ErrClosed", err)
		}
		if err := k.Do(bg, "b", Reject, never(t)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Do after Close: %v", err)
		}
		if st := k.Stats(); st.Keys != 1 || st.Running != 1 || !st.Closed {
			t.Fatalf("after Close: %+v", st)
		}
		h.release <- nil
		if err := <-runner; err != nil {
			t.Fatalf("runner got %v", err)
		}
		if st := k.Stats(); st.Keys != 0 || st.Runs != 1 || !st.Closed {
			t.Fatalf("after the run: %+v", st)
		}
		k.Close()
	})
}

// A joiner of a run that panicked gets an error matching ErrPanicked and
// *PanicError; a Goexit in fn does the same and goes on.
func TestPanicErrorAs(t *testing.T) {
	for _, goexit := range []bool{false, true} {
		t.Run(map[bool]string{false: "panic", true: "goexit"}[goexit], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var k Keyed[int]
				entered, release := make(chan struct{}), make(chan struct{})
				after := make(chan bool, 1)
				go func() {
					defer func() { _ = recover() }()
					returned := false
					defer func() { after <- returned }()
					_ = k.Do(context.Background(), 1, Join, func(context.Context) error {
						close(entered)
						<-release
						if goexit {
							runtime.Goexit()
						}
						panic("boom")
					})
					returned = true
				}()
				<-entered
				joined := make(chan error, 1)
				go func() { joined <- k.Do(context.Background(), 1, Join, never(t)) }()
				synctest.Wait()
				close(release)
				if <-after {
					t.Fatal("Do returned normally after a panic or Goexit")
				}
				err := <-joined
				var pe *PanicError
				if !errors.Is(err, ErrPanicked) || !errors.As(err, &pe) || pe.Goexit != goexit || pe.Op != "run: fn" {
					t.Fatalf("joiner got %v (%+v)", err, pe)
				}
				if !goexit && (pe.Value != "boom" || !strings.Contains(string(pe.Stack), "TestPanicErrorAs")) {
					t.Fatalf("PanicError %+v", pe)
				}
				if st := k.Stats(); st.Keys != 0 || st.Panicked != 1 || st.Runs != 1 || st.Shared != 1 {
					t.Fatalf("stats: %+v", st)
				}
			})
		})
	}
}
