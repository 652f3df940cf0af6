package prom_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/guard"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/prom"
	"github.com/sluice-go/sluice/queue"
	"github.com/sluice-go/sluice/sem"
)

// gather collects c through a pedantic registry, which checks every family
// for consistency (one type, one help text, one label set per name; no
// duplicate series).
func gather(t testing.TB, c prometheus.Collector) map[string]*familyInfo {
	t.Helper()
	preg := prometheus.NewPedanticRegistry()
	preg.MustRegister(c)
	mfs, err := preg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := make(map[string]*familyInfo)
	for _, mf := range mfs {
		fi := &familyInfo{typ: mf.GetType().String()}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				fi.labels = append(fi.labels, l.GetName()+"="+l.GetValue())
			}
		}
		out[mf.GetName()] = fi
	}
	return out
}

type familyInfo struct {
	typ    string
	labels []string
}

// Every kind of primitive, in use, exports metrics that pass client_golang's
// linter, each with the one label "name".
func TestLintEveryKind(t *testing.T) {
	reg := debug.NewRegistry()
	all := everyKind(t, reg)
	defer closeAll(t, all)
	waitOnce(t, reg) // so a wait histogram has a count

	c := prom.NewCollector(reg)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	fams := gather(t, c)
	for _, kind := range []string{
		"sem", "pool", "queue", "gate", "loop", "keyed_mutex", "keyed_rwmutex", "keyed_once",
		"keyed_cache", "run_guard", "run_keyed", "guard_value", "guard_rw", "guard_access",
	} {
		if !slices.ContainsFunc(slices.Collect(mapKeys(fams)), func(n string) bool {
			return strings.HasPrefix(n, "sluice_"+kind+"_")
		}) {
			t.Errorf("no metric for kind %s", kind)
		}
	}
	for name, fi := range fams {
		for _, l := range fi.labels {
			if !strings.HasPrefix(l, "name=") {
				t.Errorf("%s: label %s, want only name", name, l)
			}
		}
		if strings.HasSuffix(name, "_total") != (fi.typ == "COUNTER") {
			t.Errorf("%s is a %s", name, fi.typ)
		}
	}
	for _, want := range []string{
		"sluice_sem_permits", "sluice_sem_in_use", "sluice_sem_waiters", "sluice_sem_closed",
		"sluice_pool_capacity", "sluice_pool_completed_total", "sluice_gate_read_waiters",
		"sluice_gate_timed_out_total", "sluice_loop_handled_total", "sluice_loop_offload_in_use",
		"sluice_keyed_mutex_contended_total", "sluice_keyed_cache_hits_total", "sluice_run_guard_runs_total",
	} {
		if fams[want] == nil {
			t.Errorf("no %s", want)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// waitOnce makes one caller wait on a fresh sem registered in reg, so the
// sem's wait histogram (when sem has OnWait) has one wait.
func waitOnce(t *testing.T, reg *debug.Registry) {
	t.Helper()
	s := sem.New(1)
	if err := reg.Register("waited", s); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Acquire(ctx, 1) }()
	conctest.WaitFor(t, 10*time.Second, "a waiter", func() bool { return s.Stats().Waiting == 1 })
	s.Release(1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Release(1)
}

// A sem in a known state exports exactly these figures. The bubble's fake
// clock makes the waits exact.
func TestSemExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := debug.NewRegistry()
		s := sem.New(3)
		if err := reg.Register("db", s); err != nil {
			t.Fatal(err)
		}
		c := prom.NewCollector(reg)
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

		names := []string{
			"sluice_sem_permits", "sluice_sem_in_use", "sluice_sem_waiters", "sluice_sem_closed",
			"sluice_sem_admitted_total", "sluice_sem_rejected_total", "sluice_sem_oldest_wait_seconds",
			"sluice_sem_wait_seconds",
		}
		const head = `
# HELP sluice_sem_permits Permits in all.
# TYPE sluice_sem_permits gauge
sluice_sem_permits{name="db"} 3
# HELP sluice_sem_in_use Permits held now.
# TYPE sluice_sem_in_use gauge
sluice_sem_in_use{name="db"} 3
# HELP sluice_sem_closed 1 once Close has been called, else 0.
# TYPE sluice_sem_closed gauge
sluice_sem_closed{name="db"} 0
# HELP sluice_sem_rejected_total Calls refused at once (a failed Try, ErrFull, ErrRunning).
# TYPE sluice_sem_rejected_total counter
sluice_sem_rejected_total{name="db"} 1
`
		want := head + `
# HELP sluice_sem_waiters Callers blocked now, waiting to be admitted.
# TYPE sluice_sem_waiters gauge
sluice_sem_waiters{name="db"} 1
# HELP sluice_sem_admitted_total Callers let in, after a wait or at once.
# TYPE sluice_sem_admitted_total counter
sluice_sem_admitted_total{name="db"} 1
# HELP sluice_sem_oldest_wait_seconds How long the longest current waiter has waited; 0 when nobody waits.
# TYPE sluice_sem_oldest_wait_seconds gauge
sluice_sem_oldest_wait_seconds{name="db"} 2
` + waitHistogram(0, 0, 0)
		if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
			t.Error(err)
		}

		s.Release(1)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want = head + `
# HELP sluice_sem_waiters Callers blocked now, waiting to be admitted.
# TYPE sluice_sem_waiters gauge
sluice_sem_waiters{name="db"} 0
# HELP sluice_sem_admitted_total Callers let in, after a wait or at once.
# TYPE sluice_sem_admitted_total counter
sluice_sem_admitted_total{name="db"} 2
# HELP sluice_sem_oldest_wait_seconds How long the longest current waiter has waited; 0 when nobody waits.
# TYPE sluice_sem_oldest_wait_seconds gauge
sluice_sem_oldest_wait_seconds{name="db"} 0
` + waitHistogram(1, 2, 4)
		if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
			t.Error(err)
		}
		s.Release(3)
		s.Close()
	})
}

