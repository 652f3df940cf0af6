// Package recovery reproduces seed 002 end to end: a validator recovering
// a backlog of missed inferences by replaying each against a local ML node
// over HTTP, triggered from three paths at once (a new block, startup, an
// admin call) while live sampled validations go on.
//
// The naive variant is the seed's code before the fix: a goroutine per
// item, no guard between the trigger paths, an HTTP client without a
// timeout. The sluice variant uses one shared [sem.Semaphore] drawn on by
// a [pool.Pool] per path, a [run.Guard] in Reject mode, and a deadline on
// every request.
//
// The ML node is a real HTTP server on 127.0.0.1 (net/http/httptest). It
// answers most replays after about a millisecond; a share of them hang
// until their request's context ends.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/run"
	"github.com/sluice-go/sluice/sem"
)

// Config sizes a run. Zero fields take the defaults.
type Config struct {
	Backlog   int           // missed inferences to recover (default 5,000)
	Live      int           // sampled live validations during recovery (default 250)
	HangEvery int           // every HangEvery-th item hangs at the node (default 50: 2%)
	Work      time.Duration // how long the node takes to answer (default 1 ms)
	Limit     int           // sluice: replays in flight process-wide (default 10, the seed's)
	// RequestTimeout is the sluice per-request deadline (default 50 ms;
	// the seed's client timeout is 5 minutes, shortened so the demo is
	// quick).
	RequestTimeout time.Duration
	// Guard bounds each wait of the demo itself: for the naive variant to
	// reach its steady state, for cleanup (default 20 s).
	Guard time.Duration
}

func (c Config) withDefaults() Config {
	if c.Backlog <= 0 {
		c.Backlog = 5000
	}
	if c.Live <= 0 {
		c.Live = 250
	}
	if c.HangEvery <= 0 {
		c.HangEvery = 50
	}
	if c.Work <= 0 {
		c.Work = time.Millisecond
	}
	if c.Limit <= 0 {
		c.Limit = 10
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 50 * time.Millisecond
	}
	if c.Guard <= 0 {
		c.Guard = 20 * time.Second
	}
	return c
}

// Report is what one variant measured.
type Report struct {
	Variant string

	Requests int // replays sent
	// PeakGoroutines is the most goroutines of the validator's own alive
	// at once: every goroutine the variant's code starts, counted from its
	// go statement to its return, and for the sluice variant the pool
	// workers, counted while they run a replay (a pool keeps one worker
	// per slot; package pool tests that). Goroutines of net/http and of
	// the runtime are not the validator's and are left out, so the figure
	// is exact rather than a sample of runtime.NumGoroutine, which lags
	// behind goroutines that come and go.
	PeakGoroutines int
	// PeakInFlight is the most replays in flight at once, across every
	// path, as the validator sees them (from sending the request to
	// closing the response or giving up).
	PeakInFlight int
	// PeakAtNode is the most requests inside the ML node's handler at
	// once. It can exceed PeakInFlight by the requests the validator has
	// just given up on and the node has not yet noticed.
	PeakAtNode      int
	OverlappingRuns int // most recovery runs at once
	Rejected        int // trigger calls that got run.ErrRunning
	NoDeadline      int // replays sent without a deadline
	Timeouts        int // replays that hit their deadline
	// Hanging is the replays still hung at the node when the variant's
	// work was over (naive: once every replay that could finish had;
	// sluice: after the recovery returned). The demo then cleans up.
	Hanging int
	// StopAfterCancel is how long everything took to stop (every call
	// returned, nothing in flight at the node) after the root context was
	// cancelled mid-recovery. Sluice only; the naive code takes no context.
	StopAfterCancel time.Duration
	// Leaked is how many of the goroutines counted in PeakGoroutines are
	// still alive once the variant has cleaned up, after waiting (up to
	// leakWait) for the count to come down to zero.
	Leaked  int
	Elapsed time.Duration
}

const payload = `{"inference_id":"missed","payloads":"..."}`

// triggers are the three paths that fire recovery.
var triggers = []string{"new block", "startup", "admin"}

