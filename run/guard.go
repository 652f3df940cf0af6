package run

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluice-go/sluice/internal/panics"
)

// Guard runs one operation at a time. The zero value is ready to use. A
// Guard must not be copied after first use.
//
// [Guard.Close] fails every waiting call and every later one with
// [ErrClosed]. A run in progress goes on and the call running it gets fn's
// result; the calls that had joined it, or were waiting for a trailing
// run, get ErrClosed at once instead, and the trailing run never starts.
type Guard struct {
	mu sync.Mutex
	// cur is the run in progress, or the trailing run whose starter is
	// being chosen (started false). nil when idle.
	cur *runRec
	// next is the trailing run, waiting for cur to finish. Only exists
	// while cur has started.
	next *runRec

	closed   bool
	waiting  int64
	runs     int64
	rejected int64
	shared   int64
	panicked int64
}

type runRec struct {
	done    chan struct{} // closed when the run has finished, or by Close
	err     error
	started bool
	// closed: Close failed the calls waiting for this run by closing done;
	// err is not its result, and its end must not close done again.
	closed bool
	// cands are the calls waiting for this run before it started, oldest
	// first: the ones who may start it.
	cands []*cand
}

type cand struct {
	baton  chan struct{} // buffered(1): "start the run"
	chosen bool          // set under mu before the baton is sent
}

// Do runs fn under the guard: at once, on this goroutine with ctx, if no
// run is in progress; otherwise as mode says (see [Mode] and the package
// doc). It returns fn's result, the result of the run it waited for,
// [ErrRunning], ctx.Err() if ctx ended while waiting, or [ErrClosed].
//
// fn must not call Do on the same Guard in Join or Again mode: that call
// would wait for the run it is part of, until its ctx ends.
//
// It panics if g, ctx or fn is nil or mode is not one of the three.
func (g *Guard) Do(ctx context.Context, mode Mode, fn func(context.Context) error) error {
	if g == nil {
		panic("run: Do on nil *Guard")
	}
	checkDo("Do", ctx, mode, fn)
	return g.do(ctx, mode, fn)
}

// do is Do after the argument checks.
func (g *Guard) do(ctx context.Context, mode Mode, fn func(context.Context) error) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	if g.cur == nil {
		r := &runRec{done: make(chan struct{}), started: true}
		g.cur = r
		g.runs++
		g.mu.Unlock()
		return g.execute(ctx, r, fn)
	}
	var r *runRec
	switch {
	case mode == Reject:
		g.rejected++
		g.mu.Unlock()
		return ErrRunning
	case !g.cur.started:
		// A trailing run is about to start and has not yet: it starts
		// after this call began, so it serves Join and Again alike.
		r = g.cur
	case mode == Join:
		r = g.cur
	default: // Again while a run is in progress
		if g.next == nil {
			g.next = &runRec{done: make(chan struct{})}
		}
		r = g.next
	}
	if r.started {
		return g.waitResult(ctx, r) // unlocks
	}
	return g.waitToStart(ctx, r, fn) // unlocks
}

// waitResult waits for the started run r. Called with mu held.
func (g *Guard) waitResult(ctx context.Context, r *runRec) error {
	g.waiting++
	g.mu.Unlock()
	select {
	case <-r.done:
		g.mu.Lock()
		defer g.mu.Unlock()
		g.waiting--
		if r.closed {
			return ErrClosed
		}
		g.shared++
		return r.err
	case <-ctx.Done():
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		return ctx.Err()
	}
}

// testHookLeaving, if set, runs in a call waiting to start a trailing run
// once it has seen its ctx end and before it takes the guard's lock
// (tests only).
var testHookLeaving func()

// testHookChosen, if set, runs in a call chosen to start a trailing run
// once it has the baton and before it takes the guard's lock (tests only).
var testHookChosen func()

