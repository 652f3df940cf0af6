// Package eventloop replays seed 003: an async scoring pipeline called
// blocking HTTP helpers from its event loop, so every slow call stalled
// every other task on the loop, and nothing said which call it was.
//
// One [loop.Loop] owns the pipeline's state (the scores). It scores
// workers, each needing two calls to an HTTP API that answers after
// 200 ms (a user lookup, then the user's merged pull requests), while a
// cheap status request arrives every 10 ms from outside. Both variants run
// on the same loop type with its watchdog on:
//
//   - naive (naive.go): each worker is scored by a handler that makes the
//     two calls itself, the way the seed's code did. The loop is blocked
//     400 ms per worker and status requests queue behind it; the watchdog
//     names the handler and shows the HTTP call it is stuck in.
//   - sluice (sluice.go): written as a user of the loop package would:
//     each blocking call is one [loop.Offload], and its answer comes back
//     onto the loop as a handler, the only place the state changes. The
//     loop is never blocked: status requests are answered at once and the
//     watchdog has nothing to report.
//
// The naive variant scores fewer workers than the sluice one (5 instead of
// 50 by default): its status latency does not depend on the number of
// workers, only on how long one handler blocks (two calls, 400 ms), and 50
// workers would take 20 s. Both variants' scores are checked against the
// values the API serves, and against each other for the workers both
// score.
//
// The harness (scenario.go) serves the API on loopback HTTP, as `sluice
// demo` runs it, or in process, so that the tests can run both variants
// in a testing/synctest bubble with exact figures; api.go is the API.
package eventloop

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/loop"
)

// Config sizes a run. Zero fields take the defaults.
type Config struct {
	Workers     int           // workers to score; default 5 (naive), 50 (sluice)
	Delay       time.Duration // the API's answer time; default 200 ms
	StatusEvery time.Duration // status request interval; default 10 ms
	// Offload workers (sluice only); default: one per worker, so all
	// calls wait on the API at once.
	OffloadWorkers int
	SlowThreshold  time.Duration // the watchdog's threshold; default 100 ms
	// Registry, when not nil, gets the variant's loop, with its watchdog
	// reports as events: "eventloop/scores" (sluice) and
	// "eventloop/scores (naive)", the naive handlers on the same loop
	// type, whose reports name the blocking handler. It changes no figure.
	Registry *debug.Registry

	// inProcess serves the API from an in-process transport instead of a
	// loopback server: nothing blocks on a socket, so a run fits in a
	// testing/synctest bubble, where the fake clock makes every figure
	// exact. Tests only.
	inProcess bool
}

func (c Config) withDefaults(workers int) Config {
	if c.Workers <= 0 {
		c.Workers = workers
	}
	if c.Delay <= 0 {
		c.Delay = 200 * time.Millisecond
	}
	if c.StatusEvery <= 0 {
		c.StatusEvery = 10 * time.Millisecond
	}
	if c.OffloadWorkers <= 0 {
		c.OffloadWorkers = c.Workers
	}
	if c.SlowThreshold <= 0 {
		c.SlowThreshold = 100 * time.Millisecond
	}
	return c
}

// Report is what one variant measured.
type Report struct {
	Workers  int
	Scores   map[int]int // worker -> score
	ScoresOK bool        // every worker scored, each as the API's data says
	Elapsed  time.Duration

	// Status requests: how long each waited for the loop to answer.
	StatusCount          int
	StatusP50, StatusP99 time.Duration
	StatusMax            time.Duration
	SlowReports          int    // watchdog reports
	SlowHandler          string // the first report's handler name
	SlowRunning          time.Duration
	BlockedIn            string // the HTTP call the first report's stack shows
}

// state is what the loop owns. Only handlers touch it.
type state struct {
	want   int
	scores map[int]int
	err    error
	done   chan struct{} // closed when every worker is scored or one failed
}

// record stores worker w's score, or fails the run with err.
func (s *state) record(w int, u user, merged int, err error) {
	if err != nil {
		s.fail(err)
		return
	}
	s.scores[w] = score(u, merged)
	if len(s.scores) == s.want {
		close(s.done)
	}
}

// fail ends the run with its first error.
func (s *state) fail(err error) {
	if s.err == nil {
		s.err = err
		close(s.done)
	}
}

// pipeline is what a variant's handlers reach: the loop and the API.
type pipeline struct {
	l   *loop.Loop[state]
	api *api
}

