package run

import (
	"context"
	"fmt"
	"runtime/debug"
	"runtime/trace"
	"sync"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/internal/keymap"
)

// Guard runs one operation at a time. The zero value is ready to use. A
// Guard must not be copied after first use.
//
// [Guard.Close] fails every waiting call and every later one with
// [ErrClosed]. A run in progress goes on and the call running it gets fn's
// result; the calls that had joined it, or were waiting for a trailing
// run, get ErrClosed at once instead, and the trailing run never starts.
type Guard struct {
	guard
	hooks fifo.Hooks // OnWait's
}

// guard is a Guard without its hooks: what each key of a Keyed holds (the
// Keyed's hooks serve every key), so a key's entry does not carry a set
// of hooks it never uses.
type guard struct {
	mu sync.Mutex
	// cur is the run in progress, or the trailing run whose starter is
	// being chosen (started false). nil when idle.
	cur *runRec
	// next is the trailing run, waiting for cur to finish. Only exists
	// while cur has started.
	next *runRec

	closed bool
	// refs counts the calls in Keyed.Do for this guard's key (a Keyed's
	// guards only; guarded by the Keyed's shard lock, not mu). It sits in
	// closed's padding, so a key's entry stays in a smaller size class.
	refs int32
	// waits holds the calls waiting now (for a run's result or their turn
	// to start one), oldest first.
	waits keymap.Waits
	// No admitted: it is runs + shared. (Every field here is paid for by
	// each call of a run.Keyed, whose entries are guards.)
	cancelled int64
	runs      int64
	rejected  int64
	shared    int64
	panicked  int64
}

// waitOp is what a wait reports to: the hooks of the Guard, or of the
// Keyed whose key it is, and the name of its trace region.
type waitOp struct {
	hooks  *fifo.Hooks
	region string
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
	keymap.Wait               // in the guard's waits while the call waits
	baton       chan struct{} // buffered(1): "start the run"
	chosen      bool          // set under mu before the baton is sent
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
	return g.do(ctx, mode, fn, waitOp{&g.hooks, regionGuardDo})
}

// do is Do after the argument checks.
func (g *guard) do(ctx context.Context, mode Mode, fn func(context.Context) error, op waitOp) error {
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
		return g.waitResult(ctx, r, op) // unlocks
	}
	return g.waitToStart(ctx, r, fn, op) // unlocks
}

// startRegion opens the trace region of a wait, while tracing is on.
func startRegion(ctx context.Context, op waitOp) *trace.Region {
	if !trace.IsEnabled() {
		return nil
	}
	return trace.StartRegion(ctx, op.region)
}

func endRegion(r *trace.Region) {
	if r != nil {
		r.End()
	}
}

