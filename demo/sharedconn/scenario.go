// Package sharedconn reproduces seed 000: a validator's handler goroutines
// and its forward loop share one websocket that allows one Recv at a time.
// Every path takes the lock beside it except one, the source-balance check
// of a swap reservation, which believed it used a separate connection;
// for a TAO source it did not, and recv calls collided.
//
// The naive variant is that code. The sluice variant reaches the websocket
// only through a guard.Access made Serial once, where the connection is
// made; each chain provider holds the Access for its own client, so the
// balance check cannot skip the rule, and the BTC provider's HTTP client,
// behind a Concurrent Access, never waits behind the websocket.
package sharedconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/demo"
)

// Config sizes a run. Zero fields take the defaults.
type Config struct {
	Handlers  int           // handler goroutines (default 8)
	Ops       int           // handler operations in all (default 10,000)
	HTTPCalls int           // concurrent BTC balance checks (default 8)
	HTTPDelay time.Duration // how long the HTTP API takes (default 300 ms)
	// Registry, when not nil, gets the sluice validator's guards:
	// "sharedconn/websocket" (Serial) and "sharedconn/btc client"
	// (Concurrent). It changes no figure.
	Registry *debug.Registry
}

func (c Config) withDefaults() Config {
	if c.Handlers <= 0 {
		c.Handlers = 8
	}
	if c.Ops <= 0 {
		c.Ops = 10_000
	}
	if c.HTTPCalls <= 0 {
		c.HTTPCalls = 8
	}
	if c.HTTPDelay <= 0 {
		c.HTTPDelay = 300 * time.Millisecond
	}
	return c
}

// Report is what one variant did.
type Report struct {
	Variant string

	// Phase 1: Handlers goroutines run Ops operations in all (every fourth
	// a TAO swap reservation with its balance check, the rest miner
	// activations), while the forward loop refreshes its bounds. How many
	// of them collide in the naive variant is up to the scheduler.
	Ops       int   // handler operations run
	FailedOps int64 // of those, failed (with ErrRecvCollision); the held check below included
	WSCalls   int64 // websocket queries made, forward loop included
	LoopCalls int64 // of those, by the forward loop

	// Phase 2: a forward step sits inside Recv (its reply is slow). A TAO
	// balance check is made meanwhile, and HTTPCalls BTC balance checks
	// run at once. This phase does not depend on the scheduler: the
	// naive check always collides, the sluice check always waits.
	HeldCheckCollided bool // the TAO check failed with ErrRecvCollision
	HeldCheckWaited   bool // the TAO check queued for the websocket, then succeeded
	HTTPCalls         int
	HTTPDelay         time.Duration // per call, at the server
	HTTPWall          time.Duration // for all of them (shown, not checked: it is a timing)
	HTTPPeak          int           // most BTC checks in flight at the server at once
	HTTPWhileWSHeld   bool          // all finished while the websocket was held

	// Both phases.
	Collisions int64 // queries that failed because another was in Recv
	PeakInRecv int32 // most goroutines inside Recv at once
}

// HTTPSerial is how long the HTTP checks would take one after another.
func (r Report) HTTPSerial() time.Duration { return time.Duration(r.HTTPCalls) * r.HTTPDelay }

// validator is what both variants offer the workload.
type validator interface {
	handleSwapReserve(ctx context.Context, from, addr string) error
	handleMinerActivate(ctx context.Context, hotkey string) error
	forwardStep(ctx context.Context) error
	holdWS(ctx context.Context, held, release chan struct{}) error
	balance(ctx context.Context, from, addr string) (int, error)
	wsWaiting() int // calls queued for the websocket now
}

func (v *naiveValidator) balance(ctx context.Context, from, addr string) (int, error) {
	return v.providers[from].GetBalance(ctx, addr)
}

func (v *sluiceValidator) balance(ctx context.Context, from, addr string) (int, error) {
	return v.providers[from].GetBalance(ctx, addr)
}

// RunNaive runs the workload against the naive validator.
func RunNaive(ctx context.Context, cfg Config) (Report, error) {
	return run(ctx, cfg.withDefaults(), demo.Naive, func(ws *WSConn, api *esplora) validator {
		return newNaive(ws, api)
	})
}