// waitHistogram is the exposition of sluice_sem_wait_seconds{name="db"} with
// n waits summing to sum seconds, all in the bucket of upper bound le (0:
// none).
func waitHistogram(n int, sum float64, le float64) string {
	var b strings.Builder
	b.WriteString("# HELP sluice_sem_wait_seconds How long each caller that had to wait waited before it was admitted (callers admitted at once are not counted).\n")
	b.WriteString("# TYPE sluice_sem_wait_seconds histogram\n")
	for _, bound := range []string{"1e-06", "4e-06", "1.6e-05", "6.4e-05", "0.00025", "0.001", "0.004", "0.016", "0.064", "0.25", "1", "4", "16", "64", "100", "+Inf"} {
		c := 0
		if f, _ := strconv.ParseFloat(bound, 64); le != 0 && f >= le {
			c = n
		}
		b.WriteString(`sluice_sem_wait_seconds_bucket{name="db",le="` + bound + `"} ` + strconv.Itoa(c) + "\n")
	}
	b.WriteString(`sluice_sem_wait_seconds_sum{name="db"} ` + strconv.FormatFloat(sum, 'g', -1, 64) + "\n")
	b.WriteString(`sluice_sem_wait_seconds_count{name="db"} ` + strconv.Itoa(n) + "\n")
	return b.String()
}

// The collector reads the registry at every scrape: registering and
// unregistering adds and removes series.
func TestRegisterUnregister(t *testing.T) {
	reg := debug.NewRegistry()
	c := prom.NewCollector(reg)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("empty registry: %d metrics", n)
	}
	a, b := sem.New(1), sem.New(2)
	for name, s := range map[string]*sem.Semaphore{"a": a, "b": b} {
		if err := reg.Register(name, s); err != nil {
			t.Fatal(err)
		}
	}
	if n := testutil.CollectAndCount(c, "sluice_sem_permits"); n != 2 {
		t.Fatalf("two sems: %d sluice_sem_permits series, want 2", n)
	}
	reg.Unregister("a")
	want := `
# HELP sluice_sem_permits Permits in all.
# TYPE sluice_sem_permits gauge
sluice_sem_permits{name="b"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "sluice_sem_permits"); err != nil {
		t.Error(err)
	}
	reg.Unregister("b")
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("after Unregister: %d metrics", n)
	}
}

// Widget is a primitive of the test's own: a Stats struct with every kind
// of field debug reads, and an OnWait the test drives.
type Widget struct {
	mu    sync.Mutex
	hooks []func(time.Duration)
}

type WidgetStats struct {
	Capacity    int64
	ReadWaiting int64
	StreamInUse uint32
	Ratio       float64
	TimedOut    int64
	OldestWait  time.Duration
	Closed      bool
	Label       string // not a figure
}

func (w *Widget) Stats() WidgetStats {
	return WidgetStats{Capacity: 5, ReadWaiting: 2, StreamInUse: 7, Ratio: 0.5, TimedOut: 9, OldestWait: 1500 * time.Millisecond, Closed: true}
}

func (w *Widget) OnWait(fn func(time.Duration)) (stop func()) {
	w.mu.Lock()
	w.hooks = append(w.hooks, fn)
	w.mu.Unlock()
	return func() {}
}

func (w *Widget) wait(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, fn := range w.hooks {
		fn(d)
	}
}

// Names, types, help texts and the histogram's conversion to cumulative
// buckets, on a primitive whose figures the test sets.
func TestWidgetExact(t *testing.T) {
	reg := debug.NewRegistry()
	w := new(Widget)
	if err := reg.Register("w1", w); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{500 * time.Nanosecond, time.Microsecond, 3 * time.Microsecond, time.Second, 200 * time.Second} {
		w.wait(d)
	}
	want := `
