package gate_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/gate"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// job is a fn the test controls: it signals when it starts and returns
// when released (or, if it honours ctx, when its ctx ends).
type job struct {
	entered chan struct{}
	release chan struct{}
	honour  bool
	ret     error
	ctxErr  chan error // what fn saw as ctx.Err() when it returned (buffered)
}

func newJob(honour bool) *job {
	return &job{entered: make(chan struct{}), release: make(chan struct{}), honour: honour, ctxErr: make(chan error, 1)}
}

func (j *job) fn(ctx context.Context) error {
	close(j.entered)
	if j.honour {
		select {
		case <-j.release:
		case <-ctx.Done():
			j.ctxErr <- ctx.Err()
			return ctx.Err()
		}
	} else {
		<-j.release
	}
	j.ctxErr <- ctx.Err()
	return j.ret
}

func (j *job) started() bool {
	select {
	case <-j.entered:
		return true
	default:
		return false
	}
}

// call runs f on a new goroutine and returns a channel with its result.
func call(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func ready(ch <-chan error) (error, bool) {
	select {
	case err := <-ch:
		return err, true
	default:
		return nil, false
	}
}

// events collects hook events.
type events struct {
	mu sync.Mutex
	ev []gate.Event
}

func (e *events) hook(ev gate.Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *events) list() []gate.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]gate.Event(nil), e.ev...)
}

// In a bubble, so the 5 s read deadline cannot pass on a loaded machine.
func TestReadReturnsFnResult(t *testing.T) { synctest.Test(t, testReadReturnsFnResult) }