// RunSluice runs the workload against the sluice validator.
func RunSluice(ctx context.Context, cfg Config) (Report, error) {
	var regErr error
	r, err := run(ctx, cfg.withDefaults(), demo.Sluice, func(ws *WSConn, api *esplora) validator {
		v := newSluice(ws, api)
		regErr = errors.Join(
			demo.Register(cfg.Registry, "sharedconn/websocket", v.ws),
			demo.Register(cfg.Registry, "sharedconn/btc client", v.providers["btc"].(bitcoinProvider).http))
		return v
	})
	if err == nil {
		err = regErr
	}
	return r, err
}

func run(ctx context.Context, cfg Config, variant string, mk func(*WSConn, *esplora) validator) (Report, error) {
	ws := &WSConn{}
	api := newEsplora(cfg.HTTPCalls, cfg.HTTPDelay)
	defer api.close()
	v := mk(ws, api)
	r := Report{Variant: variant, Ops: cfg.Ops, HTTPCalls: cfg.HTTPCalls, HTTPDelay: cfg.HTTPDelay}

	// Phase 1.
	var failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	fatal := func(err error) { errOnce.Do(func() { firstErr = err }) }
	count := func(err error) {
		switch {
		case err == nil:
		case errors.Is(err, ErrRecvCollision):
			failed.Add(1)
		default:
			fatal(err)
		}
	}
	stop := make(chan struct{})
	var loopCalls atomic.Int64
	var loop sync.WaitGroup
	loop.Add(1)
	go func() {
		defer loop.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			loopCalls.Add(1)
			if err := v.forwardStep(ctx); err != nil && !errors.Is(err, ErrRecvCollision) {
				fatal(err)
				return
			}
		}
	}()
	var handlers sync.WaitGroup
	for h := range cfg.Handlers {
		n := cfg.Ops / cfg.Handlers
		if h < cfg.Ops%cfg.Handlers {
			n++
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			for j := range n {
				if ctx.Err() != nil {
					return
				}
				if (h+j)%4 == 0 {
					count(v.handleSwapReserve(ctx, "tao", addr(j)))
				} else {
					count(v.handleMinerActivate(ctx, addr(j)))
				}
			}
		}()
	}
	handlers.Wait()
	close(stop)
	loop.Wait()
	if firstErr != nil {
		return r, firstErr
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.WSCalls, r.LoopCalls = ws.Calls(), loopCalls.Load()

	// Phase 2: a forward step sits inside Recv until release. No wait
	// here has a time bound: each waits for a state (the step inside
	// Recv, the check queued, every BTC check at the server), so the
	// outcome never depends on how loaded the machine is. A BTC check
	// that fails cancels hctx, so the others stop waiting for it.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	held, release := make(chan struct{}), make(chan struct{})
	holdErr := make(chan error, 1)
	go func() { holdErr <- v.holdWS(hctx, held, release) }()
	select {
	case <-held:
	case err := <-holdErr:
		return r, fmt.Errorf("sharedconn: holding the websocket: %v", err)
	}
	// The swap reservation's TAO balance check, made now, either collides
	// with the step in Recv (naive) or queues for the websocket (sluice).
	taoErr := make(chan error, 1)
	go func() {
		_, err := v.balance(hctx, "tao", addr(0))
		taoErr <- err
	}()
	taoDone := false
	switch err := waitCheck(hctx, taoErr, v.wsWaiting); {
	case errors.Is(err, errQueued):
		r.HeldCheckWaited = true // so far; it must also succeed below
	case errors.Is(err, ErrRecvCollision):
		taoDone, r.HeldCheckCollided = true, true
		failed.Add(1)
	default:
		close(release)
		<-holdErr
		if err == nil {
			return r, errors.New("sharedconn: the TAO balance check ran while a forward step was in Recv, and did not collide")
		}
		return r, fmt.Errorf("sharedconn: TAO balance check: %w", err)
	}

	start := time.Now()
	errs := make([]error, cfg.HTTPCalls)
	var checks sync.WaitGroup
	for i := range cfg.HTTPCalls {
		checks.Add(1)
		go func() {
			defer checks.Done()
			if _, errs[i] = v.balance(hctx, "btc", addr(i)); errs[i] != nil {
				cancel()
			}
		}()
	}
	checks.Wait()
	r.HTTPWall = time.Since(start)
	r.HTTPPeak = api.peakInFlight()
	r.HTTPWhileWSHeld = true
	for _, err := range errs {
		if err != nil {
			r.HTTPWhileWSHeld = false
		}
	}
	close(release)
	if err := <-holdErr; err != nil && ctx.Err() == nil && r.HTTPWhileWSHeld {
		return r, fmt.Errorf("sharedconn: holding the websocket: %v", err)
	}
	if !taoDone {
		if err := <-taoErr; err != nil {
			r.HeldCheckWaited = false
			if errors.Is(err, ErrRecvCollision) {
				failed.Add(1)
			}
		}
	}
	r.FailedOps = failed.Load()
	r.Collisions, r.PeakInRecv = ws.Collisions(), ws.PeakInRecv()
	return r, ctx.Err()
}