// waitToStart waits for the run r, which has not started, as one of the
// calls that may start it. Called with mu held.
func (g *Guard) waitToStart(ctx context.Context, r *runRec, fn func(context.Context) error) error {
	c := &cand{baton: make(chan struct{}, 1)}
	r.cands = append(r.cands, c)
	g.waiting++
	g.mu.Unlock()
	select {
	case <-c.baton:
		if testHookChosen != nil {
			testHookChosen()
		}
		g.mu.Lock()
		g.waiting--
		if r.closed {
			// Close came with the baton: r must not start.
			g.mu.Unlock()
			return ErrClosed
		}
		if ctx.Err() != nil {
			// Chosen, but leaving: the next oldest starts it.
			g.passLocked(r)
			g.mu.Unlock()
			return ctx.Err()
		}
		r.started = true
		g.runs++
		g.mu.Unlock()
		return g.execute(ctx, r, fn)
	case <-r.done:
		g.mu.Lock()
		defer g.mu.Unlock()
		g.waiting--
		if r.closed {
			return ErrClosed
		}
		g.shared++
		return r.err
	case <-ctx.Done():
	}
	if testHookLeaving != nil {
		testHookLeaving()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting--
	switch {
	case r.closed:
		// Close has dropped r already: nothing to hand on or take out.
	case c.chosen:
		// The baton came while we were leaving: hand it on.
		<-c.baton
		g.passLocked(r)
	default:
		for i, x := range r.cands {
			if x == c {
				r.cands = append(r.cands[:i], r.cands[i+1:]...)
				break
			}
		}
		if len(r.cands) == 0 && g.next == r {
			// Nobody wants the trailing run any more.
			g.next = nil
		}
	}
	return ctx.Err()
}

// passLocked hands the start of r (which is g.cur and not started) to the
// oldest call still waiting for it, or, with none left, drops r.
func (g *Guard) passLocked(r *runRec) {
	if len(r.cands) == 0 {
		g.cur = nil
		close(r.done) // nobody waits on it; closed for tidiness
		return
	}
	c := r.cands[0]
	r.cands = r.cands[1:]
	c.chosen = true
	c.baton <- struct{}{}
}

// execute runs fn as the run r, then publishes its result and hands the
// trailing run, if one is wanted, to its oldest waiter.
func (g *Guard) execute(ctx context.Context, r *runRec, fn func(context.Context) error) error {
	var err error
	pe := panics.Run("run: fn", func() { err = fn(ctx) }, func(pe *PanicError) {
		// Goexit: free the guard and tell the waiters; the Goexit goes on.
		g.finish(r, fmt.Errorf("%w: %w", ErrPanicked, pe), true)
	})
	if pe != nil {
		g.finish(r, fmt.Errorf("%w: %w", ErrPanicked, pe), true)
		panic(pe.Value) // the panic goes on up the runner's goroutine
	}
	g.finish(r, err, false)
	return err
}

func (g *Guard) finish(r *runRec, err error, panicked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if panicked {
		g.panicked++
	}
	if !r.closed {
		r.err = err
		close(r.done)
	}
	g.cur = nil
	if n := g.next; n != nil {
		g.next = nil
		g.cur = n
		g.passLocked(n)
	}
}

// Close fails every call waiting in Do, and every later Do, with
// [ErrClosed]. A run in progress goes on, and the call running it gets
// fn's result; the calls that joined it get ErrClosed, and a trailing run
// that has not started never does. Close is idempotent. It panics if g is
// nil.
func (g *Guard) Close() {
	if g == nil {
		panic("run: Close on nil *Guard")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	if r := g.cur; r != nil {
		failRun(r)
		if !r.started {
			g.cur = nil // its starter had not been chosen or not woken yet
		}
	}
	if r := g.next; r != nil {
		failRun(r)
		g.next = nil
	}
}

// failRun wakes every call waiting for r with ErrClosed. Called with mu
// held.
func failRun(r *runRec) {
	r.closed = true
	r.cands = nil
	close(r.done)
}

// Stats is a snapshot of a Guard.
type Stats struct {
	Running  bool  // a run is in progress (or its starter is being chosen)
	Pending  bool  // a trailing run is wanted after the current one
	Waiting  int64 // calls waiting for a run's result or their turn to start one
	Runs     int64 // total: runs started
	Rejected int64 // total: calls that got ErrRunning
	Shared   int64 // total: calls that got the result of a run another call ran
	Panicked int64 // total: runs whose fn panicked or called runtime.Goexit
	Closed   bool
}

// Stats returns a snapshot, read under the guard's lock. It panics if g
// is nil.
func (g *Guard) Stats() Stats {
	if g == nil {
		panic("run: Stats on nil *Guard")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{
		Running:  g.cur != nil,
		Pending:  g.next != nil,
		Waiting:  g.waiting,
		Runs:     g.runs,
		Rejected: g.rejected,
		Shared:   g.shared,
		Panicked: g.panicked,
		Closed:   g.closed,
	}
}