func testReadReturnsFnResult(t *testing.T) {
	g := gate.New()
	defer g.Close()
	want := errors.New("boom")
	if err := g.Read(context.Background(), func(context.Context) error { return want }); err != want {
		t.Fatalf("Read = %v, want %v", err, want)
	}
	if err := g.ReadInline(context.Background(), func(context.Context) error { return want }); err != want {
		t.Fatalf("ReadInline = %v, want %v", err, want)
	}
	if err := g.Write(context.Background(), func(context.Context) error { return want }); err != want {
		t.Fatalf("Write = %v, want %v", err, want)
	}
	st := g.Stats()
	if st.ReadCapacity != gate.DefaultReaders || st.StreamCapacity != gate.DefaultStreams || st.ReadInUse != 0 || st.WriteInUse != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestReadFnCtxHasDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReadDeadline(3 * time.Second))
		defer g.Close()
		start := time.Now()
		for _, read := range []func(context.Context, func(context.Context) error) error{g.Read} {
			err := read(context.Background(), func(ctx context.Context) error {
				dl, ok := ctx.Deadline()
				if !ok || !dl.Equal(start.Add(3*time.Second)) {
					t.Errorf("fn ctx deadline = %v, %v; want %v", dl, ok, start.Add(3*time.Second))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// A shorter ctx deadline wins.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = read(ctx, func(fctx context.Context) error {
				dl, _ := fctx.Deadline()
				if !dl.Equal(start.Add(time.Second)) {
					t.Errorf("fn ctx deadline = %v, want the caller's %v", dl, start.Add(time.Second))
				}
				return nil
			})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestReadersCapAndFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(2))
		defer g.Close()
		var jobs []*job
		var res []<-chan error
		for range 5 {
			j := newJob(false)
			jobs = append(jobs, j)
			res = append(res, call(func() error { return g.Read(context.Background(), j.fn) }))
			synctest.Wait() // arrival order is launch order
		}
		if !jobs[0].started() || !jobs[1].started() || jobs[2].started() {
			t.Fatal("want exactly the first two reads running")
		}
		if st := g.Stats(); st.ReadInUse != 2 || st.ReadWaiting != 3 {
			t.Fatalf("Stats = %+v, want 2 in flight, 3 waiting", st)
		}
		close(jobs[1].release)
		synctest.Wait()
		if !jobs[2].started() || jobs[3].started() {
			t.Fatal("want the third read (oldest waiter) admitted, not the fourth")
		}
		for _, j := range jobs {
			select {
			case <-j.release:
			default:
				close(j.release)
			}
		}
		for _, r := range res {
			if err := <-r; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestWriteDrainsReadsAndBlocksLaterReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(3))
		defer g.Close()
		var tr conctest.Tracker // reads and writes together: a write must be alone
		var writing bool
		var mu sync.Mutex
		early := make([]*job, 3)
		var res []<-chan error
		for i := range early {
			early[i] = newJob(false)
			j := early[i]
			res = append(res, call(func() error {
				return g.Read(context.Background(), func(ctx context.Context) error {
					defer tr.Enter()()
					mu.Lock()
					if writing {
						t.Error("read ran during a write")
					}
					mu.Unlock()
					return j.fn(ctx)
				})
			}))
		}
		synctest.Wait()
		wrote := make(chan struct{})
		w := call(func() error {
			return g.Write(context.Background(), func(context.Context) error {
				defer tr.Enter()()
				mu.Lock()
				writing = true
				if tr.Current() != 1 {
					t.Errorf("write overlaps %d other calls", tr.Current()-1)
				}
				mu.Unlock()
				close(wrote)
				mu.Lock()
				writing = false
				mu.Unlock()
				return nil
			})
		})
		synctest.Wait()
		if st := g.Stats(); st.WriteWaiting != 1 || st.WriteInUse != 0 {
			t.Fatalf("Stats = %+v, want one writer waiting", st)
		}
		late := newJob(false)
		lateRes := call(func() error { return g.Read(context.Background(), late.fn) })
		synctest.Wait()
		if late.started() {
			t.Fatal("a read that arrived after a waiting write ran before it")
		}
		if st := g.Stats(); st.ReadWaiting != 1 {
			t.Fatalf("Stats = %+v, want the late read waiting", st)
		}
		close(early[0].release)
		close(early[1].release)
		synctest.Wait()
		select {
		case <-wrote:
			t.Fatal("write ran before the drain finished")
		default:
		}
		close(early[2].release)
		if err := <-w; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !late.started() {
			t.Fatal("late read not admitted after the write")
		}
		close(late.release)
		for _, r := range append(res, lateRes) {
			if err := <-r; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestWriteWaitEndsOnCtxAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(1))
		j := newJob(false)
		r := call(func() error { return g.Read(context.Background(), j.fn) })
		synctest.Wait()

		ctx, cancel := context.WithCancel(context.Background())
		w := call(func() error { return g.Write(ctx, func(context.Context) error { t.Error("write ran"); return nil }) })
		synctest.Wait()
		later := newJob(false)
		lr := call(func() error { return g.Read(context.Background(), later.fn) })
		synctest.Wait()
		if later.started() {
			t.Fatal("read ran ahead of the waiting write")
		}
		cancel()
		if err := <-w; !errors.Is(err, context.Canceled) {
			t.Fatalf("Write = %v, want context.Canceled", err)
		}
		// The write left the queue: nothing blocks the read behind it but
		// the single permit, which j holds.
		close(j.release)
		if err := <-r; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !later.started() {
			t.Fatal("read behind a cancelled write not admitted")
		}

		start := time.Now()
		w2 := call(func() error {
			return g.Write(context.Background(), func(context.Context) error { t.Error("write ran"); return nil })
		})
		synctest.Wait()
		g.Close()
		if err := <-w2; !errors.Is(err, gate.ErrClosed) {
			t.Fatalf("Write = %v, want ErrClosed", err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("Write took %v after Close", d)
		}
		// Close cancelled the running read's ctx and returned ErrClosed to its caller.
		if err := <-lr; !errors.Is(err, gate.ErrClosed) {
			t.Fatalf("running Read after Close = %v, want ErrClosed", err)
		}
		close(later.release)
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := g.Write(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, gate.ErrClosed) {
			t.Fatalf("Write after Close = %v", err)
		}
	})
}

func TestReadDeadlineFnIgnoresCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := gate.New(gate.WithReaders(2), gate.WithReadDeadline(2*time.Second), gate.WithHook(ev.hook))
		defer g.Close()
		j := newJob(false) // ignores its ctx
		start := time.Now()
		r := call(func() error { return g.Read(gate.Op(context.Background(), "GetLogs"), j.fn) })
		err := <-r
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("Read returned after %v, want exactly the deadline", d)
		}
		if !errors.Is(err, gate.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read = %v, want ErrDeadline and context.DeadlineExceeded", err)
		}
		var de *gate.DeadlineError
		if !errors.As(err, &de) || de.Op != "GetLogs" || de.Lane != "read" || de.Waiting || de.Limit != 2*time.Second {
			t.Fatalf("DeadlineError = %+v", de)
		}
		if !strings.HasPrefix(err.Error(), "gate: GetLogs:") {
			t.Fatalf("message %q", err)
		}
		st := g.Stats()
		if st.ReadOverdue != 1 || st.ReadInUse != 1 || st.TimedOut != 1 {
			t.Fatalf("Stats = %+v, want 1 overdue read still in flight", st)
		}
		if e := ev.list(); len(e) != 1 || e[0].Kind != gate.Overdue || e[0].Op != "GetLogs" || e[0].Lane != "read" || !errors.Is(e[0].Err, gate.ErrDeadline) {
			t.Fatalf("events = %+v", e)
		}
		// The overdue read still holds its permit: a write waits for it.
		w := call(func() error { return g.Write(context.Background(), func(context.Context) error { return nil }) })
		synctest.Wait()
		if _, ok := ready(w); ok {
			t.Fatal("write overlapped an overdue read")
		}
		close(j.release)
		if err := <-w; err != nil {
			t.Fatal(err)
		}
		if got := <-j.ctxErr; !errors.Is(got, context.DeadlineExceeded) {
			t.Fatalf("fn's ctx.Err() = %v, want DeadlineExceeded", got)
		}
		synctest.Wait() // the Late event comes just after the permit is back
		e := ev.list()
		if len(e) != 2 || e[1].Kind != gate.Late || e[1].Op != "GetLogs" || e[1].Elapsed != 2*time.Second {
			t.Fatalf("events = %+v", e)
		}
		if st := g.Stats(); st.ReadOverdue != 0 || st.ReadInUse != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		// The permit is back: the next read succeeds.
		if err := g.Read(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestReadDeadlineFnHonoursCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := gate.New(gate.WithReadDeadline(time.Second), gate.WithHook(ev.hook))
		defer g.Close()
		j := newJob(true)
		start := time.Now()
		err := g.Read(context.Background(), j.fn)
		if !errors.Is(err, gate.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("= %v, want ErrDeadline", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("returned after %v", d)
		}
		synctest.Wait()
		if st := g.Stats(); st.ReadOverdue != 0 || st.ReadInUse != 0 || st.TimedOut != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		// Read may see the deadline before fn does (then fn is overdue for
		// an instant); either way the permit is back by now.
		for _, e := range ev.list() {
			if e.Kind == gate.Panicked {
				t.Fatalf("unexpected event %+v", e)
			}
		}
	})
}

func TestReadInlineUsesCallerCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReadDeadline(time.Second))
		defer g.Close()
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, 1)
		err := g.ReadInline(ctx, func(fctx context.Context) error {
			if fctx != ctx {
				t.Error("fn did not get the caller's ctx")
			}
			if _, ok := fctx.Deadline(); ok {
				t.Error("inline fn's ctx has a deadline the caller did not set")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The caller's deadline reaches fn; its error passes through.
		dctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		j := newJob(true)
		start := time.Now()
		err = g.ReadInline(dctx, j.fn)
		if err != context.DeadlineExceeded {
			t.Fatalf("ReadInline = %v, want fn's context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("returned after %v", d)
		}
		if st := g.Stats(); st.ReadInUse != 0 || st.TimedOut != 0 || st.ReadOverdue != 0 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

func TestReadCallerCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := gate.New(gate.WithHook(ev.hook))
		defer g.Close()
		j := newJob(false)
		ctx, cancel := context.WithCancel(context.Background())
		r := call(func() error { return g.Read(ctx, j.fn) })
		synctest.Wait()
		cancel()
		if err := <-r; !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want Canceled", err)
		}
		if st := g.Stats(); st.ReadOverdue != 1 || st.TimedOut != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		close(j.release)
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e := ev.list(); len(e) != 2 || e[0].Kind != gate.Overdue || e[1].Kind != gate.Late {
			t.Fatalf("events = %+v", e)
		}
	})
}

func TestReadWaitDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(1), gate.WithReadDeadline(time.Second))
		defer g.Close()
		hold := make(chan struct{})
		w := call(func() error {
			return g.Write(context.Background(), func(context.Context) error { <-hold; return nil })
		})
		synctest.Wait()
		for _, read := range []func(context.Context, func(context.Context) error) error{g.Read, g.ReadInline} {
			start := time.Now()
			err := read(gate.Op(context.Background(), "BlockByHash"), func(context.Context) error {
				t.Error("fn ran during a write")
				return nil
			})
			var de *gate.DeadlineError
			if !errors.As(err, &de) || !de.Waiting || de.Op != "BlockByHash" {
				t.Fatalf("= %v, want a waiting DeadlineError", err)
			}
			if d := time.Since(start); d != time.Second {
				t.Fatalf("returned after %v", d)
			}
		}
		close(hold)
		if err := <-w; err != nil {
			t.Fatal(err)
		}
		if st := g.Stats(); st.TimedOut != 2 || st.ReadWaiting != 0 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

