package gate_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/gate"
)

// after advances the bubble's clock by d.
func after(d time.Duration) { <-time.After(d) }

// waits collects what an OnWait hook sees.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) hook(d time.Duration) { w.mu.Lock(); w.d = append(w.d, d); w.mu.Unlock() }

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.d)
}

// TestLaneFigures: in a bubble, where time is exact. A write holds the
// gate; a Read, a ReadInline and a Write queue behind it one second apart,
// and a Stream waits for the one slot a stream holds. Each lane shows its
// own oldest wait; when the holders finish, each waiter reports its exact
// wait to the one OnWait hook, and the totals add up.
func TestLaneFigures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(2), gate.WithStreams(1), gate.WithReadDeadline(time.Minute),
			gate.WithStreamLifetime(time.Hour), gate.WithHook(func(gate.Event) {}))
		defer g.Close()
		var w waits
		stop := g.OnWait(w.hook)
		ctx := context.Background()

		// Uncontended: admitted, no wait reported.
		if err := g.ReadInline(ctx, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		writer := newJob(false)
		wDone := call(func() error { return g.Write(ctx, writer.fn) })
		<-writer.entered
		stream := newJob(false)
		if err := g.Stream(ctx, stream.fn); err != nil {
			t.Fatal(err)
		}
		<-stream.entered

		read, inline, write2, stream2 := newJob(false), newJob(false), newJob(false), newJob(false)
		rDone := call(func() error { return g.Read(ctx, read.fn) })
		synctest.Wait()
		after(time.Second)
		iDone := call(func() error { return g.ReadInline(ctx, inline.fn) })
		synctest.Wait()
		after(time.Second)
		w2Done := call(func() error { return g.Write(ctx, write2.fn) })
		s2Done := call(func() error { return g.Stream(ctx, stream2.fn) })
		synctest.Wait()
		after(time.Second)

		st := g.Stats()
		if st.ReadWaiting != 2 || st.ReadOldestWait != 3*time.Second || st.WriteWaiting != 1 || st.WriteOldestWait != time.Second ||
			st.StreamWaiting != 1 || st.StreamOldestWait != time.Second {
			t.Fatalf("waiting: %+v", st)
		}
		if st.ReadAdmitted != 1 || st.WriteAdmitted != 1 || st.StreamAdmitted != 1 {
			t.Fatalf("admitted: %+v", st)
		}
		if len(w.list()) != 0 {
			t.Fatalf("waits %v before anyone waited through", w.list())
		}

		close(writer.release) // both reads go in, after 3 s and 2 s
		if err := <-wDone; err != nil {
			t.Fatal(err)
		}
		<-read.entered
		<-inline.entered
		close(stream.release) // the second stream goes in, after 1 s
		<-stream2.entered
		if got, want := w.list(), []time.Duration{3 * time.Second, 2 * time.Second, time.Second}; !slices.Equal(sorted(got), sorted(want)) {
			t.Fatalf("waits %v, want %v", got, want)
		}
		stop()
		stop() // idempotent
		after(time.Second)
		close(read.release)
		close(inline.release)
		for _, ch := range []<-chan error{rDone, iDone} {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
		<-write2.entered // waited 4 s; the hook is gone
		close(write2.release)
		close(stream2.release)
		if err := <-w2Done; err != nil {
			t.Fatal(err)
		}
		if err := <-s2Done; err != nil {
			t.Fatal(err)
		}
		if err := g.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(w.list()); n != 3 {
			t.Fatalf("%d waits reported, want 3 (the hook was removed)", n)
		}
		st = g.Stats()
		want := gate.Stats{ReadCapacity: 2, StreamCapacity: 1, ReadAdmitted: 3, WriteAdmitted: 2, StreamAdmitted: 2}
		if st != want {
			t.Fatalf("Stats %+v\nwant  %+v", st, want)
		}
	})
}

func sorted(d []time.Duration) []time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d
}