# HELP sluice_prom_test_widget_capacity How many may hold the resource at once (permits, slots, room).
# TYPE sluice_prom_test_widget_capacity gauge
sluice_prom_test_widget_capacity{name="w1"} 5
# HELP sluice_prom_test_widget_read_waiters Read lane: callers blocked now, waiting to be admitted.
# TYPE sluice_prom_test_widget_read_waiters gauge
sluice_prom_test_widget_read_waiters{name="w1"} 2
# HELP sluice_prom_test_widget_stream_in_use Stream lane: how many hold the resource now.
# TYPE sluice_prom_test_widget_stream_in_use gauge
sluice_prom_test_widget_stream_in_use{name="w1"} 7
# HELP sluice_prom_test_widget_ratio The prom_test.Widget Stats field Ratio.
# TYPE sluice_prom_test_widget_ratio gauge
sluice_prom_test_widget_ratio{name="w1"} 0.5
# HELP sluice_prom_test_widget_timed_out_total Waits or work ended by the primitive's own deadline.
# TYPE sluice_prom_test_widget_timed_out_total counter
sluice_prom_test_widget_timed_out_total{name="w1"} 9
# HELP sluice_prom_test_widget_oldest_wait_seconds How long the longest current waiter has waited; 0 when nobody waits.
# TYPE sluice_prom_test_widget_oldest_wait_seconds gauge
sluice_prom_test_widget_oldest_wait_seconds{name="w1"} 1.5
# HELP sluice_prom_test_widget_closed 1 once Close has been called, else 0.
# TYPE sluice_prom_test_widget_closed gauge
sluice_prom_test_widget_closed{name="w1"} 1
# HELP sluice_prom_test_widget_wait_seconds How long each caller that had to wait waited before it was admitted (callers admitted at once are not counted).
# TYPE sluice_prom_test_widget_wait_seconds histogram
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="1e-06"} 2
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="4e-06"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="1.6e-05"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="6.4e-05"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="0.00025"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="0.001"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="0.004"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="0.016"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="0.064"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="0.25"} 3
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="1"} 4
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="4"} 4
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="16"} 4
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="64"} 4
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="100"} 4
sluice_prom_test_widget_wait_seconds_bucket{name="w1",le="+Inf"} 5
sluice_prom_test_widget_wait_seconds_sum{name="w1"} 201.0000045
sluice_prom_test_widget_wait_seconds_count{name="w1"} 5
`
	c := prom.NewCollector(reg)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Scrapes running while primitives with waiters are closed, registered and
// unregistered never panic (a panic would end the test binary) and never
// block.
func TestScrapeDuringClose(t *testing.T) {
	conctest.CheckLeaks(t)
	reg := debug.NewRegistry()
	c := prom.NewCollector(reg)
	preg := prometheus.NewRegistry()
	preg.MustRegister(c)
	ctx := t.Context()

	for round := range 20 {
		all := everyKind(t, reg)

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
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := preg.Gather(); err != nil {
						t.Errorf("Gather: %v", err)
						return
					}
				}
			})
		}
		conctest.NoDeadlock(t, 30*time.Second, "Close and Unregister while scraping", func() {
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
		if round%2 == 1 {
			for _, e := range reg.Snapshot() {
				reg.Unregister(e.Name)
			}
		}
	}
}

// The exposition over HTTP, through promhttp, on a loopback listener.
func TestHTTP(t *testing.T) {
	reg := debug.NewRegistry()
	s := sem.New(4)
	if err := reg.Register("db", s); err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(t.Context(), 3); err != nil {
		t.Fatal(err)
	}
	preg := prometheus.NewRegistry()
	preg.MustRegister(prom.NewCollector(reg))
	srv := httptest.NewServer(promhttp.HandlerFor(preg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("server at %s, want loopback", srv.URL)
	}

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{
		"# TYPE sluice_sem_permits gauge\n",
		`sluice_sem_permits{name="db"} 4` + "\n",
		`sluice_sem_in_use{name="db"} 3` + "\n",
		`sluice_sem_waiters{name="db"} 0` + "\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	s.Release(3)
	s.Close()
}

// Two collectors of one registry on one prometheus.Registry export every
// series twice: both register (they are unchecked), and the scrape reports
// the duplicates instead of exporting them.
func TestTwoCollectorsDuplicate(t *testing.T) {
	reg := debug.NewRegistry()
	if err := reg.Register("db", sem.New(1)); err != nil {
		t.Fatal(err)
	}
	preg := prometheus.NewRegistry()
	preg.MustRegister(prom.NewCollector(reg))
	preg.MustRegister(prom.NewCollector(reg))
	if _, err := preg.Gather(); err == nil || !strings.Contains(err.Error(), "collected before with the same name and label values") {
		t.Errorf("Gather: %v, want a duplicate error", err)
	}
}
