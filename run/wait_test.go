package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// waitLog records the waits an OnWait hook is called with.
type waitLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (l *waitLog) hook(d time.Duration) {
	l.mu.Lock()
	l.waits = append(l.waits, d)
	l.mu.Unlock()
}

// got returns the waits so far, sorted (callers on different goroutines
// report in any order).
func (l *waitLog) got() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.waits))
}

func (l *waitLog) expect(t *testing.T, what string, want ...time.Duration) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if got := l.got(); !slices.Equal(got, want) {
		t.Fatalf("%s: waits %v, want %v", what, got, want)
	}
}

const sec = time.Second

// Guard: OldestWait is the oldest call waiting now, joiners and trailing
// callers alike; each waiting call reports its exact wait when served
// (the starter of the trailing run before its fn runs); the caller that
// starts a run at once, a rejected call and a cancelled wait report
// nothing; stop removes the hook.
func TestGuardOldestWaitAndOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Guard
		var log waitLog
		stop := g.OnWait(log.hook)
		bg := context.Background()
		first := newHeld()
		runner := make(chan error, 1)
		go func() { runner <- g.Do(bg, Join, first.fn) }()
		<-first.entered
		joined := make(chan error, 1)
		go func() { joined <- g.Do(bg, Join, never(t)) }()
		synctest.Wait()
		time.Sleep(sec)
		trailing := newHeld()
		var seen []time.Duration // the waits reported when the trailing fn starts
		again := make(chan error, 1)
		go func() {
			again <- g.Do(bg, Again, func(ctx context.Context) error { seen = log.got(); return trailing.fn(ctx) })
		}()
		synctest.Wait()
		time.Sleep(2 * sec)
		if err := g.Do(bg, Reject, never(t)); !errors.Is(err, ErrRunning) {
			t.Fatal(err)
		}
		if st := g.Stats(); st.Waiting != 2 || st.OldestWait != 3*sec || st.Admitted != 1 || st.Rejected != 1 {
			t.Fatalf("Stats = %+v, want 2 waiting, the oldest for 3s", st)
		}
		log.expect(t, "before the run ends")
		first.release <- nil
		if err := <-runner; err != nil {
			t.Fatal(err)
		}
		if err := <-joined; err != nil {
			t.Fatal(err)
		}
		<-trailing.entered
		log.expect(t, "trailing run started", 3*sec, 2*sec)
		if !slices.Contains(seen, 2*sec) {
			t.Fatalf("the trailing fn started before its caller's wait was reported (saw %v)", seen)
		}
		if st := g.Stats(); st.Waiting != 0 || st.OldestWait != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		// A joiner of the trailing run, and one that gives up.
		go func() { joined <- g.Do(bg, Join, never(t)) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(bg)
		left := make(chan error, 1)
		go func() { left <- g.Do(ctx, Join, never(t)) }()
		synctest.Wait()
		time.Sleep(sec)
		if st := g.Stats(); st.Waiting != 2 || st.OldestWait != sec {
			t.Fatalf("Stats = %+v, want 2 waiting, the oldest for 1s", st)
		}
		cancel()
		if err := <-left; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		stop()
		stop()
		trailing.release <- nil
		if err := <-again; err != nil {
			t.Fatal(err)
		}
		if err := <-joined; err != nil {
			t.Fatal(err)
		}
		log.expect(t, "after stop", 3*sec, 2*sec)
		want := Stats{Admitted: 4, Cancelled: 1, Runs: 2, Rejected: 1, Shared: 2}
		if st := g.Stats(); st != want {
			t.Fatalf("Stats = %+v, want %+v", st, want)
		}
	})
}