// errQueued is waitCheck's answer when the check is queued.
var errQueued = errors.New("queued")

// waitCheck waits until the check has returned (its error, or nil) or is
// queued for the websocket (errQueued), or ctx ends. Queued is a state
// with no event of its own, so it is polled on a ticker, never slept for.
func waitCheck(ctx context.Context, done <-chan error, waiting func() int) error {
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if waiting() > 0 {
				return errQueued
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Check says whether the report shows what its variant should: the naive
// one at least one recv collision (the balance check made while a forward
// step was in Recv always collides); the sluice one none, no failed
// operation, one goroutine in Recv at most, a balance check that queued
// for the websocket instead, and BTC checks that were all in flight at
// once while the websocket was held. Nothing it checks is a timing.
func (r Report) Check() (ok bool, verdict string) {
	if r.Variant == demo.Naive {
		if r.Collisions == 0 {
			return false, "no recv collision: the naive run did not show the failure"
		}
		return true, fmt.Sprintf("%d recv collisions in %d websocket calls: the balance check skipped the lock", r.Collisions, r.WSCalls)
	}
	switch {
	case r.Collisions != 0 || r.FailedOps != 0 || r.PeakInRecv > 1:
		return false, fmt.Sprintf("%d collisions, %d failed ops, peak %d in recv", r.Collisions, r.FailedOps, r.PeakInRecv)
	case !r.HeldCheckWaited:
		return false, "the TAO balance check did not wait for the websocket"
	case !r.HTTPWhileWSHeld:
		return false, "a BTC check failed or waited for the websocket"
	case r.HTTPPeak < r.HTTPCalls:
		return false, fmt.Sprintf("BTC checks did not overlap: at most %d of %d in flight at once", r.HTTPPeak, r.HTTPCalls)
	}
	return true, fmt.Sprintf("0 collisions in %d websocket calls; the TAO balance check waited its turn; %d BTC checks ran at once (%v, not %v) while the websocket was held",
		r.WSCalls, r.HTTPCalls, r.HTTPWall.Round(time.Millisecond), r.HTTPSerial())
}

func (r Report) result() demo.Result {
	ok, verdict := r.Check()
	return demo.Result{
		Scenario: "sharedconn",
		Variant:  r.Variant,
		Metrics: []demo.Metric{
			demo.M("handler ops", r.Ops),
			demo.M("websocket calls", r.WSCalls),
			demo.M("recv collisions", r.Collisions),
			demo.M("failed ops", r.FailedOps),
			demo.M("peak in recv", r.PeakInRecv),
			demo.M("balance check during recv", heldCheck(r)),
			demo.M("BTC checks", r.HTTPCalls),
			demo.M("BTC at once", r.HTTPPeak),
			demo.M("BTC wall", r.HTTPWall.Round(time.Millisecond)),
			demo.M("BTC one by one", r.HTTPSerial()),
			demo.M("BTC done while ws held", r.HTTPWhileWSHeld),
		},
		OK:      ok,
		Verdict: verdict,
	}
}

func heldCheck(r Report) string {
	switch {
	case r.HeldCheckCollided:
		return "collided"
	case r.HeldCheckWaited:
		return "waited"
	}
	return "failed"
}

// Scenario is seed 000 for the sluice command.
func Scenario() demo.Scenario {
	return demo.Scenario{
		Name:    "sharedconn",
		Seed:    "000",
		Summary: "one path called a shared websocket outside its lock and recv collided; guard.Access (Serial / Concurrent) leaves no path to forget",
		Run: func(ctx context.Context, opt demo.Options) ([]demo.Result, error) {
			naive, err := RunNaive(ctx, Config{})
			if err != nil {
				return nil, err
			}
			sluice, err := RunSluice(ctx, Config{Registry: opt.Registry})
			if err != nil {
				return nil, err
			}
			return []demo.Result{naive.result(), sluice.result()}, nil
		},
	}
}
