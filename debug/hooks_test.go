package debug_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/loop"
)

// hooked is a fake primitive with OnWait, as the primitives have it: a
// copy-on-write list of hooks, each removed by its stop.
type hooked struct {
	mu    sync.Mutex
	hooks []*func(time.Duration)
}

type hookedStats struct{ Waiting int64 }

func (h *hooked) Stats() hookedStats { return hookedStats{} }

func (h *hooked) OnWait(fn func(time.Duration)) (stop func()) {
	if fn == nil {
		panic("hooked: OnWait with nil fn")
	}
	p := &fn
	h.mu.Lock()
	h.hooks = append(h.hooks, p)
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for i, q := range h.hooks {
			if q == p {
				h.hooks = append(h.hooks[:i:i], h.hooks[i+1:]...)
				return
			}
		}
	}
}

func (h *hooked) waited(d time.Duration) {
	h.mu.Lock()
	hs := h.hooks
	h.mu.Unlock()
	for _, fn := range hs {
		(*fn)(d)
	}
}

func (h *hooked) nhooks() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.hooks)
}

// TestWaitHistogram: Register hooks OnWait; each wait lands in the bucket
// whose upper bound is the first at or above it; Unregister removes the
// hook.
func TestWaitHistogram(t *testing.T) {
	reg := debug.NewRegistry()
	h := &hooked{}
	if err := reg.Register("h", h); err != nil {
		t.Fatal(err)
	}
	if h.nhooks() != 1 {
		t.Fatalf("%d hooks after Register; want 1", h.nhooks())
	}
	en := entry(t, reg, "h")
	if en.Waits == nil || en.Waits.Count != 0 {
		t.Fatalf("Waits %+v before any wait; want an empty histogram", en.Waits)
	}
	waits := []time.Duration{
		-time.Second,         // clamped to 0: first bucket
		0,                    // first bucket
		time.Microsecond,     // ≤1µs: first bucket (bounds are inclusive)
		time.Microsecond + 1, // second
		3 * time.Millisecond, // ≤4ms
		time.Second,          // ≤1s
		100 * time.Second,    // ≤100s, the last bound
		100*time.Second + 1,  // above: the +Inf bucket
		1000 * time.Hour,     // above
	}
	for _, d := range waits {
		h.waited(d)
	}
	w := entry(t, reg, "h").Waits
	if len(w.Counts) != len(w.Bounds)+1 {
		t.Fatalf("%d counts for %d bounds", len(w.Counts), len(w.Bounds))
	}
	if w.Bounds[0] != 1e-6 || w.Bounds[len(w.Bounds)-1] != 100 {
		t.Fatalf("bounds %v; want 1e-6 .. 100", w.Bounds)
	}
	for i := 1; i < len(w.Bounds); i++ {
		if r := w.Bounds[i] / w.Bounds[i-1]; r < 1.5 || r > 4.1 {
			t.Fatalf("bounds %v: step %v from %v", w.Bounds, r, w.Bounds[i-1])
		}
	}
	bucket := func(s float64) int {
		for i, b := range w.Bounds {
			if s <= b {
				return i
			}
		}
		return len(w.Bounds)
	}
	want := make([]uint64, len(w.Counts))
	want[0] = 3
	want[1]++
	want[bucket(0.003)]++
	want[bucket(1)]++
	want[len(w.Bounds)-1]++
	want[len(w.Bounds)] += 2
	if fmt.Sprint(w.Counts) != fmt.Sprint(want) {
		t.Fatalf("counts %v; want %v", w.Counts, want)
	}
	if w.Count != uint64(len(waits)) {
		t.Fatalf("Count %d; want %d", w.Count, len(waits))
	}
	wantSum := (time.Microsecond + time.Microsecond + 1 + 3*time.Millisecond + time.Second + 100*time.Second + 100*time.Second + 1 + 1000*time.Hour).Seconds()
	if d := w.Sum - wantSum; d > 1e-6 || d < -1e-6 {
		t.Fatalf("Sum %v; want %v", w.Sum, wantSum)
	}
	// A snapshot is a copy: changing it changes nothing in the registry.
	w.Bounds[0], w.Counts[0] = 99, 99
	if w2 := entry(t, reg, "h").Waits; w2.Bounds[0] != 1e-6 || w2.Counts[0] != 3 {
		t.Fatalf("a snapshot's slices are shared: %+v", w2)
	}

	if !reg.Unregister("h") {
		t.Fatal("Unregister false")
	}
	if h.nhooks() != 0 {
		t.Fatalf("%d hooks after Unregister; want 0", h.nhooks())
	}
}

// TestWaitHistogramConcurrent: waits observed from many goroutines while
// snapshots run are all counted (run it with -race).
func TestWaitHistogramConcurrent(t *testing.T) {
	reg := debug.NewRegistry()
	h := &hooked{}
	if err := reg.Register("h", h); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	wg.Go(func() {
		for !stop.Load() {
			if w := entry(t, reg, "h").Waits; w.Count > 8*1000 {
				t.Error("more waits than observed")
			}
		}
	})
	var obs sync.WaitGroup
	for g := range 8 {
		obs.Go(func() {
			for i := range 1000 {
				h.waited(time.Duration(g*i) * time.Microsecond)
			}
		})
	}
	obs.Wait()
	stop.Store(true)
	wg.Wait()
	if w := entry(t, reg, "h").Waits; w.Count != 8*1000 {
		t.Fatalf("Count %d; want %d", w.Count, 8*1000)
	}
}