// RunNaive runs the seed's code: three trigger paths and the live path at
// once against the node. It waits until every replay that can finish has
// (the hung ones never will), measures, then cleans up by closing the
// node's client connections, which ends the hung requests.
func RunNaive(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	r := Report{Variant: demo.Naive}
	start := time.Now()
	node := newMLNode(cfg.Work, cfg.HangEvery)
	ct := newCountingTransport(&http.Transport{
		// The seed used http.DefaultTransport. Its connection cap is
		// lifted from "none" to 1,000 only so this demo cannot exhaust
		// the machine's file descriptors; the failure shows anyway.
		MaxConnsPerHost:     1000,
		MaxIdleConnsPerHost: 1000,
	})
	v := &naiveValidator{client: &http.Client{Transport: ct}, node: node}

	missed, live := items(cfg)
	hung := 0
	for _, it := range missed {
		if node.hangs(it) {
			hung += len(triggers)
		}
	}
	for _, it := range live {
		if node.hangs(it) {
			hung++
		}
	}
	total := len(triggers)*len(missed) + len(live)

	var wg sync.WaitGroup
	fire := make(chan struct{})
	for range triggers {
		wg.Add(1)
		v.own.spawn(func() {
			defer wg.Done()
			<-fire
			v.ExecuteRecoveryValidations(missed)
		})
	}
	close(fire)
	v.SampleInferenceToValidate(live)

	// Steady state: every replay that can finish has, the rest hang.
	wctx, cancel := context.WithTimeout(ctx, cfg.Guard)
	err := ct.done.wait(wctx, func(n int) bool { return n >= total-hung })
	if err == nil {
		err = node.hanging.wait(wctx, func(n int) bool { return n >= hung })
	}
	cancel()
	r.Hanging = node.hanging.now()

	// Clean up: closing the connections ends the hung requests (their
	// context ends with the connection); then every goroutine returns.
	node.close()
	wg.Wait()
	v.live.Wait()
	ct.base.CloseIdleConnections()
	r.record(ctx, &v.own, ct, node, v.runs.max(), start)
	if err != nil {
		return r, fmt.Errorf("recovery: naive variant did not reach its steady state within %v: %w", cfg.Guard, err)
	}
	return r, nil
}

// RunSluice runs the fixed validator twice. First the three trigger
// paths fire at once with the live path alongside, and recovery runs to
// the end. Then they fire again and the root context is cancelled
// mid-recovery, and the time until everything has stopped is measured.
func RunSluice(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	r := Report{Variant: demo.Sluice}
	start := time.Now()
	node := newMLNode(cfg.Work, cfg.HangEvery)
	ct := newCountingTransport(&http.Transport{MaxIdleConnsPerHost: cfg.Limit})
	v := &validator{
		// The seed's fix: a shared client with a 5 minute timeout as a
		// backstop, and a deadline on every request.
		client:  &http.Client{Transport: ct, Timeout: 5 * time.Minute},
		node:    node,
		slots:   sem.New(int64(cfg.Limit)),
		timeout: cfg.RequestTimeout,
	}
	missed, live := items(cfg)

	fireAll := func(ctx context.Context) (rejected int, runErr error) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		fire := make(chan struct{})
		for range triggers {
			wg.Add(1)
			v.own.spawn(func() {
				defer wg.Done()
				<-fire
				err := v.ExecuteRecoveryValidations(ctx, missed)
				mu.Lock()
				defer mu.Unlock()
				if errors.Is(err, run.ErrRunning) {
					rejected++
				} else {
					runErr = err
				}
			})
		}
		wg.Add(1)
		v.own.spawn(func() {
			defer wg.Done()
			<-fire
			_ = v.SampleInferenceToValidate(ctx, live)
		})
		close(fire)
		wg.Wait()
		return rejected, runErr
	}

	// Phase 1: a full recovery.
	rejected, err := fireAll(ctx)
	if err != nil {
		node.close()
		return r, fmt.Errorf("recovery: sluice recovery failed: %w", err)
	}
	r.Rejected = rejected
	// Everything returned; the node may take a moment to notice the
	// connections of the last timed-out requests closing.
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	_ = node.hanging.wait(wctx, func(n int) bool { return n == 0 })
	cancel()
	r.Hanging = node.hanging.now()

	// Phase 2: fire again, cancel the root context mid-recovery.
	root, cancelRoot := context.WithCancel(ctx)
	served := node.served.Load()
	stopped := make(chan struct{})
	v.own.spawn(func() {
		defer close(stopped)
		_, _ = fireAll(root)
	})
	wctx, cancel = context.WithTimeout(ctx, cfg.Guard)
	_ = waitServed(wctx, node, served+int64(cfg.Backlog/10))
	cancel()
	cancelAt := time.Now()
	cancelRoot()
	<-stopped
	wctx, cancel = context.WithTimeout(ctx, cfg.Guard)
	_ = node.inFlight.wait(wctx, func(n int) bool { return n == 0 })
	cancel()
	r.StopAfterCancel = time.Since(cancelAt)

	node.close()
	ct.base.CloseIdleConnections()
	r.record(ctx, &v.own, ct, node, v.runs.max(), start)
	r.Timeouts = int(v.timeouts.Load())
	return r, nil
}

