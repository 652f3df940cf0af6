package loop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// after advances the bubble's clock by d.
func after(d time.Duration) { <-time.After(d) }

type waitLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waitLog) hook(d time.Duration) { w.mu.Lock(); w.d = append(w.d, d); w.mu.Unlock() }

func (w *waitLog) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.d)
}

// TestFigures: in a bubble, where time is exact. With the one room taken
// by a blocked handler, a Post waits from 0 s and a Do from 1 s: Waiting
// and OldestWait show them; the Do gives up (Cancelled); TryPost and a
// Post from a handler are refused (Rejected); when room frees up the Post
// is admitted and reports its 3 s wait.
func TestFigures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(1))
		var w waitLog
		stop := l.OnWait(w.hook)
		if err := l.Do(ctx, func(*counter) {}); err != nil { // uncontended: no wait reported
			t.Fatal(err)
		}
		release := make(chan struct{})
		fromHandler := make(chan error, 1)
		if err := l.Post(ctx, func(*counter) {
			fromHandler <- l.Post(ctx, func(*counter) {})
			<-release
		}); err != nil {
			t.Fatal(err)
		}
		if err := <-fromHandler; !errors.Is(err, ErrFull) {
			t.Fatalf("Post from a full loop's handler: %v", err)
		}
		posted := make(chan error, 1)
		go func() { posted <- l.Post(ctx, func(*counter) {}) }()
		synctest.Wait()
		after(time.Second)
		dctx, cancel := context.WithCancel(ctx)
		did := make(chan error, 1)
		go func() { did <- l.Do(dctx, func(*counter) { t.Error("cancelled Do ran") }) }()
		synctest.Wait()
		after(2 * time.Second)
		if err := l.TryPost(func(*counter) {}); !errors.Is(err, ErrFull) {
			t.Fatalf("TryPost on a full loop: %v", err)
		}
		st := l.Stats()
		if st.Waiting != 2 || st.OldestWait != 3*time.Second || st.Admitted != 2 || st.Rejected != 2 {
			t.Fatalf("Stats %+v; want 2 waiting, oldest 3s, 2 admitted, 2 rejected", st)
		}
		cancel()
		if err := <-did; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Do: %v", err)
		}
		if st := l.Stats(); st.Waiting != 1 || st.OldestWait != 3*time.Second || st.Cancelled != 1 {
			t.Fatalf("Stats %+v; want 1 waiting, oldest 3s, 1 cancelled", st)
		}
		close(release)
		if err := <-posted; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := w.list(); !slices.Equal(got, []time.Duration{3 * time.Second}) {
			t.Fatalf("waits %v, want the Post's 3s", got)
		}
		stop()
		stop() // idempotent
		st = l.Stats()
		if st.Waiting != 0 || st.OldestWait != 0 || st.Admitted != 3 || st.Cancelled != 1 || st.Rejected != 2 || st.Handled != 3 {
			t.Fatalf("Stats %+v", st)
		}
		closeAndWait(t, l)
	})
}

// TestDoAbandonedCancelled: a Do admitted to the queue whose ctx ends
// before its handler starts counts in Cancelled; one failed by Close does
// not.
func TestDoAbandonedCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(4))
		release := make(chan struct{})
		if err := l.Post(ctx, func(*counter) { <-release }); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithCancel(ctx)
		did := make(chan error, 1)
		go func() { did <- l.Do(dctx, func(*counter) { t.Error("abandoned Do ran") }) }()
		closed := make(chan error, 1)
		go func() { closed <- l.Do(ctx, func(*counter) { t.Error("Do ran after Close") }) }()
		synctest.Wait()
		cancel()
		if err := <-did; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		l.Close()
		if err := <-closed; !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
		close(release)
		closeAndWait(t, l)
		if st := l.Stats(); st.Cancelled != 1 || st.Admitted != 3 || st.Waiting != 0 {
			t.Fatalf("Stats %+v; want 1 cancelled, 3 admitted", st)
		}
	})
}