// Keyed: OldestWait is the oldest over all keys; the hooks hear the
// waits of every key; the totals outlive the keys' entries.
func TestKeyedOldestWaitAndOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var k Keyed[string]
		var log waitLog
		defer k.OnWait(log.hook)()
		bg := context.Background()
		ha, hb := newHeld(), newHeld()
		res := make(chan error, 4)
		go func() { res <- k.Do(bg, "a", Join, ha.fn) }()
		go func() { res <- k.Do(bg, "b", Join, hb.fn) }()
		<-ha.entered
		<-hb.entered
		go func() { res <- k.Do(bg, "a", Join, never(t)) }()
		synctest.Wait()
		time.Sleep(sec)
		ctx, cancel := context.WithCancel(bg)
		left := make(chan error, 1)
		go func() { left <- k.Do(ctx, "b", Join, never(t)) }()
		synctest.Wait()
		time.Sleep(sec)
		if st := k.Stats(); st.Waiting != 2 || st.OldestWait != 2*sec || st.Keys != 2 || st.Admitted != 2 {
			t.Fatalf("Stats = %+v, want 2 waiting, the oldest for 2s", st)
		}
		ha.release <- nil
		for range 2 {
			if err := <-res; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait() // key a's entry is gone
		log.expect(t, "key a served", 2*sec)
		if st := k.Stats(); st.OldestWait != sec || st.Keys != 1 {
			t.Fatalf("Stats = %+v, want key b's waiter, 1s", st)
		}
		cancel()
		if err := <-left; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		hb.release <- nil
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		log.expect(t, "after a cancelled wait", 2*sec)
		want := KeyedStats{Admitted: 3, Cancelled: 1, Runs: 2, Shared: 1}
		if st := k.Stats(); st != want {
			t.Fatalf("Stats = %+v, want %+v", st, want)
		}
	})
}

// The waits that block are runtime/trace regions; calls that do not
// block open none.
func TestTraceRegions(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("tracing is on already")
	}
	names := []string{regionGuardDo, regionKeyedDo}
	traced := func(fn func()) []byte {
		var buf bytes.Buffer
		if err := trace.Start(&buf); err != nil {
			t.Fatal(err)
		}
		synctest.Test(t, func(t *testing.T) { fn() })
		trace.Stop()
		return buf.Bytes()
	}
	bg := context.Background()
	ok := func(context.Context) error { return nil }
	var g Guard
	var k Keyed[string]
	uncontended := traced(func() {
		_ = g.Do(bg, Join, ok)
		_ = k.Do(bg, "a", Again, ok)
	})
	for _, name := range names {
		if bytes.Contains(uncontended, []byte(name)) {
			t.Errorf("uncontended calls opened the region %q", name)
		}
	}
	contended := traced(func() {
		hg, hk := newHeld(), newHeld()
		res := make(chan error, 4)
		go func() { res <- g.Do(bg, Join, hg.fn) }()
		go func() { res <- k.Do(bg, "a", Join, hk.fn) }()
		<-hg.entered
		<-hk.entered
		go func() { res <- g.Do(bg, Join, ok) }()
		go func() { res <- k.Do(bg, "a", Again, ok) }()
		synctest.Wait()
		hg.release <- nil
		hk.release <- nil
		for range 4 {
			<-res
		}
	})
	for _, name := range names {
		if !bytes.Contains(contended, []byte(name)) {
			t.Errorf("no region %q around a blocking wait", name)
		}
	}
}

// A run's fn that panics crashes the process, unless the caller recovers,
// with a trace that still shows the panicking function: the run is
// settled and the panic resumed from the deferred function that recovered
// it, while its frames are still on the stack.
func TestPanicCrashTraceKeepsFrames(t *testing.T) {
	switch os.Getenv("RUN_CRASH") {
	case "guard":
		crashIn(func() {
			var g Guard
			_ = g.Do(context.Background(), Reject, func(context.Context) error { runPanics(); return nil })
		})
		return
	case "keyed":
		crashIn(func() {
			var k Keyed[string]
			_ = k.Do(context.Background(), "a", Reject, func(context.Context) error { runPanics(); return nil })
		})
		return
	}
	for _, kind := range []string{"guard", "keyed"} {
		t.Run(kind, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPanicCrashTraceKeepsFrames$")
			cmd.Env = append(os.Environ(), "RUN_CRASH="+kind)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the process survived the panic:\n%s", out)
			}
			if !strings.Contains(string(out), "panic: boom") || !strings.Contains(string(out), "run.runPanics") {
				t.Fatalf("crash output lacks the panic or the frame run.runPanics:\n%s", out)
			}
		})
	}
}

// crashIn runs fn on a goroutine of its own, outside the test's recover,
// and returns only if fn returns: a panic in fn ends the process.
func crashIn(fn func()) {
	done := make(chan struct{})
	go func() {
		fn()
		close(done)
	}()
	<-done
}

//go:noinline
func runPanics() { panic("boom") }
