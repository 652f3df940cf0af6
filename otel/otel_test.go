package otel_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/guard"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/otel"
	"github.com/sluice-go/sluice/queue"
	"github.com/sluice-go/sluice/sem"
)

// newMeter returns a meter whose provider has only a ManualReader.
func newMeter(t testing.TB) (metric.Meter, *sdkmetric.ManualReader) {
	t.Helper()
	rdr := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rdr))
	t.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return mp.Meter("github.com/sluice-go/sluice/otel_test"), rdr
}

// register calls otel.Register and unregisters at the end of the test.
func register(t testing.TB, meter metric.Meter, reg *debug.Registry) metric.Registration {
	t.Helper()
	r, err := otel.Register(meter, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Unregister(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// point is one data point as the tests compare it.
type point struct {
	typ   string // "gauge", or "counter": a monotonic cumulative sum
	unit  string
	value float64
}

func (p point) String() string {
	if p.unit != "" {
		return fmt.Sprintf("%s %v %s", p.typ, p.value, p.unit)
	}
	return fmt.Sprintf("%s %v", p.typ, p.value)
}

// collect reads every data point: instrument name, then the "name"
// attribute's value ("" for none), then the point. It fails t on any other
// attribute, on a series seen twice and on data of another shape.
func collect(t testing.TB, rdr *sdkmetric.ManualReader) map[string]map[string]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := rdr.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := make(map[string]map[string]point)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			series := make(map[string]point)
			out[m.Name] = series
			put := func(attrs attribute.Set, typ string, v float64) {
				key := ""
				for _, kv := range attrs.ToSlice() {
					if kv.Key != "name" {
						t.Errorf("%s: attribute %s", m.Name, kv.Key)
					}
					key = kv.Value.AsString()
				}
				if _, dup := series[key]; dup {
					t.Errorf("%s{%s} twice", m.Name, key)
				}
				series[key] = point{typ: typ, unit: m.Unit, value: v}
			}
			sum := func(monotonic bool, tmp metricdata.Temporality) string {
				if !monotonic || tmp != metricdata.CumulativeTemporality {
					t.Errorf("%s: a sum, monotonic %v, %v", m.Name, monotonic, tmp)
				}
				return "counter"
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					put(dp.Attributes, "gauge", float64(dp.Value))
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					put(dp.Attributes, "gauge", dp.Value)
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					put(dp.Attributes, sum(d.IsMonotonic, d.Temporality), float64(dp.Value))
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					put(dp.Attributes, sum(d.IsMonotonic, d.Temporality), dp.Value)
				}
			default:
				t.Errorf("%s: data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// check compares the points of the named primitive with want (instrument
// name -> point as String prints it); instruments not in want are not
// compared.
func check(t testing.TB, got map[string]map[string]point, name string, want map[string]string) {
	t.Helper()
	for inst, w := range want {
		p, ok := got[inst][name]
		switch {
		case !ok && w == "":
		case !ok:
			t.Errorf("%s{name=%q}: none, want %s", inst, name, w)
		case w == "":
			t.Errorf("%s{name=%q}: %v, want none", inst, name, p)
		case p.String() != w:
			t.Errorf("%s{name=%q}: %v, want %s", inst, name, p, w)
		}
	}
}

// A sem in a known state is observed exactly so. The bubble's fake clock
// makes the waits exact.
func TestSemExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		meter, rdr := newMeter(t)
		reg := debug.NewRegistry()
		s := sem.New(3)
		if err := reg.Register("db", s); err != nil {
			t.Fatal(err)
		}
		register(t, meter, reg)

		ctx := t.Context()
		if err := s.Acquire(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if s.TryAcquire(1) {
			t.Fatal("TryAcquire on a full sem succeeded")
		}
		done := make(chan error)
		go func() { done <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		// In the bubble, Sleep advances the fake clock once every goroutine
		// is blocked: the waiter has waited exactly 2s.
		time.Sleep(2 * time.Second)

		got := collect(t, rdr)
		check(t, got, "", map[string]string{"sluice.registered": "gauge 1"})
		check(t, got, "db", map[string]string{
			"sluice.sem.permits":     "gauge 3",
			"sluice.sem.in_use":      "gauge 3",
			"sluice.sem.waiters":     "gauge 1",
			"sluice.sem.closed":      "gauge 0",
			"sluice.sem.admitted":    "counter 1",
			"sluice.sem.rejected":    "counter 1",
			"sluice.sem.oldest_wait": "gauge 2 s",
			"sluice.sem.waits":       "counter 0",
			"sluice.sem.wait_time":   "counter 0 s",
		})

		s.Release(1)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got = collect(t, rdr)
		check(t, got, "db", map[string]string{
			"sluice.sem.in_use":      "gauge 3",
			"sluice.sem.waiters":     "gauge 0",
			"sluice.sem.admitted":    "counter 2",
			"sluice.sem.oldest_wait": "gauge 0 s",
			"sluice.sem.waits":       "counter 1",
			"sluice.sem.wait_time":   "counter 2 s",
		})
		s.Release(3)
		s.Close()
		got = collect(t, rdr)
		check(t, got, "db", map[string]string{"sluice.sem.closed": "gauge 1"})
	})
}

// Many primitives of every kind: each figure of each is observed under its
// own name attribute, with the value the registry reads.
func TestEveryKind(t *testing.T) {
	meter, rdr := newMeter(t)
	reg := debug.NewRegistry()
	all := everyKind(t, reg)
	defer closeAll(t, all)
	register(t, meter, reg)

	got := collect(t, rdr)
	snap := reg.Snapshot()
	check(t, got, "", map[string]string{"sluice.registered": fmt.Sprintf("gauge %d", len(snap))})
	kinds := make(map[string]bool)
	for _, e := range snap {
		kinds[e.Kind] = true
		prefix := "sluice." + strings.ToLower(e.Kind) + "."
		n := 0
		for name, series := range got {
			if strings.HasPrefix(name, prefix) {
				if _, ok := series[e.Name]; ok {
					n++
				}
			}
		}
		want := len(e.Figures)
		if e.Waits != nil {
			want += 2
		}
		if n != want {
			t.Errorf("%s %s: %d instruments observed, want %d", e.Kind, e.Name, n, want)
		}
	}
	if len(kinds) != 14 {
		t.Errorf("%d kinds, want 14: %v", len(kinds), kinds)
	}
	check(t, got, "pool", map[string]string{"sluice.pool.capacity": "gauge 2", "sluice.pool.completed": "counter 1"})
	check(t, got, "loop", map[string]string{"sluice.loop.handled": "counter 1", "sluice.loop.offload_in_use": "gauge 0"})
	check(t, got, "keyed_mutex", map[string]string{"sluice.keyed.mutex.keys": "gauge 0", "sluice.keyed.mutex.contended": "counter 0"})
	check(t, got, "keyed_cache", map[string]string{"sluice.keyed.cache.entries": "gauge 1", "sluice.keyed.cache.fetches": "counter 1"})
	check(t, got, "gate", map[string]string{"sluice.gate.read_capacity": "gauge 64", "sluice.gate.read_waiters": "gauge 0"})
	check(t, got, "guard_serial", map[string]string{"sluice.guard.access.serial": "gauge 1"})
	check(t, got, "guard_concurrent", map[string]string{"sluice.guard.access.serial": "gauge 0"})
	check(t, got, "queue", map[string]string{"sluice.queue.queued": "gauge 1", "sluice.queue.capacity": "gauge 4"})
}

// A primitive of a kind first registered after Register appears from the
// collection after the one that notices it; one of a kind already seen
// appears at once.
func TestKindRegisteredLater(t *testing.T) {
	meter, rdr := newMeter(t)
	reg := debug.NewRegistry()
	r := register(t, meter, reg)

	got := collect(t, rdr)
	check(t, got, "", map[string]string{"sluice.registered": "gauge 0"})
	if len(got) != 1 {
		t.Errorf("empty registry: %v", got)
	}

	if err := reg.Register("a", sem.New(2)); err != nil {
		t.Fatal(err)
	}
	got = collect(t, rdr) // notices the kind
	check(t, got, "", map[string]string{"sluice.registered": "gauge 1"})
	check(t, got, "a", map[string]string{"sluice.sem.permits": ""})
	otel.WaitSync(r)
	got = collect(t, rdr)
	check(t, got, "a", map[string]string{"sluice.sem.permits": "gauge 2"})

	if err := reg.Register("b", sem.New(5)); err != nil {
		t.Fatal(err)
	}
	got = collect(t, rdr)
	check(t, got, "a", map[string]string{"sluice.sem.permits": "gauge 2"})
	check(t, got, "b", map[string]string{"sluice.sem.permits": "gauge 5"})
}

// Unregistering a primitive from the registry ends its series; the
// Registration's Unregister ends them all.
func TestUnregister(t *testing.T) {
	meter, rdr := newMeter(t)
	reg := debug.NewRegistry()
	for name, n := range map[string]int64{"a": 1, "b": 2} {
		if err := reg.Register(name, sem.New(n)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := otel.Register(meter, reg)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, rdr)
	check(t, got, "a", map[string]string{"sluice.sem.permits": "gauge 1"})
	check(t, got, "b", map[string]string{"sluice.sem.permits": "gauge 2"})

	reg.Unregister("a")
	got = collect(t, rdr)
	check(t, got, "a", map[string]string{"sluice.sem.permits": "", "sluice.sem.in_use": "", "sluice.sem.closed": ""})
	check(t, got, "b", map[string]string{"sluice.sem.permits": "gauge 2"})
	check(t, got, "", map[string]string{"sluice.registered": "gauge 1"})

	for range 2 { // idempotent
		if err := r.Unregister(); err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(t, rdr); len(got) != 0 {
		t.Errorf("after Unregister: %v", got)
	}
}

// The widgets are primitives of the test's own, of four kinds (a kind is
// a type, type parameters dropped), with constant figures.
type (
	WidgetA struct{}
	WidgetB struct{}
	WidgetC struct{}
	WidgetD struct{}
)

// WidgetStats is the Stats of every widget: Done never changes.
type WidgetStats struct {
	Done     int64
	Rejected int64
	Wait     time.Duration
}

func (WidgetA) Stats() WidgetStats { return WidgetStats{Done: 1, Rejected: 9, Wait: time.Second} }
func (WidgetB) Stats() WidgetStats { return WidgetStats{Done: 1, Rejected: 9, Wait: time.Second} }
func (WidgetC) Stats() WidgetStats { return WidgetStats{Done: 1, Rejected: 9, Wait: time.Second} }
func (WidgetD) Stats() WidgetStats { return WidgetStats{Done: 1, Rejected: 9, Wait: time.Second} }

// While the callback is being replaced (a kind registered later), every
// collection observes each series once: a constant counter never reads
// doubled and never goes missing.
func TestSyncObservesOnce(t *testing.T) {
	meter, rdr := newMeter(t)
	reg := debug.NewRegistry()
	if err := reg.Register("base", &WidgetA{}); err != nil {
		t.Fatal(err)
	}
	r := register(t, meter, reg)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				check(t, collect(t, rdr), "base", map[string]string{
					"sluice.otel_test.widgeta.rejected": "counter 9",
					"sluice.otel_test.widgeta.done":     "gauge 1",
					"sluice.otel_test.widgeta.wait":     "gauge 1 s",
				})
			}
		})
	}
	for i, p := range []any{&WidgetB{}, &WidgetC{}, &WidgetD{}} {
		name := fmt.Sprint("late", i)
		if err := reg.Register(name, p); err != nil {
			t.Fatal(err)
		}
		inst := fmt.Sprintf("sluice.%s.rejected", strings.ToLower(reg.Snapshot()[i+1].Kind))
		conctest.WaitFor(t, 10*time.Second, inst, func() bool {
			_, ok := collect(t, rdr)[inst][name]
			return ok
		})
	}
	close(stop)
	wg.Wait()
	otel.WaitSync(r)
}

// Collections running while primitives with waiters are closed, registered
// and unregistered never panic (a panic would end the test binary) and
// never block.
func TestCollectDuringClose(t *testing.T) {
	conctest.CheckLeaks(t)
	meter, rdr := newMeter(t)
	reg := debug.NewRegistry()
	r := register(t, meter, reg)
	ctx := t.Context()

	for round := range 10 {
		// Primitives with callers blocked in them when Close comes.
		s := sem.New(1)
		var km keyed.Mutex[int]
		gv := guard.New(0)
		q := queue.New[int](1)
		for name, p := range map[string]any{"w_sem": s, "w_keyed": &km, "w_guard": gv, "w_queue": q} {
			if err := reg.Register(name, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Acquire(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := km.Lock(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := q.Put(ctx, 1); err != nil {
			t.Fatal(err)
		}
		held := make(chan struct{})
		release := make(chan struct{})
		errs := make(chan error, 4)
		go func() {
			errs <- gv.Do(ctx, func(context.Context, *int) error {
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		go func() { errs <- s.Acquire(ctx, 1) }()
		go func() { errs <- km.Lock(ctx, 1) }()
		go func() { errs <- gv.Do(ctx, func(context.Context, *int) error { return nil }) }()
		go func() { errs <- q.Put(ctx, 2) }()
		conctest.WaitFor(t, 10*time.Second, "four waiters", func() bool {
			return s.Stats().Waiting == 1 && km.Stats().Waiting == 1 && gv.Stats().Waiting == 1 && q.Stats().Waiting == 1
		})

		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					var rm metricdata.ResourceMetrics
					if err := rdr.Collect(context.Background(), &rm); err != nil {
						t.Errorf("Collect: %v", err)
						return
					}
				}
			})
		}
		conctest.NoDeadlock(t, 30*time.Second, "Close, Register and Unregister while collecting", func() {
			all := everyKind(t, reg) // kinds not seen yet in round 0: syncs run meanwhile
			s.Close()
			km.Close()
			gv.Close()
			q.Close()
			closeAll(t, all)
			for range 4 {
				if err := <-errs; err == nil {
					t.Error("a waiter got in after Close")
				}
			}
			close(release)
			if err := <-errs; err != nil {
				t.Errorf("the holder: %v", err)
			}
			if round%2 == 0 {
				for _, e := range reg.Snapshot() {
					reg.Unregister(e.Name)
				}
			}
			close(stop)
			wg.Wait()
		})
		otel.WaitSync(r)
		for _, e := range reg.Snapshot() {
			reg.Unregister(e.Name)
		}
	}
}