// TestOffloadOldestWait: with one worker busy, a work admitted at 0 s
// waits for it; OffloadOldestWait shows its wait until it starts. An
// Offload that waits for room reports its wait to OnWait.
func TestOffloadOldestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithWorkers(1), WithQueueSize(2))
		var w waitLog
		defer l.OnWait(w.hook)()
		g := conctest.NewTurnstile()
		work := func(ctx context.Context) (int, error) { return 0, g.Pass(ctx) }
		then := func(*counter, int, error) {}
		if err := Offload(ctx, l, work, then); err != nil { // starts at once: not timed
			t.Fatal(err)
		}
		if err := g.WaitBlocked(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.OffloadOldestWait != 0 || st.OffloadInUse != 1 {
			t.Fatalf("Stats %+v; want one work running, none waiting", st)
		}
		if err := Offload(ctx, l, work, then); err != nil { // waits for the worker
			t.Fatal(err)
		}
		after(time.Second)
		offloaded := make(chan error, 1)
		go func() { offloaded <- Offload(ctx, l, work, then) }() // waits for room
		synctest.Wait()
		after(time.Second)
		if st := l.Stats(); st.OffloadOldestWait != 2*time.Second || st.OffloadQueued != 1 || st.Waiting != 1 || st.OldestWait != time.Second {
			t.Fatalf("Stats %+v; want one work waiting 2s for a worker, one Offload 1s for room", st)
		}
		g.Release(1) // the first work ends; the second starts; its result frees no room yet
		if err := g.WaitBlocked(ctx, 1); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		// The first result ran: room for the third Offload, which waited 1 s.
		if err := <-offloaded; err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.OffloadOldestWait != 0 || st.OffloadQueued != 1 {
			// The third work waits for the worker too, admitted just now.
			t.Fatalf("Stats %+v", st)
		}
		after(time.Second)
		if st := l.Stats(); st.OffloadOldestWait != time.Second {
			t.Fatalf("Stats %+v; want the third work waiting 1s", st)
		}
		g.Open()
		synctest.Wait()
		if st := l.Stats(); st.OffloadOldestWait != 0 || st.OffloadQueued != 0 || st.Admitted != 3 {
			t.Fatalf("Stats %+v", st)
		}
		if got := w.list(); !slices.Equal(got, []time.Duration{time.Second}) {
			t.Fatalf("waits %v, want the third Offload's 1s", got)
		}
		closeAndWait(t, l)
	})
}

// TestOnWaitPanic: a hook that panics reaches the caller that waited; a
// Do's handler is then dropped, an Offload's room given back, and a
// Post's handler (already queued) still runs.
func TestOnWaitPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(2))
		stop := l.OnWait(func(time.Duration) { panic("hook") })
		for _, tc := range []struct {
			name   string
			call   func()
			ran    int // handlers of the call that must have run
			remain int64
		}{
			{"Do", func() { _ = l.Do(ctx, func(s *counter) { s.n++ }) }, 0, 0},
			{"Post", func() { _ = l.Post(ctx, func(s *counter) { s.n++ }) }, 1, 0},
			{"Offload", func() {
				_ = Offload(ctx, l, func(context.Context) (int, error) { return 0, nil }, func(s *counter, _ int, _ error) { s.n++ })
			}, 0, 0},
		} {
			// Two blocked handlers fill the queue; the call waits for room.
			// The first one's end frees a room while the second runs, so
			// the loop is busy when the hook panics: a Do is dropped, not
			// raced.
			relA, relB := make(chan struct{}), make(chan struct{})
			for _, rel := range []chan struct{}{relA, relB} {
				if err := l.Post(ctx, func(*counter) { <-rel }); err != nil {
					t.Fatal(err)
				}
			}
			got := make(chan any)
			go func() {
				defer func() { got <- recover() }()
				tc.call()
			}()
			synctest.Wait()
			close(relA)
			if r := <-got; r != "hook" {
				t.Fatalf("%s: recovered %v, want the hook's panic", tc.name, r)
			}
			close(relB)
			synctest.Wait()
			var n int
			if err := l.Do(ctx, func(s *counter) { n, s.n = s.n, 0 }); err != nil {
				t.Fatal(err)
			}
			if n != tc.ran {
				t.Fatalf("%s: %d handlers ran, want %d", tc.name, n, tc.ran)
			}
			if st := l.Stats(); st.Reserved != tc.remain || st.Queued != 0 {
				t.Fatalf("%s: Stats %+v", tc.name, st)
			}
		}
		stop()
		closeAndWait(t, l)
	})
}

func TestObserveBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(counter{})
		defer closeAndWait(t, l)
		conctest.MustPanic(t, func() { l.OnWait(nil) }, "loop: OnWait with nil func")
	})
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{})
	open := func(Slow) (io.WriteCloser, error) { return nil, nil }
	conctest.MustPanic(t, func() { WithFlightRecorder(nil, open) }, "loop: WithFlightRecorder with nil FlightRecorder")
	conctest.MustPanic(t, func() { WithFlightRecorder(fr, nil) }, "loop: WithFlightRecorder with nil open func")
}

// TestLoopLabels: the loop goroutine carries the pprof label
// sluice=loop, so a goroutine (or CPU) profile tells it apart.
func TestLoopLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		release := make(chan struct{})
		if err := l.Post(ctx, func(*counter) { labelledHandler(release) }); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		var buf bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
			t.Fatal(err)
		}
		close(release)
		closeAndWait(t, l)
		// debug=1 groups goroutines by stack, each group's labels first:
		// the group whose stack holds our handler has the loop's label.
		for _, group := range strings.Split(buf.String(), "\n\n") {
			if strings.Contains(group, "loop.labelledHandler") {
				if !strings.Contains(group, `# labels: {"sluice":"loop"}`) {
					t.Fatalf("loop goroutine without its label:\n%s", group)
				}
				return
			}
		}
		t.Fatalf("no loop goroutine in the profile:\n%s", buf.String())
	})
}