// waitResult waits for the started run r. Called with mu held: the slow
// path, where a call has to wait; only here (and in waitToStart) is the
// clock read and the hook list loaded.
func (g *guard) waitResult(ctx context.Context, r *runRec, op waitOp) error {
	w := new(keymap.Wait)
	g.waits.Start(w)
	g.mu.Unlock()
	region := startRegion(ctx, op)
	select {
	case <-r.done:
		endRegion(region)
		g.mu.Lock()
		g.waits.End(w)
		if r.closed {
			g.mu.Unlock()
			return ErrClosed
		}
		g.shared++
		g.mu.Unlock()
		op.hooks.CallTime(w.Since)
		return r.err
	case <-ctx.Done():
		endRegion(region)
		g.mu.Lock()
		g.waits.End(w)
		g.cancelled++
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
func (g *guard) waitToStart(ctx context.Context, r *runRec, fn func(context.Context) error, op waitOp) error {
	c := &cand{baton: make(chan struct{}, 1)}
	r.cands = append(r.cands, c)
	g.waits.Start(&c.Wait)
	g.mu.Unlock()
	region := startRegion(ctx, op)
	select {
	case <-c.baton:
		endRegion(region)
		if testHookChosen != nil {
			testHookChosen()
		}
		g.mu.Lock()
		g.waits.End(&c.Wait)
		if r.closed {
			// Close came with the baton: r must not start.
			g.mu.Unlock()
			return ErrClosed
		}
		if ctx.Err() != nil {
			// Chosen, but leaving: the next oldest starts it.
			g.cancelled++
			g.passLocked(r)
			g.mu.Unlock()
			return ctx.Err()
		}
		r.started = true
		g.runs++
		g.mu.Unlock()
		op.hooks.CallTime(c.Since)
		return g.execute(ctx, r, fn)
	case <-r.done:
		endRegion(region)
		g.mu.Lock()
		g.waits.End(&c.Wait)
		if r.closed {
			g.mu.Unlock()
			return ErrClosed
		}
		g.shared++
		g.mu.Unlock()
		op.hooks.CallTime(c.Since)
		return r.err
	case <-ctx.Done():
		endRegion(region)
	}
	if testHookLeaving != nil {
		testHookLeaving()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waits.End(&c.Wait)
	g.cancelled++
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
func (g *guard) passLocked(r *runRec) {
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
//
// If fn panics or calls runtime.Goexit, the deferred function below frees
// the guard and tells the waiters (with the PanicError) while the
// panicking frames are still on the stack, and re-panics from there with
// the same value, so that a crash trace still shows where fn panicked; a
// Goexit goes on by itself.
func (g *guard) execute(ctx context.Context, r *runRec, fn func(context.Context) error) error {
	returned := false
	defer func() {
		if returned {
			return
		}
		v := recover() // nil: runtime.Goexit, which goes on after this
		pe := &PanicError{Op: "run: fn", Value: v, Goexit: v == nil, Stack: debug.Stack()}
		g.finish(r, fmt.Errorf("%w: %w", ErrPanicked, pe), true)
		if v != nil {
			panic(v)
		}
	}()
	err := fn(ctx)
	returned = true
	g.finish(r, err, false)
	return err
}

func (g *guard) finish(r *runRec, err error, panicked bool) {
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
	g.close()
}

func (g *guard) close() {
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

// OnWait adds fn to the functions called for every Do that had to wait,
// once it is served: fn(wait) runs on that caller's goroutine with how
// long it waited, from the moment it began to wait to the moment it
// resumed, either with the result of the run it waited for (before Do
// returns it) or chosen to start the trailing run (before it calls its
// fn). Calls that started a run at once or got [ErrRunning], and waits
// that ended in ctx.Err() or [ErrClosed], do not call it. fn must be
// quick. Several functions may be added; each is called in turn. The
// returned stop removes this fn; stop is idempotent. OnWait and stop are
// safe to call at any time, concurrently with Do. A Do that does not wait
// pays nothing for the hooks. It panics if g or fn is nil.
func (g *Guard) OnWait(fn func(wait time.Duration)) (stop func()) {
	if g == nil {
		panic("run: OnWait on nil *Guard")
	}
	if fn == nil {
		panic("run: OnWait with nil func")
	}
	return g.hooks.Add(fn)
}

// Stats is a snapshot of a Guard.
type Stats struct {
	Running bool  // a run is in progress (or its starter is being chosen)
	Pending bool  // a trailing run is wanted after the current one
	Waiting int64 // calls waiting for a run's result or their turn to start one
	// OldestWait is how long the longest-waiting call now has waited,
	// from the moment it began to wait; 0 when nobody waits.
	OldestWait time.Duration
	Admitted   int64 // total: calls let through: that started a run (Runs) or got the result of another call's run (Shared)
	Cancelled  int64 // total: waiting calls that returned ctx.Err() because their ctx ended
	Runs       int64 // total: runs started
	Rejected   int64 // total: calls that got ErrRunning
	Shared     int64 // total: calls that got the result of a run another call ran
	Panicked   int64 // total: runs whose fn panicked or called runtime.Goexit
	Closed     bool
}

// Stats returns a snapshot, read under the guard's lock, with one clock
// read if anybody waits. It panics if g is nil.
func (g *Guard) Stats() Stats {
	if g == nil {
		panic("run: Stats on nil *Guard")
	}
	st, oldest := g.stats()
	if !oldest.IsZero() {
		st.OldestWait = keymap.OldestWait(oldest, time.Now())
	}
	return st
}

// stats is the snapshot without OldestWait, read under mu, and when the
// oldest current wait began (zero if none).
func (g *guard) stats() (Stats, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	oldest, _ := g.waits.Oldest()
	return Stats{
		Running:   g.cur != nil,
		Pending:   g.next != nil,
		Waiting:   g.waits.Len(),
		Admitted:  g.runs + g.shared,
		Cancelled: g.cancelled,
		Runs:      g.runs,
		Rejected:  g.rejected,
		Shared:    g.shared,
		Panicked:  g.panicked,
		Closed:    g.closed,
	}, oldest
}