// items returns the backlog's item numbers and the live ones after them.
func items(cfg Config) (missed, live []int) {
	missed = make([]int, cfg.Backlog)
	for i := range missed {
		missed[i] = i
	}
	live = make([]int, cfg.Live)
	for i := range live {
		live[i] = cfg.Backlog + i
	}
	return missed, live
}

// waitServed blocks until the node has answered n replays in all. The
// node has no event for it, so it checks on each change of its in-flight
// gauge (every request start and end).
func waitServed(ctx context.Context, node *mlNode, n int64) error {
	return node.inFlight.wait(ctx, func(int) bool { return node.served.Load() >= n })
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// countingTransport counts the replays a validator sends: in flight (from
// the request to the close of its response, or to the error), those sent
// without a deadline, and those finished.
type countingTransport struct {
	base       *http.Transport
	inFlight   gauge
	done       gauge // finished, successfully or not
	sent       atomic.Int64
	noDeadline atomic.Int64
}

func newCountingTransport(base *http.Transport) *countingTransport {
	return &countingTransport{base: base}
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.sent.Add(1)
	if _, ok := req.Context().Deadline(); !ok {
		t.noDeadline.Add(1)
	}
	leave := t.inFlight.enter()
	finish := func() {
		leave()
		t.done.add(1)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		finish()
		return nil, err
	}
	resp.Body = &closeHook{ReadCloser: resp.Body, hook: finish}
	return resp, nil
}

type closeHook struct {
	io.ReadCloser
	once sync.Once
	hook func()
}

func (c *closeHook) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.hook)
	return err
}

// leakWait bounds the wait for a variant's own goroutines to be gone
// after cleanup. They have all been waited for by then except for their
// very last step (a goroutine is uncounted as it returns, after the Done
// its owner waited on), so the count reaches zero within microseconds
// unless something really leaked.
const leakWait = 5 * time.Second

// record fills in the figures both variants measure the same way, once
// their run is over and cleaned up. own counts the variant's own
// goroutines.
func (r *Report) record(ctx context.Context, own *gauge, ct *countingTransport, node *mlNode, overlapping int, start time.Time) {
	r.Requests = int(ct.sent.Load())
	r.PeakGoroutines = own.max()
	r.PeakInFlight = ct.inFlight.max()
	r.PeakAtNode = node.inFlight.max()
	r.OverlappingRuns = overlapping
	r.NoDeadline = int(ct.noDeadline.Load())
	wctx, cancel := context.WithTimeout(ctx, leakWait)
	_ = own.wait(wctx, func(n int) bool { return n == 0 })
	cancel()
	r.Leaked = own.now()
	r.Elapsed = time.Since(start)
}

// Scenario returns the recovery scenario for the sluice command.
func Scenario() demo.Scenario { return scenario(Config{}) }