// run is the harness both variants share: it serves the API, starts the
// loop with its watchdog (registered in cfg.Registry as name), asks for status every cfg.StatusEvery from
// outside the loop, lets start queue the variant's first handlers, waits
// until every worker is scored, and reports what it measured.
func run(ctx context.Context, cfg Config, name string, start func(p *pipeline) error) (Report, error) {
	var a *api
	if cfg.inProcess {
		a = &api{base: "http://api.invalid", client: &http.Client{
			Transport: inProcess{newAPI(cfg.Delay)}, Timeout: 10 * cfg.Delay}}
	} else {
		srv := httptest.NewServer(newAPI(cfg.Delay))
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: cfg.Workers + 8}
		defer tr.CloseIdleConnections()
		a = &api{base: srv.URL, client: &http.Client{Transport: tr, Timeout: 10 * cfg.Delay}}
	}

	var slowMu sync.Mutex
	var slows []loop.Slow
	record := func(loop.Slow) {}
	if cfg.Registry != nil {
		record = cfg.Registry.SlowHook(name)
	}
	st := state{want: cfg.Workers, scores: map[int]int{}, done: make(chan struct{})}
	l := loop.New(st,
		loop.WithWorkers(cfg.OffloadWorkers),
		loop.WithSlowThreshold(cfg.SlowThreshold),
		loop.WithSlowHook(func(s loop.Slow) {
			slowMu.Lock()
			slows = append(slows, s)
			slowMu.Unlock()
			record(s)
		}))
	defer func() {
		l.Close()
		l.Wait(context.Background())
	}()
	if err := demo.Register(cfg.Registry, name, l); err != nil {
		return Report{}, err
	}
	var done chan struct{}
	if err := l.Do(ctx, func(s *state) { done = s.done }); err != nil {
		return Report{}, err
	}

	// Status requests: one every StatusEvery, each on its own goroutine,
	// so a stalled loop makes them queue up rather than go unasked.
	var latMu sync.Mutex
	var lats []time.Duration
	stopStatus := make(chan struct{})
	statusDone := make(chan struct{})
	var asks sync.WaitGroup
	go func() {
		defer close(statusDone)
		tick := time.NewTicker(cfg.StatusEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-stopStatus:
				return
			}
			asks.Add(1)
			go func() {
				defer asks.Done()
				t0 := time.Now()
				var progress int
				if err := l.Do(ctx, func(s *state) { progress = len(s.scores) }); err != nil {
					return
				}
				_ = progress
				d := time.Since(t0)
				latMu.Lock()
				lats = append(lats, d)
				latMu.Unlock()
			}()
		}
	}()

	t0 := time.Now()
	p := &pipeline{l: l, api: a}
	err := start(p)
	if err == nil {
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	elapsed := time.Since(t0)
	close(stopStatus)
	<-statusDone
	asks.Wait()
	if err != nil {
		return Report{}, err
	}

	r := Report{Workers: cfg.Workers, Elapsed: elapsed}
	var runErr error
	if err := l.Do(ctx, func(s *state) {
		r.Scores = maps.Clone(s.scores)
		runErr = s.err
	}); err != nil {
		return Report{}, err
	}
	if runErr != nil {
		return Report{}, fmt.Errorf("eventloop: scoring failed: %w", runErr)
	}
	r.ScoresOK = len(r.Scores) == cfg.Workers
	for w, got := range r.Scores {
		if got != score(user{ID: w, Commits: commitsOf(w)}, mergedOf(w)) {
			r.ScoresOK = false
		}
	}
	latMu.Lock()
	slices.Sort(lats)
	r.StatusCount = len(lats)
	if n := len(lats); n > 0 {
		r.StatusP50 = lats[n/2]
		r.StatusP99 = lats[(n*99+99)/100-1]
		r.StatusMax = lats[n-1]
	}
	latMu.Unlock()
	slowMu.Lock()
	r.SlowReports = len(slows)
	if len(slows) > 0 {
		r.SlowHandler = slows[0].Name
		r.SlowRunning = slows[0].Running
		r.BlockedIn = blockedIn(slows[0].Stack)
	}
	slowMu.Unlock()
	return r, nil
}