// TestCancelledByLane: a wait cancelled in each lane counts in that
// lane's Cancelled; so does a Read whose caller is cancelled while fn
// runs. A wait that ends at the deadline counts in TimedOut instead, and
// a call made with a ctx already done counts nowhere.
func TestCancelledByLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(1), gate.WithStreams(1), gate.WithReadDeadline(time.Minute), gate.WithHook(func(gate.Event) {}))
		defer g.Close()
		var w waits
		defer g.OnWait(w.hook)()
		bg := context.Background()
		holder, sholder := newJob(false), newJob(false)
		hDone := call(func() error { return g.ReadInline(bg, holder.fn) })
		<-holder.entered
		if err := g.Stream(bg, sholder.fn); err != nil {
			t.Fatal(err)
		}
		<-sholder.entered

		ctx, cancel := context.WithCancel(bg)
		var chs []<-chan error
		for _, f := range []func(context.Context, func(context.Context) error) error{g.Read, g.ReadInline, g.Write, g.Stream} {
			chs = append(chs, call(func() error { return f(ctx, func(context.Context) error { return nil }) }))
		}
		synctest.Wait()
		if st := g.Stats(); st.ReadWaiting != 2 || st.WriteWaiting != 1 || st.StreamWaiting != 1 {
			t.Fatalf("waiting: %+v", st)
		}
		cancel()
		for _, ch := range chs {
			if err := <-ch; !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want Canceled", err)
			}
		}
		// Already done: no wait, not counted.
		for _, f := range []func(context.Context, func(context.Context) error) error{g.Read, g.ReadInline, g.Write, g.Stream} {
			if err := f(ctx, func(context.Context) error { return nil }); !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want Canceled", err)
			}
		}
		// The gate's deadline: TimedOut, not Cancelled.
		tctx, tcancel := context.WithTimeout(bg, time.Second)
		if err := g.Read(tctx, func(context.Context) error { return nil }); !errors.Is(err, gate.ErrDeadline) {
			t.Fatalf("got %v, want a deadline", err)
		}
		tcancel()
		close(holder.release)
		if err := <-hDone; err != nil {
			t.Fatal(err)
		}
		// A Read cancelled while its fn runs (and ignores ctx).
		overdue := newJob(false)
		rctx, rcancel := context.WithCancel(bg)
		rDone := call(func() error { return g.Read(rctx, overdue.fn) })
		<-overdue.entered
		rcancel()
		if err := <-rDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want Canceled", err)
		}
		close(overdue.release)
		close(sholder.release)
		if err := g.Wait(bg); err != nil {
			t.Fatal(err)
		}
		st := g.Stats()
		if st.ReadCancelled != 3 || st.WriteCancelled != 1 || st.StreamCancelled != 1 || st.TimedOut != 1 {
			t.Fatalf("cancelled %d/%d/%d, timed out %d; want 3/1/1, 1", st.ReadCancelled, st.WriteCancelled, st.StreamCancelled, st.TimedOut)
		}
		if st.ReadAdmitted != 2 || st.WriteAdmitted != 0 || st.StreamAdmitted != 1 {
			t.Fatalf("admitted %d/%d/%d; want 2/0/1", st.ReadAdmitted, st.WriteAdmitted, st.StreamAdmitted)
		}
		if n := len(w.list()); n != 0 {
			t.Fatalf("%d waits reported; no waiter was admitted", n)
		}
	})
}

// TestPanickedByLane: fns that panic or call runtime.Goexit count in
// their lane's Panicked, whether the panic reaches the caller (Read,
// ReadInline, Write) or the hook (Stream).
func TestPanickedByLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithHook(func(gate.Event) {}))
		defer g.Close()
		bg := context.Background()
		mustPanic := func(f func()) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}
		mustPanic(func() { _ = g.Read(bg, panickyFn) })
		mustPanic(func() { _ = g.ReadInline(bg, panickyFn) })
		mustPanic(func() { _ = g.Write(bg, panickyFn) })
		if err := g.Read(bg, func(context.Context) error { runtime.Goexit(); return nil }); err == nil {
			t.Fatal("Read with Goexit returned nil")
		}
		goexited := make(chan struct{})
		go func() {
			defer close(goexited)
			_ = g.ReadInline(bg, func(context.Context) error { runtime.Goexit(); return nil })
		}()
		<-goexited
		if err := g.Stream(bg, panickyFn); err != nil {
			t.Fatal(err)
		}
		if err := g.Wait(bg); err != nil {
			t.Fatal(err)
		}
		st := g.Stats()
		if st.ReadPanicked != 4 || st.WritePanicked != 1 || st.StreamPanicked != 1 {
			t.Fatalf("panicked %d/%d/%d; want 4/1/1", st.ReadPanicked, st.WritePanicked, st.StreamPanicked)
		}
		if st.ReadInUse != 0 || st.WriteInUse != 0 || st.StreamInUse != 0 || st.ReadAdmitted != 4 || st.WriteAdmitted != 1 || st.StreamAdmitted != 1 {
			t.Fatalf("Stats %+v", st)
		}
	})
}