// scenario is the scenario sized by cfg (zero fields take the defaults).
func scenario(cfg Config) demo.Scenario {
	cfg = cfg.withDefaults()
	return demo.Scenario{
		Name:    "recovery",
		Seed:    "002",
		Summary: "missed-inference recovery: goroutine per item, 3 trigger paths, no HTTP timeout -> pool on a shared sem, run.Guard, deadlines",
		Run: func(ctx context.Context) ([]demo.Result, error) {
			naive, err := RunNaive(ctx, cfg)
			if err != nil {
				return nil, err
			}
			sl, err := RunSluice(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return []demo.Result{NaiveResult(naive), SluiceResult(sl, cfg)}, nil
		},
	}
}

// NaiveResult turns the naive report into a result: OK when it showed the
// seed's failure (thousands of goroutines, overlapping runs, hung
// requests).
func NaiveResult(r Report) demo.Result {
	res := demo.Result{Scenario: "recovery", Variant: demo.Naive, Metrics: metrics(r)}
	var shown []string
	if r.PeakGoroutines >= 1000 {
		shown = append(shown, fmt.Sprintf("%d goroutines", r.PeakGoroutines))
	}
	if r.OverlappingRuns > 1 {
		shown = append(shown, fmt.Sprintf("%d recovery runs at once", r.OverlappingRuns))
	}
	if r.Hanging > 0 {
		shown = append(shown, fmt.Sprintf("%d requests hung for good", r.Hanging))
	}
	res.OK = len(shown) == 3
	if res.OK {
		res.Verdict = strings.Join(shown, ", ")
	} else {
		res.Verdict = "failure not fully shown: " + strings.Join(shown, ", ")
	}
	return res
}

// SluiceResult turns the sluice report into a result: OK when every check
// passed.
func SluiceResult(r Report, cfg Config) demo.Result {
	cfg = cfg.withDefaults()
	res := demo.Result{Scenario: "recovery", Variant: demo.Sluice, Metrics: metrics(r)}
	var failed []string
	if r.PeakInFlight > cfg.Limit {
		failed = append(failed, fmt.Sprintf("%d in flight (cap %d)", r.PeakInFlight, cfg.Limit))
	}
	if r.OverlappingRuns != 1 {
		failed = append(failed, fmt.Sprintf("%d runs at once", r.OverlappingRuns))
	}
	if r.Rejected != len(triggers)-1 {
		failed = append(failed, fmt.Sprintf("%d triggers rejected, want %d", r.Rejected, len(triggers)-1))
	}
	if r.NoDeadline != 0 {
		failed = append(failed, fmt.Sprintf("%d requests without a deadline", r.NoDeadline))
	}
	if r.Hanging != 0 {
		failed = append(failed, fmt.Sprintf("%d requests still hung", r.Hanging))
	}
	if r.StopAfterCancel >= time.Second {
		failed = append(failed, fmt.Sprintf("stop took %v after cancel", r.StopAfterCancel))
	}
	if r.Leaked != 0 {
		failed = append(failed, fmt.Sprintf("%d goroutines leaked", r.Leaked))
	}
	res.OK = len(failed) == 0
	if res.OK {
		res.Verdict = fmt.Sprintf("all checks passed: <=%d in flight, 1 run (%d rejected), deadlines on all, stopped %v after cancel, no leaks",
			cfg.Limit, r.Rejected, r.StopAfterCancel.Round(time.Millisecond))
	} else {
		res.Verdict = "failed: " + strings.Join(failed, ", ")
	}
	return res
}

func metrics(r Report) []demo.Metric {
	m := []demo.Metric{
		demo.M("requests", r.Requests),
		demo.M("peak goroutines", r.PeakGoroutines),
		demo.M("peak in flight", r.PeakInFlight),
		demo.M("peak at node", r.PeakAtNode),
		demo.M("overlapping runs", r.OverlappingRuns),
		demo.M("rejected triggers", r.Rejected),
		demo.M("no deadline", r.NoDeadline),
		demo.M("hung at end", r.Hanging),
	}
	if r.Variant == demo.Sluice {
		m = append(m,
			demo.M("timeouts", r.Timeouts),
			demo.M("stop after cancel", r.StopAfterCancel.Round(time.Millisecond)),
		)
	}
	return append(m, demo.M("leaked", r.Leaked), demo.M("elapsed", r.Elapsed.Round(time.Millisecond)))
}
