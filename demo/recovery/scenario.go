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
//
// Every wait of the demo is for an event that must come (a count reaching
// a value), never for time to pass; each is bounded only so that a bug
// becomes an error instead of a hang. The figures a verdict rests on are
// forced by construction (see payloadStore), not by timing, and the
// harness can end every request it caused whatever state it is in.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/debug"
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
	// Guard bounds each wait of the demo for the variants to make
	// progress: for the naive variant to reach its steady state, for the
	// sluice variant to stop after cancel (default 60 s). It is a liveness
	// bound, not a speed check: every such wait ends as soon as its event
	// comes, so a generous bound costs nothing, and only a variant that
	// never gets there hits it. Waits for cleanup are bounded by the
	// larger of Guard and cleanupGuard.
	Guard time.Duration
	// Registry, when not nil, gets the sluice validator's primitives:
	// "recovery/slots" (the shared sem), "recovery/validations" (the
	// run.Guard of ExecuteRecoveryValidations), and each path's pool while
	// it runs ("recovery/recovery pool", "recovery/live pool"). It changes
	// no figure.
	Registry *debug.Registry
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
		c.Guard = time.Minute
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
	// Stopped is whether everything stopped (every call returned,
	// nothing in flight at the node) within Config.Guard of the root
	// context being cancelled mid-recovery, and StopAfterCancel how long
	// it took. Sluice only; the naive code takes no context. The verdict
	// rests on Stopped, a liveness bound; StopAfterCancel is only shown,
	// since a loaded machine can stretch it at will.
	Stopped         bool
	StopAfterCancel time.Duration
	// Leaked is how many of the goroutines counted in PeakGoroutines are
	// still alive once the variant has cleaned up, after waiting (up to
	// the cleanup bound) for the count to come down to zero.
	Leaked  int
	Elapsed time.Duration
}

const payload = `{"inference_id":"missed","payloads":"..."}`

// triggers are the three paths that fire recovery.
var triggers = []string{"new block", "startup", "admin"}

// naiveGoroutines is how many goroutines the naive variant starts in all:
// one per trigger path, one per missed item per path, one per live item.
func naiveGoroutines(cfg Config) int {
	cfg = cfg.withDefaults()
	return len(triggers)*(1+cfg.Backlog) + cfg.Live
}

// spareConns is how many connections the naive client may open beyond one
// per hung request (each hung request pins its own for good).
const spareConns = 32

// RunNaive runs the seed's code: three trigger paths and the live path at
// once against the node. Once every goroutine has been started (all alive,
// the payload store being shut), it opens the payload store and waits
// until every replay has either finished or hung at the node, measures,
// then cleans up: it cancels the context it gave every request, ends the
// node's handlers and closes every connection.
//
// It returns an error, with the report measured so far, if that state is
// not reached within cfg.Guard; cleanup happens either way.
func RunNaive(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	r := Report{Variant: demo.Naive}
	start := time.Now()
	node := newMLNode(cfg.Work, cfg.HangEvery)
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

	// kill is the harness's, not the validator's: the seed's requests
	// carry no context and no deadline, so the transport hands each this
	// one (without a deadline) to end them all when the demo is over.
	kill, killAll := context.WithCancel(context.WithoutCancel(ctx))
	defer killAll()
	conns := hung + spareConns
	ct := newCountingTransport(&http.Transport{
		// The seed used http.DefaultTransport, which has no connection
		// cap. The cap here leaves the replays that can finish spareConns
		// connections beside the ones the hung replays pin, so they always
		// make progress, while the demo cannot flood the loopback listener
		// or exhaust file descriptors; the failure shows anyway, as the
		// replays, all released at once, are in flight together, most of
		// them queued for a connection.
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
	}, kill)
	payloads := newPayloadStore()
	v := &naiveValidator{client: &http.Client{Transport: ct}, node: node, payloads: payloads}

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

	// Every goroutine started: as none can get past the shut payload
	// store, they are all alive now, and all three runs are in progress.
	wctx, cancel := context.WithTimeout(ctx, cfg.Guard)
	defer cancel()
	err := v.own.wait(wctx, func(int) bool { return v.own.total() >= naiveGoroutines(cfg) })
	if err == nil {
		payloads.open()
		// Steady state: every replay has finished or hangs at the node.
		// (Counting finished replays, failed ones included, rather than
		// waiting for exactly the hung items to hang, so a replay that
		// fails cannot keep the state from being reached.)
		err = waitFor(wctx, func() bool { return ct.done.now()+node.hanging.now() >= total }, &ct.done, &node.hanging)
	}
	r.Hanging = node.hanging.now()

	// Clean up. Cancelling kill ends every request wherever it is (queued
	// for a connection, dialing, waiting for its answer); then every
	// goroutine can return.
	killAll()
	payloads.open()
	wg.Wait()
	v.live.Wait()
	node.close()
	cerr := ct.close(ctx, cfg.cleanupBound())
	r.record(ctx, cfg, &v.own, ct, node, v.runs.max(), start)
	if err != nil {
		return r, fmt.Errorf("recovery: naive variant did not reach its steady state within %v: %w", cfg.Guard, err)
	}
	if cerr != nil {
		return r, cerr
	}
	return r, nil
}