func TestReadAlreadyCancelledCtx(t *testing.T) {
	g := gate.New()
	defer g.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fn := func(context.Context) error { t.Error("fn ran"); return nil }
	for name, f := range map[string]func(context.Context, func(context.Context) error) error{
		"Read": g.Read, "ReadInline": g.ReadInline, "Write": g.Write, "Stream": g.Stream,
	} {
		if err := f(ctx, fn); !errors.Is(err, context.Canceled) {
			t.Errorf("%s = %v, want Canceled", name, err)
		}
	}
}

// In a bubble, so the 5 s read deadline cannot pass on a loaded machine.
func TestReadPanicReachesCaller(t *testing.T) { synctest.Test(t, testReadPanicReachesCaller) }

func testReadPanicReachesCaller(t *testing.T) {
	g := gate.New(gate.WithReaders(1))
	defer g.Close()
	func() {
		defer func() {
			r := recover()
			pe, ok := r.(*gate.PanicError)
			if !ok {
				t.Fatalf("recovered %T %v, want *gate.PanicError", r, r)
			}
			if pe.Value != "kaput" || pe.Op != `gate: read "Decode"` || pe.Goexit || !bytes.Contains(pe.Stack, []byte("panickyFn")) {
				t.Fatalf("PanicError = %v / %q\n%s", pe.Value, pe.Op, pe.Stack)
			}
			if !strings.HasPrefix(pe.Error(), `gate: read "Decode" panicked: kaput`) {
				t.Fatalf("message %q", pe.Error())
			}
		}()
		_ = g.Read(gate.Op(context.Background(), "Decode"), panickyFn)
		t.Fatal("Read returned")
	}()
	// The permit is back.
	if st := g.Stats(); st.ReadInUse != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if err := g.Write(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// An error value is reachable with errors.Is through the PanicError.
	sentinel := errors.New("sentinel")
	func() {
		defer func() {
			pe, _ := recover().(*gate.PanicError)
			if !errors.Is(pe, sentinel) {
				t.Fatalf("PanicError does not unwrap to the panic's error: %v", pe)
			}
		}()
		_ = g.Read(context.Background(), func(context.Context) error { panic(sentinel) })
	}()
}

func panickyFn(context.Context) error { panic("kaput") }

// In a bubble, so the 5 s read deadline cannot pass on a loaded machine.
func TestReadGoexit(t *testing.T) { synctest.Test(t, testReadGoexit) }

func testReadGoexit(t *testing.T) {
	g := gate.New(gate.WithReaders(1))
	defer g.Close()
	err := g.Read(context.Background(), func(context.Context) error { runtime.Goexit(); return nil })
	var pe *gate.PanicError
	if err == nil || !strings.Contains(err.Error(), "Goexit") || !errors.As(err, &pe) || !pe.Goexit || pe.Op != "gate: read" {
		t.Fatalf("Read = %v", err)
	}
	if err := g.Write(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestInlineAndWritePanicPropagate(t *testing.T) {
	g := gate.New(gate.WithReaders(1))
	defer g.Close()
	for name, f := range map[string]func(context.Context, func(context.Context) error) error{"ReadInline": g.ReadInline, "Write": g.Write} {
		func() {
			defer func() {
				if r := recover(); r != "kaput" {
					t.Fatalf("%s: recovered %v, want the original value", name, r)
				}
			}()
			_ = f(context.Background(), panickyFn)
		}()
		if st := g.Stats(); st.ReadInUse != 0 || st.WriteInUse != 0 {
			t.Fatalf("%s: Stats after panic = %+v", name, st)
		}
	}
	if err := g.Write(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestStreamIsolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReaders(4), gate.WithStreams(2), gate.WithReadDeadline(time.Second), gate.WithHook(func(gate.Event) {}))
		defer g.Close()
		// All read permits held.
		reads := make([]*job, 4)
		var rr []<-chan error
		for i := range reads {
			reads[i] = newJob(false)
			j := reads[i]
			rr = append(rr, call(func() error { return g.Read(context.Background(), j.fn) }))
		}
		synctest.Wait()
		// A stream starts at once.
		streams := make([]*job, 2)
		for i := range streams {
			streams[i] = newJob(true)
			if err := g.Stream(context.Background(), streams[i].fn); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		for _, s := range streams {
			if !s.started() {
				t.Fatal("stream not started while reads hold every permit")
			}
		}
		// With every slot held a third stream gives up at the setup
		// deadline, without taking a read permit.
		start := time.Now()
		s3 := call(func() error {
			return g.Stream(gate.Op(context.Background(), "StreamLogs"), func(context.Context) error { t.Error("third stream ran"); return nil })
		})
		synctest.Wait()
		if st := g.Stats(); st.StreamWaiting != 1 || st.StreamInUse != 2 || st.ReadInUse != 4 || st.ReadWaiting != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		err := <-s3
		var de *gate.DeadlineError
		if !errors.As(err, &de) || de.Lane != "stream" || !de.Waiting || de.Op != "StreamLogs" || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stream = %v, want a waiting stream DeadlineError", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("Stream gave up after %v", d)
		}
		// A write completes while both streams run.
		for _, j := range reads {
			close(j.release)
		}
		if err := g.Write(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if st := g.Stats(); st.StreamInUse != 2 {
			t.Fatalf("Stats = %+v", st)
		}
		for _, r := range rr {
			if err := <-r; !errors.Is(err, gate.ErrDeadline) && err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range streams {
			close(s.release)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStreamLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithStreamLifetime(10 * time.Second))
		defer g.Close()
		start := time.Now()
		ended := make(chan time.Duration, 2)
		fn := func(ctx context.Context) error {
			<-ctx.Done()
			ended <- time.Since(start)
			return nil
		}
		if err := g.Stream(context.Background(), fn); err != nil {
			t.Fatal(err)
		}
		if d := <-ended; d != 10*time.Second {
			t.Fatalf("stream ctx ended after %v, want the lifetime", d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start = time.Now()
		if err := g.Stream(ctx, fn); err != nil {
			t.Fatal(err)
		}
		if d := <-ended; d != 3*time.Second {
			t.Fatalf("stream ctx ended after %v, want the caller's deadline", d)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStreamPanicReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := gate.New(gate.WithStreams(1), gate.WithHook(ev.hook))
		defer g.Close()
		if err := g.Stream(gate.Op(context.Background(), "StreamLogs"), panickyFn); err != nil {
			t.Fatal(err)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		e := ev.list()
		var pe *gate.PanicError
		if len(e) != 1 || e[0].Kind != gate.Panicked || e[0].Lane != "stream" || !errors.As(e[0].Err, &pe) || pe.Value != "kaput" {
			t.Fatalf("events = %+v", e)
		}
		// The slot is back.
		if err := g.Stream(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCloseFailsEveryLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := gate.New(gate.WithReaders(2), gate.WithStreams(1), gate.WithHook(ev.hook))
		running := []*job{newJob(false), newJob(false)} // ignore ctx: overdue after Close
		var rr []<-chan error
		for _, j := range running {
			rr = append(rr, call(func() error { return g.Read(context.Background(), j.fn) }))
		}
		synctest.Wait()
		waitingRead := call(func() error { return g.Read(context.Background(), newJob(false).fn) })
		waitingInline := call(func() error { return g.ReadInline(context.Background(), newJob(false).fn) })
		synctest.Wait()
		waitingWrite := call(func() error { return g.Write(context.Background(), newJob(false).fn) })
		stream := newJob(true)
		if err := g.Stream(context.Background(), stream.fn); err != nil {
			t.Fatal(err)
		}
		waitingStream := call(func() error { return g.Stream(context.Background(), newJob(false).fn) })
		synctest.Wait()
		if st := g.Stats(); st.ReadWaiting != 2 || st.WriteWaiting != 1 || st.StreamWaiting != 1 || st.StreamInUse != 1 {
			t.Fatalf("Stats = %+v", st)
		}

		start := time.Now()
		g.Close()
		for name, ch := range map[string]<-chan error{
			"running read 0": rr[0], "running read 1": rr[1], "waiting read": waitingRead,
			"waiting inline read": waitingInline, "waiting write": waitingWrite, "waiting stream": waitingStream,
		} {
			if err := <-ch; !errors.Is(err, gate.ErrClosed) {
				t.Errorf("%s = %v, want ErrClosed", name, err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("callers returned %v after Close", d)
		}
		if got := <-stream.ctxErr; !errors.Is(got, context.Canceled) {
			t.Fatalf("stream ctx = %v, want Canceled", got)
		}
		st := g.Stats()
		if !st.Closed || st.ReadOverdue != 2 || st.ReadInUse != 2 {
			t.Fatalf("Stats after Close = %+v", st)
		}
		// Later calls fail.
		fn := func(context.Context) error { t.Error("fn ran after Close"); return nil }
		for name, f := range map[string]func(context.Context, func(context.Context) error) error{
			"Read": g.Read, "ReadInline": g.ReadInline, "Write": g.Write, "Stream": g.Stream,
		} {
			if err := f(context.Background(), fn); !errors.Is(err, gate.ErrClosed) {
				t.Errorf("%s after Close = %v", name, err)
			}
		}
		// Wait waits for the overdue fns.
		wctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := g.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait with overdue fns running = %v", err)
		}
		cancel()
		close(running[0].release)
		close(running[1].release)
		for _, j := range running {
			if got := <-j.ctxErr; !errors.Is(got, context.Canceled) {
				t.Fatalf("running read's ctx after Close = %v, want Canceled", got)
			}
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e := ev.list(); len(e) != 0 {
			t.Fatalf("Close-abandoned reads reported: %+v", e)
		}
		g.Close() // idempotent
	})
}

func TestCloseLeavesInlineReadRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New()
		j := newJob(true)
		r := call(func() error { return g.ReadInline(context.Background(), j.fn) })
		synctest.Wait()
		g.Close()
		synctest.Wait()
		if _, ok := ready(r); ok {
			t.Fatal("Close reached a running inline read")
		}
		if st := g.Stats(); st.ReadInUse != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		close(j.release)
		if err := <-r; err != nil {
			t.Fatal(err)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New()
		defer g.Close()
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		jobs := []*job{newJob(false), newJob(false), newJob(false), newJob(true)}
		r0 := call(func() error { return g.Read(context.Background(), jobs[0].fn) })
		r1 := call(func() error { return g.ReadInline(context.Background(), jobs[1].fn) })
		r2 := call(func() error { return g.Write(context.Background(), jobs[2].fn) })
		if err := g.Stream(context.Background(), jobs[3].fn); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		waited := call(func() error { return g.Wait(context.Background()) })
		for _, j := range jobs {
			synctest.Wait()
			if _, ok := ready(waited); ok {
				t.Fatal("Wait returned while work runs")
			}
			close(j.release)
		}
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
		for _, r := range []<-chan error{r0, r1, r2} {
			if err := <-r; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestDefaultHookLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		var mu sync.Mutex
		old := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&buf, &mu}, nil)))
		defer slog.SetDefault(old)
		g := gate.New(gate.WithReadDeadline(time.Second))
		defer g.Close()
		j := newJob(false)
		if err := g.Read(gate.Op(context.Background(), "GetLogs"), j.fn); !errors.Is(err, gate.ErrDeadline) {
			t.Fatal(err)
		}
		close(j.release)
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if strings.Count(out, "op=GetLogs") != 2 || !strings.Contains(out, "overdue") || !strings.Contains(out, "level=WARN") {
			t.Fatalf("log = %q", out)
		}
	})
}

func TestWithLoggerHookLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		var mu sync.Mutex
		var def bytes.Buffer
		old := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&def, &mu}, nil)))
		defer slog.SetDefault(old)
		g := gate.New(gate.WithReadDeadline(time.Second), gate.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&buf, &mu}, nil))))
		defer g.Close()
		j := newJob(false)
		if err := g.Read(gate.Op(context.Background(), "GetLogs"), j.fn); !errors.Is(err, gate.ErrDeadline) {
			t.Fatal(err)
		}
		close(j.release)
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		out, other := buf.String(), def.String()
		mu.Unlock()
		if strings.Count(out, "op=GetLogs") != 2 || other != "" {
			t.Fatalf("log = %q, default log = %q", out, other)
		}
	})
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestReadValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := gate.New(gate.WithReadDeadline(time.Second))
		defer g.Close()
		v, err := gate.ReadValue(context.Background(), g, func(context.Context) (int, error) { return 7, nil })
		if v != 7 || err != nil {
			t.Fatalf("ReadValue = %v, %v", v, err)
		}
		// Past the deadline the caller gets the zero value; the late fn's
		// write is never read (the race detector would see it otherwise).
		release := make(chan struct{})
		v, err = gate.ReadValue(context.Background(), g, func(context.Context) (int, error) { <-release; return 8, nil })
		if v != 0 || !errors.Is(err, gate.ErrDeadline) {
			t.Fatalf("ReadValue = %v, %v", v, err)
		}
		close(release)
		if err := g.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