// TestOnWaitPanicGivesPermitBack: a hook that panics reaches the caller
// that waited, which holds nothing afterwards.
func TestOnWaitPanicGivesPermitBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(1), gate.WithHook(func(gate.Event) {}))
		defer g.Close()
		bg := context.Background()
		stop := g.OnWait(func(time.Duration) { panic("hook") })
		for name, f := range map[string]func(context.Context, func(context.Context) error) error{
			"Read": g.Read, "ReadInline": g.ReadInline, "Write": g.Write,
		} {
			holder := newJob(false)
			hDone := call(func() error { return g.ReadInline(bg, holder.fn) })
			<-holder.entered
			got := make(chan any)
			go func() {
				defer func() { got <- recover() }()
				_ = f(bg, func(context.Context) error {
					t.Errorf("%s: fn ran after its hook panicked", name)
					return nil
				})
			}()
			synctest.Wait()
			close(holder.release)
			<-hDone
			if r := <-got; r != "hook" {
				t.Fatalf("%s: recovered %v, want the hook's panic", name, r)
			}
			if st := g.Stats(); st.ReadInUse != 0 || st.WriteInUse != 0 {
				t.Fatalf("%s: %+v after the hook's panic", name, st)
			}
		}
		stop()
		if err := g.Write(bg, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := g.Wait(bg); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOnWaitNil(t *testing.T) {
	conctest.MustPanic(t, func() { gate.New().OnWait(nil) }, "gate: OnWait with nil func")
}

// TestTraceRegions: a call that waits is wrapped in a runtime/trace
// region named for its method and lane.
func TestTraceRegions(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("trace.Start: %v (another trace is running)", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			trace.Stop()
		}
	}()
	g := gate.New(gate.WithReaders(1), gate.WithStreams(1), gate.WithHook(func(gate.Event) {}))
	defer g.Close()
	bg := context.Background()
	noop := func(context.Context) error { return nil }
	for _, f := range []func(context.Context, func(context.Context) error) error{g.Read, g.ReadInline, g.Write} {
		holder := newJob(false)
		hDone := call(func() error { return g.ReadInline(bg, holder.fn) })
		<-holder.entered
		done := call(func() error { return f(bg, noop) })
		conctest.WaitFor(t, time.Minute, "a caller waiting", func() bool {
			st := g.Stats()
			return st.ReadWaiting+st.WriteWaiting == 1
		})
		close(holder.release)
		for _, ch := range []<-chan error{hDone, done} {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
	}
	holder := newJob(false)
	if err := g.Stream(bg, holder.fn); err != nil {
		t.Fatal(err)
	}
	<-holder.entered
	done := call(func() error { return g.Stream(bg, noop) })
	conctest.WaitFor(t, time.Minute, "a stream waiting", func() bool { return g.Stats().StreamWaiting == 1 })
	close(holder.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(bg); err != nil {
		t.Fatal(err)
	}
	trace.Stop()
	stopped = true
	for _, name := range []string{"sluice/gate: Read wait", "sluice/gate: ReadInline wait", "sluice/gate: Write wait", "sluice/gate: Stream wait"} {
		if !bytes.Contains(buf.Bytes(), []byte(name)) {
			t.Errorf("no region %q in the trace", name)
		}
	}
	if strings.Count(buf.String(), "sluice/gate:") < 4 {
		t.Error("fewer than four gate regions")
	}
}