// RunSluice runs the fixed validator twice. First the three trigger
// paths fire at once with the live path alongside, and recovery runs to
// the end. Then they fire again and the root context is cancelled
// mid-recovery, and the variant checks that everything stops.
func RunSluice(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	r := Report{Variant: demo.Sluice}
	start := time.Now()
	node := newMLNode(cfg.Work, cfg.HangEvery)
	ct := newCountingTransport(&http.Transport{MaxIdleConnsPerHost: cfg.Limit}, nil)
	payloads := newPayloadStore()
	v := &validator{
		// The seed's fix: a shared client with a 5 minute timeout as a
		// backstop, and a deadline on every request.
		client:   &http.Client{Transport: ct, Timeout: 5 * time.Minute},
		node:     node,
		payloads: payloads,
		slots:    sem.New(int64(cfg.Limit)),
		timeout:  cfg.RequestTimeout,
		reg:      cfg.Registry,
	}
	missed, live := items(cfg)
	cleanup := func() {
		node.close()
		_ = ct.close(ctx, cfg.cleanupBound())
	}
	if err := errors.Join(
		demo.Register(cfg.Registry, "recovery/slots", v.slots),
		demo.Register(cfg.Registry, "recovery/validations", &v.recovery)); err != nil {
		cleanup()
		return r, err
	}

	// fireAll fires the three trigger paths and the live path at once. It
	// returns a gauge of the trigger calls that have returned and a func
	// that waits for every path and reports how many triggers got
	// run.ErrRunning, and any other error.
	fireAll := func(ctx context.Context) (returned *gauge, wait func() (rejected int, err error)) {
		returned = new(gauge)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var rejected int
		var runErr error
		fire := make(chan struct{})
		for range triggers {
			wg.Add(1)
			v.own.spawn(func() {
				defer wg.Done()
				<-fire
				err := v.ExecuteRecoveryValidations(ctx, missed)
				mu.Lock()
				if errors.Is(err, run.ErrRunning) {
					rejected++
				} else if err != nil {
					runErr = err
				}
				mu.Unlock()
				returned.add(1)
			})
		}
		wg.Add(1)
		v.own.spawn(func() {
			defer wg.Done()
			<-fire
			_ = v.SampleInferenceToValidate(ctx, live)
		})
		close(fire)
		return returned, func() (int, error) {
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			return rejected, runErr
		}
	}

	// Phase 1: a full recovery. While the payload store is shut, the run
	// that won the guard cannot end, so the two other triggers must come
	// back rejected; once they have, the store opens.
	returned, wait := fireAll(ctx)
	wctx, cancel := context.WithTimeout(ctx, cfg.Guard)
	_ = returned.wait(wctx, func(n int) bool { return n >= len(triggers)-1 })
	cancel()
	payloads.open()
	rejected, err := wait()
	if err != nil {
		cleanup()
		return r, fmt.Errorf("recovery: sluice recovery failed: %w", err)
	}
	r.Rejected = rejected
	// Everything returned, every timed-out request's connection closed;
	// the node notices each on its own schedule.
	wctx, cancel = context.WithTimeout(ctx, cfg.Guard)
	_ = node.hanging.wait(wctx, func(n int) bool { return n == 0 })
	cancel()
	r.Hanging = node.hanging.now()

	// Phase 2: fire again, cancel the root context mid-recovery (once a
	// tenth of the backlog has been answered), and wait for everything to
	// stop.
	root, cancelRoot := context.WithCancel(ctx)
	defer cancelRoot()
	served := node.served.Load()
	_, wait2 := fireAll(root)
	stopped := make(chan struct{})
	v.own.spawn(func() {
		defer close(stopped)
		_, _ = wait2()
	})
	wctx, cancel = context.WithTimeout(ctx, cfg.Guard)
	_ = waitServed(wctx, node, served+int64(cfg.Backlog/10))
	cancel()
	cancelAt := time.Now()
	cancelRoot()
	wctx, cancel = context.WithTimeout(ctx, cfg.Guard)
	select {
	case <-stopped:
		r.Stopped = node.inFlight.wait(wctx, func(n int) bool { return n == 0 }) == nil
	case <-wctx.Done():
	}
	cancel()
	r.StopAfterCancel = time.Since(cancelAt)

	cleanup()
	<-stopped // at the latest once the node has ended every request
	r.record(ctx, cfg, &v.own, ct, node, v.runs.max(), start)
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
// without a deadline, and those finished. It also counts the connections
// it dials, from the dial to their close, so that cleanup can wait until
// every one is closed.
type countingTransport struct {
	base       *http.Transport
	kill       context.Context // if not nil, ends every request when done
	inFlight   gauge
	done       gauge // finished, successfully or not
	conns      gauge // dialing or open
	sent       atomic.Int64
	noDeadline atomic.Int64
}

// newCountingTransport wraps base, taking over its DialContext. If kill is
// not nil, every request is also ended when kill is.
func newCountingTransport(base *http.Transport, kill context.Context) *countingTransport {
	t := &countingTransport{base: base, kill: kill}
	var d net.Dialer
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		leave := t.conns.enter()
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			leave()
			return nil, err
		}
		return &countedConn{Conn: c, leave: leave}, nil
	}
	return t
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.sent.Add(1)
	if _, ok := req.Context().Deadline(); !ok {
		t.noDeadline.Add(1)
	}
	leave := t.inFlight.enter()
	release := func() {}
	if t.kill != nil {
		ctx, cancel := context.WithCancel(req.Context())
		stop := context.AfterFunc(t.kill, cancel)
		release = func() { stop(); cancel() }
		req = req.WithContext(ctx)
	}
	finish := func() {
		release()
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

// close closes the idle connections and waits (up to bound) until every
// connection is closed. Call it once every request has returned and the
// node has closed its side, so no connection is left to come back.
func (t *countingTransport) close(ctx context.Context, bound time.Duration) error {
	t.base.CloseIdleConnections()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
	defer cancel()
	if err := t.conns.wait(wctx, func(n int) bool { return n == 0 }); err != nil {
		return fmt.Errorf("recovery: %d client connections still open %v after cleanup", t.conns.now(), bound)
	}
	return nil
}

type countedConn struct {
	net.Conn
	leave func() // idempotent (gauge.enter)
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.leave()
	return err
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

// cleanupGuard bounds each wait of cleanup: for the connections to close,
// for a variant's own goroutines to be gone. Everything has been ended or
// waited for by then, except for the last steps (a goroutine is uncounted
// as it returns, after the Done its owner waited on), so these waits end
// at once unless something really leaked; the bound is liveness, generous
// so that a loaded machine cannot turn a slow last step into a leak.
const cleanupGuard = time.Minute

// cleanupBound is the bound on each wait of cleanup.
func (c Config) cleanupBound() time.Duration { return max(c.Guard, cleanupGuard) }

// record fills in the figures both variants measure the same way, once
// their run is over and cleaned up. own counts the variant's own
// goroutines.
func (r *Report) record(ctx context.Context, cfg Config, own *gauge, ct *countingTransport, node *mlNode, overlapping int, start time.Time) {
	r.Requests = int(ct.sent.Load())
	r.PeakGoroutines = own.max()
	r.PeakInFlight = ct.inFlight.max()
	r.PeakAtNode = node.inFlight.max()
	r.OverlappingRuns = overlapping
	r.NoDeadline = int(ct.noDeadline.Load())
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.cleanupBound())
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
		Run: func(ctx context.Context, opt demo.Options) ([]demo.Result, error) {
			naive, err := RunNaive(ctx, cfg)
			if err != nil {
				return nil, err
			}
			scfg := cfg
			scfg.Registry = opt.Registry
			sl, err := RunSluice(ctx, scfg)
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
// passed. No check rests on how long something took: stopping after
// cancel is checked against cfg.Guard, a liveness bound (see Config).
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
	if !r.Stopped {
		failed = append(failed, fmt.Sprintf("not stopped %v after cancel", cfg.Guard))
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