// TestRecordKeepsLast32: the ring keeps the newest 32, oldest first, and
// sets a zero At; events for an unknown name are dropped.
func TestRecordKeepsLast32(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := debug.NewRegistry()
		if err := reg.Register("s", &laned{}); err != nil {
			t.Fatal(err)
		}
		if evs := entry(t, reg, "s").Events; evs != nil {
			t.Fatalf("events before any: %v", evs)
		}
		start := time.Now()
		for i := range 40 {
			reg.Record("s", debug.Event{Kind: "test", Message: fmt.Sprint(i)})
			time.Sleep(time.Second) // the bubble's clock: each event one second later
		}
		reg.Record("nobody", debug.Event{Kind: "lost"})
		evs := entry(t, reg, "s").Events
		if len(evs) != 32 {
			t.Fatalf("%d events; want 32", len(evs))
		}
		for i, ev := range evs {
			if ev.Message != fmt.Sprint(i+8) {
				t.Fatalf("event %d: %q; want %q (newest last)", i, ev.Message, fmt.Sprint(i+8))
			}
			if want := start.Add(time.Duration(i+8) * time.Second); !ev.At.Equal(want) {
				t.Fatalf("event %d at %v; want %v", i, ev.At, want)
			}
		}
		at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		reg.Record("s", debug.Event{At: at, Kind: "given"})
		if evs := entry(t, reg, "s").Events; !evs[31].At.Equal(at) {
			t.Fatalf("a given At was replaced: %v", evs[31].At)
		}
	})
}

// TestGateHook: a gate's overdue read, and its late return, are recorded
// under the gate's name, with lane, op, elapsed time and deadline.
func TestGateHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := debug.NewRegistry()
		g := gate.New(gate.WithReadDeadline(time.Second), gate.WithHook(reg.GateHook("store")))
		if err := reg.Register("store", g); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		err := g.Read(gate.Op(ctx, "fetch"), func(context.Context) error { <-release; return nil })
		if !errors.Is(err, gate.ErrDeadline) {
			t.Fatalf("Read: %v; want the deadline error", err)
		}
		evs := entry(t, reg, "store").Events
		if len(evs) != 1 || evs[0].Kind != "overdue" {
			t.Fatalf("events %+v; want one overdue", evs)
		}
		for _, w := range []string{"read", "fetch", "1s"} {
			if !strings.Contains(evs[0].Message, w) {
				t.Errorf("overdue message %q does not mention %q", evs[0].Message, w)
			}
		}
		close(release)
		synctest.Wait()
		evs = entry(t, reg, "store").Events
		if len(evs) != 2 || evs[1].Kind != "late" {
			t.Fatalf("events %+v; want overdue then late", evs)
		}
		g.Close()
	})
}

// TestGateHookPanicStack: a panic no caller can receive is recorded with
// the panic's stack.
func TestGateHookPanicStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := debug.NewRegistry()
		g := gate.New(gate.WithReadDeadline(time.Second), gate.WithHook(reg.GateHook("store")))
		if err := reg.Register("store", g); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		_ = g.Read(ctx, func(context.Context) error { <-release; panic("boom") })
		close(release)
		synctest.Wait()
		evs := entry(t, reg, "store").Events
		last := evs[len(evs)-1]
		if last.Kind != "panicked" || !strings.Contains(last.Message, "boom") || !strings.Contains(last.Stack, "TestGateHookPanicStack") {
			t.Fatalf("last event %+v; want a panic with its stack", last)
		}
		g.Close()
	})
}

// TestSlowHook: a loop watchdog's report is recorded with the handler's
// name and the loop goroutine's stack.
func TestSlowHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := debug.NewRegistry()
		l := loop.New(0, loop.WithSlowThreshold(100*time.Millisecond), loop.WithSlowHook(reg.SlowHook("scores")))
		if err := reg.Register("scores", l); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		if err := l.PostNamed(ctx, "fetchUser", func(*int) { <-release }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the bubble's clock: past the threshold
		synctest.Wait()
		evs := entry(t, reg, "scores").Events
		if len(evs) == 0 {
			t.Fatal("no event after a slow handler")
		}
		ev := evs[0]
		if ev.Kind != "slow" || !strings.Contains(ev.Message, "fetchUser") || !strings.Contains(ev.Message, "report 1") || !strings.Contains(ev.Stack, "TestSlowHook") {
			t.Fatalf("event %+v; want a slow report naming fetchUser, with the stack", ev)
		}
		close(release)
		l.Close()
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// namedHooks has OnWait with named func types: Register finds it by
// reflection.
type namedHooks struct{ hooked }

type (
	waitFunc func(time.Duration)
	stopFunc func()
)

func (n *namedHooks) Stats() hookedStats { return hookedStats{} }

func (n *namedHooks) OnWait(fn waitFunc) stopFunc { return stopFunc(n.hooked.OnWait(fn)) }

// wrongHooks has an OnWait of another shape: no histogram.
type wrongHooks struct{}

func (wrongHooks) Stats() hookedStats      { return hookedStats{} }
func (wrongHooks) OnWait(func(int)) func() { panic("called") }

func TestWaitHookByReflection(t *testing.T) {
	reg := debug.NewRegistry()
	n := &namedHooks{}
	if err := reg.Register("n", n); err != nil {
		t.Fatal(err)
	}
	n.waited(time.Millisecond)
	if w := entry(t, reg, "n").Waits; w == nil || w.Count != 1 {
		t.Fatalf("Waits %+v; want one wait", w)
	}
	reg.Unregister("n")
	if n.nhooks() != 0 {
		t.Fatalf("%d hooks after Unregister", n.nhooks())
	}
	if err := reg.Register("w", wrongHooks{}); err != nil {
		t.Fatal(err)
	}
	if w := entry(t, reg, "w").Waits; w != nil {
		t.Fatalf("Waits %+v for an OnWait of another shape", w)
	}
}