// blockedIn picks, from a stack, the outermost net/http call and the
// function of this package that made it: "net/http.(*Client).Do from
// eventloop.(*api).get". Outermost, because the in-process transport puts
// a second such pair (the handler under the transport) above it.
func blockedIn(stack string) string {
	var httpCall, found string
	for _, line := range strings.Split(stack, "\n") {
		if strings.HasPrefix(line, "\t") {
			continue
		}
		fn := line
		if i := strings.LastIndexByte(fn, '('); i > 0 && strings.HasSuffix(fn, ")") {
			fn = fn[:i] // drop the argument list
		}
		switch {
		case strings.HasPrefix(fn, "net/http."):
			httpCall = fn
		case httpCall != "" && strings.Contains(fn, "/demo/eventloop."):
			found = httpCall + " from " + fn[strings.LastIndexByte(fn, '/')+1:]
			httpCall = ""
		}
	}
	if found == "" {
		return httpCall
	}
	return found
}

// StatusTarget is the sluice variant's bound on status latency (p99).
const StatusTarget = 20 * time.Millisecond

// Scenario returns the seed 003 scenario for the sluice command.
func Scenario() demo.Scenario {
	return demo.Scenario{
		Name:    "eventloop",
		Seed:    "003",
		Summary: "blocking HTTP inside an event loop stalls every other request; loop.Offload keeps the loop free and the watchdog names the handler that blocks it",
		Run: func(ctx context.Context, opt demo.Options) ([]demo.Result, error) {
			naive, err := RunNaive(ctx, Config{Registry: opt.Registry})
			if err != nil {
				return nil, err
			}
			sl, err := RunSluice(ctx, Config{Registry: opt.Registry})
			if err != nil {
				return nil, err
			}
			return []demo.Result{naiveResult(naive), sluiceResult(sl, naive)}, nil
		},
	}
}

func ms(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

// commonMetrics are the figures both variants report, in table order.
func commonMetrics(r Report) []demo.Metric {
	return []demo.Metric{
		demo.M("workers", r.Workers),
		demo.M("elapsed", r.Elapsed.Round(time.Millisecond)),
		demo.M("status requests", r.StatusCount),
		demo.M("status p50", ms(r.StatusP50)),
		demo.M("status p99", ms(r.StatusP99)),
		demo.M("watchdog reports", r.SlowReports),
	}
}

func naiveResult(r Report) demo.Result {
	res := demo.Result{
		Scenario: "eventloop",
		Variant:  demo.Naive,
		Metrics: append(commonMetrics(r),
			demo.M("blocking handler", r.SlowHandler),
			demo.M("blocked in", r.BlockedIn)),
	}
	switch {
	case r.StatusP99 < 100*time.Millisecond:
		res.Verdict = "status requests were not stalled: the failure did not show"
	case r.SlowReports == 0:
		res.Verdict = "the loop stalled but the watchdog reported nothing"
	default:
		res.OK = true
		res.Verdict = fmt.Sprintf("HTTP inside handlers stalled status requests (p99 %s); watchdog named %s",
			ms(r.StatusP99), r.SlowHandler)
	}
	return res
}

func sluiceResult(r, naive Report) demo.Result {
	res := demo.Result{
		Scenario: "eventloop",
		Variant:  demo.Sluice,
		Metrics: append(commonMetrics(r),
			demo.M("scores ok", r.ScoresOK)),
	}
	var failed []string
	if !r.ScoresOK {
		failed = append(failed, "scores wrong")
	}
	if !SameScores(naive, r) {
		failed = append(failed, "scores differ from the naive variant's")
	}
	if r.StatusP99 >= StatusTarget {
		failed = append(failed, fmt.Sprintf("status p99 %s not under %s", ms(r.StatusP99), StatusTarget))
	}
	if r.SlowReports > 0 {
		failed = append(failed, "watchdog reported a slow handler")
	}
	if len(failed) > 0 {
		res.Verdict = strings.Join(failed, "; ")
		return res
	}
	res.OK = true
	res.Verdict = fmt.Sprintf("HTTP offloaded: status p99 %s (under %s), %d workers scored in %s, same scores",
		ms(r.StatusP99), StatusTarget, r.Workers, r.Elapsed.Round(time.Millisecond))
	return res
}

// SameScores reports whether every worker scored by both runs got the
// same score in both, and each run scored at least one.
func SameScores(a, b Report) bool {
	common := 0
	for w, s := range a.Scores {
		if t, ok := b.Scores[w]; ok {
			if s != t {
				return false
			}
			common++
		}
	}
	return common > 0
}
