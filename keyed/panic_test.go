package keyed

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
)

// The waiters of a run whose fn panicked get an error that matches both
// ErrAborted and *PanicError, with the value and the panicking stack.
func TestOncePanicErrorAs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		bg := context.Background()
		entered, boom := make(chan struct{}), make(chan struct{})
		panicky := func(context.Context) error {
			close(entered)
			<-boom
			panic("boom")
		}
		a := start(func() (err error) {
			defer func() { _ = recover() }()
			return o.Do(bg, "peer", panicky)
		})
		<-entered
		w := start(func() error { return o.Do(bg, "peer", panicky) })
		synctest.Wait()
		close(boom)
		_ = a.wait()
		err := w.wait()
		var pe *PanicError
		if !errors.Is(err, ErrAborted) || !errors.As(err, &pe) {
			t.Fatalf("waiter got %v, want ErrAborted and a *PanicError", err)
		}
		if pe.Value != "boom" || pe.Goexit || pe.Op != "keyed: Once fn" || !strings.Contains(string(pe.Stack), "TestOncePanicErrorAs") {
			t.Fatalf("PanicError %+v", pe)
		}
		if st := o.Stats(); st.Panicked != 1 || st.Runs != 1 || st.Shared != 1 || st.Keys != 0 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// A fn that calls runtime.Goexit (t.FailNow, for one) frees the key and
// fails its waiters the same way; the Goexit goes on.
func TestOnceGoexitInFn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		bg := context.Background()
		entered, exit := make(chan struct{}), make(chan struct{})
		exiting := func(context.Context) error {
			close(entered)
			<-exit
			runtime.Goexit()
			return nil
		}
		after := false
		a := start(func() error {
			err := o.Do(bg, "peer", exiting)
			after = true
			return err
		})
		<-entered
		w := start(func() error { return o.Do(bg, "peer", exiting) })
		synctest.Wait()
		close(exit)
		_ = a.wait()
		if after {
			t.Fatal("the Goexit was stopped")
		}
		var pe *PanicError
		if err := w.wait(); !errors.Is(err, ErrAborted) || !errors.As(err, &pe) || !pe.Goexit {
			t.Fatalf("waiter got %v, want ErrAborted and a Goexit *PanicError", err)
		}
		if st := o.Stats(); st.Panicked != 1 || st.Keys != 0 || st.Running != 0 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// RWMutexStats splits the waiting callers by lane.
func TestRWMutexWaitingByLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m RWMutex[string]
		bg := context.Background()
		if err := m.RLock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		wr := start(func() error { return m.Lock(bg, "k") })
		synctest.Wait()
		rd := start(func() error { return m.RLock(bg, "k") }) // behind the writer
		synctest.Wait()
		want := RWMutexStats{Keys: 1, ReadInUse: 1, Waiting: 2, ReadWaiting: 1, WriteWaiting: 1, Admitted: 1}
		if st := m.Stats(); st != want {
			t.Fatalf("Stats = %+v, want %+v", st, want)
		}
		m.RUnlock("k")
		if err := wr.wait(); err != nil {
			t.Fatal(err)
		}
		want = RWMutexStats{Keys: 1, WriteInUse: 1, Waiting: 1, ReadWaiting: 1, Admitted: 2}
		if st := m.Stats(); st != want {
			t.Fatalf("Stats = %+v, want %+v", st, want)
		}
		m.Close()
		if err := rd.wait(); !errors.Is(err, ErrClosed) {
			t.Fatalf("reader got %v, want ErrClosed", err)
		}
		want = RWMutexStats{Keys: 1, WriteInUse: 1, Admitted: 2, Closed: true}
		if st := m.Stats(); st != want {
			t.Fatalf("Stats = %+v, want %+v", st, want)
		}
		m.Unlock("k")
		if m.Len() != 0 {
			t.Fatal("entry left")
		}
	})
}