//go:noinline
func labelledHandler(release chan struct{}) { <-release }

// TestTraceRegions: a call that waits for room is wrapped in a
// runtime/trace region named for its method.
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
	ctx := context.Background()
	l := newLoop(counter{}, WithQueueSize(1))
	for _, call := range []func() error{
		func() error { return l.Do(ctx, func(*counter) {}) },
		func() error { return l.Post(ctx, func(*counter) {}) },
		func() error {
			return Offload(ctx, l, func(context.Context) (int, error) { return 0, nil }, func(*counter, int, error) {})
		},
	} {
		release := make(chan struct{})
		if err := l.Post(ctx, func(*counter) { <-release }); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- call() }()
		conctest.WaitFor(t, time.Minute, "a caller waiting for room", func() bool { return l.Stats().Waiting == 1 })
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := l.Do(ctx, func(*counter) {}); err != nil { // the queue has drained
			t.Fatal(err)
		}
	}
	closeAndWait(t, l)
	trace.Stop()
	stopped = true
	for _, name := range []string{"sluice/loop: Do wait", "sluice/loop: Post wait", "sluice/loop: Offload wait"} {
		if !bytes.Contains(buf.Bytes(), []byte(name)) {
			t.Errorf("no region %q in the trace", name)
		}
	}
}

// snapshotFile is a writer for one flight-recorder snapshot.
type snapshotFile struct {
	bytes.Buffer
	slow   Slow
	closed bool
	out    chan<- *snapshotFile
}

func (f *snapshotFile) Close() error { f.closed = true; f.out <- f; return nil }

// TestFlightRecorder: when the watchdog reports a slow handler, the loop
// writes a flight-recorder snapshot to the writer open gives for that
// report: a whole execution trace, which starts with the trace header
// `go tool trace` reads ("go 1.NN trace" and NUL padding, 16 bytes). open
// skips the second report by returning nil; a failing open is logged and
// the report still goes out.
//
// The recorder is started outside the bubble: its reader goroutine must
// not belong to it. Writing a snapshot from inside the bubble works.
func TestFlightRecorder(t *testing.T) {
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MaxBytes: 1 << 20})
	if err := fr.Start(); err != nil {
		t.Skipf("FlightRecorder.Start: %v (another flight recorder is running)", err)
	}
	defer fr.Stop()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		files := make(chan *snapshotFile, 4)
		reports := make(chan Slow, 4)
		logs := make(recorder, 4)
		failOpen := false
		open := func(s Slow) (io.WriteCloser, error) {
			switch {
			case failOpen:
				return nil, errors.New("disk full")
			case s.Report > 1:
				return nil, nil // only each handler's first report
			}
			return &snapshotFile{slow: s, out: files}, nil
		}
		l := New(counter{}, WithSlowThreshold(100*time.Millisecond), WithSlowHook(func(s Slow) { reports <- s }),
			WithFlightRecorder(fr, open), WithLogger(slog.New(logs)))
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- l.DoNamed(ctx, "stuck", func(*counter) { <-release }) }()
		if r := <-reports; r.Name != "stuck" || r.Report != 1 || r.Running != 100*time.Millisecond {
			t.Fatalf("report %+v", r)
		}
		// The snapshot was written before the report went out.
		var f *snapshotFile
		select {
		case f = <-files:
		default:
			t.Fatal("no snapshot with the first report")
		}
		if !f.closed || f.slow.Name != "stuck" || f.slow.Report != 1 {
			t.Fatalf("snapshot for %+v, closed %v", f.slow, f.closed)
		}
		head := f.Bytes()
		if len(head) <= 16 || !bytes.HasPrefix(head, []byte("go 1.")) || !bytes.HasSuffix(head[:16], []byte(" trace\x00\x00\x00")) {
			t.Fatalf("snapshot of %d bytes starts %q, not a trace header", len(head), head[:min(len(head), 16)])
		}
		if r := <-reports; r.Report != 2 { // 200 ms: open skips it
			t.Fatalf("report %+v", r)
		}
		if len(files) != 0 {
			t.Fatal("a snapshot for the skipped report")
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		// A failing open: logged, and the report still goes out.
		failOpen = true
		release = make(chan struct{})
		go func() { done <- l.DoNamed(ctx, "stuck again", func(*counter) { <-release }) }()
		if r := <-reports; r.Name != "stuck again" {
			t.Fatalf("report %+v", r)
		}
		rec := <-logs
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if rec.Level != slog.LevelWarn || !strings.Contains(rec.Message, "flight recorder") ||
			attrs["handler"] != "stuck again" || attrs["err"] != "disk full" {
			t.Fatalf("logged %v %q %v", rec.Level, rec.Message, attrs)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		closeAndWait(t, l)
	})
}
