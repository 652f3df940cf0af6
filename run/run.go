// Package run keeps an operation to one run at a time, however many
// callers trigger it.
//
// Seed 002 had three trigger paths (a new block, startup, an admin
// handler) that could each start the same recovery while another was
// still going, doubling the load each time. Its fix was a flag: a
// compare-and-swap that makes every trigger but one return at once. A
// [Guard] is that flag with the other two answers a trigger may want:
//
//   - [Reject]: a run is in progress, so return [ErrRunning] at once (the
//     seed's flag).
//   - [Join]: wait for the run in progress and return its result.
//   - [Again]: make sure a run starts after this call began (the state it
//     must see may have changed after the current run looked); calls that
//     arrive during a run coalesce into one trailing run, and each gets
//     that run's result.
//
// With no run in progress, every mode starts one.
//
//	var recovery run.Guard
//	err := recovery.Do(ctx, run.Reject, recoverMissed) // from each trigger path
//
// # Who runs, and with which context
//
// A run executes on the goroutine of the call that starts it, with that
// call's ctx and fn, unchanged: nothing is detached and the Guard starts
// no goroutine. Calls that join a run or coalesce into one get its result;
// their own fn is not called. A trailing run ([Again]) is started by the
// oldest call still waiting for it, on its goroutine with its ctx and fn;
// if that call's ctx ends first, the next oldest starts it instead, and if
// every call waiting for it has left, it does not run at all.
//
// So when the ctx of the call running a run ends, the run is expected to
// stop, and the calls waiting for it get what it returned (typically that
// ctx's error), even though their own ctx is still live. A waiter that
// needs a result of its own can check for that (errors.Is(err,
// context.Canceled) while its own ctx.Err() is nil) and call Do again.
//
// A waiting call whose own ctx ends returns ctx.Err() at once; the run
// goes on for the others.
//
// # Fairness
//
// Waiters are not ordered among themselves: when a run finishes, all its
// waiters get its result together. The trailing run is started by the
// oldest of its waiters.
//
// If fn panics, the calls waiting for that run get an error wrapping
// [ErrPanicked], the Guard is free again, and the panic goes on up the
// goroutine that ran fn.
package run

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrRunning is returned by [Guard.Do] in [Reject] mode while a run is in
// progress.
var ErrRunning = errors.New("run: a run is already in progress")

// ErrPanicked is wrapped by the error that calls waiting for a run get
// when that run's fn panicked.
var ErrPanicked = errors.New("run: the run panicked")

// Mode says what [Guard.Do] does when a run is already in progress.
type Mode int

const (
	// Reject returns ErrRunning at once. It does so also while a trailing
	// run (see Again) has been handed to one of its waiters and has not
	// started yet; if every waiter for it then leaves, that run does not
	// happen, so a Reject call in that moment is not covered by any run.
	Reject Mode = iota + 1
	// Join waits for the run in progress and returns its result.
	Join
	// Again waits for a run that starts after this call began: the
	// trailing run that every call arriving during the current run
	// shares.
	Again
)

func (m Mode) String() string {
	switch m {
	case Reject:
		return "Reject"
	case Join:
		return "Join"
	case Again:
		return "Again"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Guard runs one operation at a time. The zero value is ready to use. A
// Guard must not be copied after first use.
type Guard struct {
	mu sync.Mutex
	// cur is the run in progress, or the trailing run whose starter is
	// being chosen (started false). nil when idle.
	cur *runRec
	// next is the trailing run, waiting for cur to finish. Only exists
	// while cur has started.
	next *runRec

	waiting  int
	runs     int64
	rejected int64
	shared   int64
}

type runRec struct {
	done    chan struct{} // closed when the run has finished
	err     error
	started bool
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
// [ErrRunning], or ctx.Err() if ctx ended while waiting.
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
	g.mu.Lock()
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
		g.waiting--
		g.shared++
		g.mu.Unlock()
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

// waitToStart waits for the run r, which has not started, as one of the
// calls that may start it. Called with mu held.
func (g *Guard) waitToStart(ctx context.Context, r *runRec, fn func(context.Context) error) error {
	c := &cand{baton: make(chan struct{}, 1)}
	r.cands = append(r.cands, c)
	g.waiting++
	g.mu.Unlock()
	select {
	case <-c.baton:
		g.mu.Lock()
		g.waiting--
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
		g.waiting--
		g.shared++
		g.mu.Unlock()
		return r.err
	case <-ctx.Done():
	}
	if testHookLeaving != nil {
		testHookLeaving()
	}
	g.mu.Lock()
	g.waiting--
	if c.chosen {
		// The baton came while we were leaving: hand it on.
		<-c.baton
		g.passLocked(r)
	} else {
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
	g.mu.Unlock()
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
	finished := false
	defer func() {
		if finished {
			return
		}
		// fn panicked or called runtime.Goexit: free the guard and tell
		// the waiters, then let the panic go on. Panicking again from
		// here, before the stack unwinds, keeps the frames of the
		// original panic in the trace (Go prints "[recovered,
		// repanicked]").
		v := recover()
		if v == nil {
			g.finish(r, errGoexit)
			return // runtime.Goexit goes on by itself
		}
		g.finish(r, fmt.Errorf("%w: %v", ErrPanicked, v))
		panic(v)
	}()
	err := fn(ctx)
	finished = true
	g.finish(r, err)
	return err
}

var errGoexit = fmt.Errorf("%w: runtime.Goexit in the run", ErrPanicked)

func (g *Guard) finish(r *runRec, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r.err = err
	close(r.done)
	g.cur = nil
	if n := g.next; n != nil {
		g.next = nil
		g.cur = n
		g.passLocked(n)
	}
}

// Stats is a snapshot of a Guard.
type Stats struct {
	Running  bool  // a run is in progress (or its starter is being chosen)
	Pending  bool  // a trailing run is wanted after the current one
	Waiting  int   // calls waiting for a run's result or their turn to start one
	Runs     int64 // runs started
	Rejected int64 // calls that got ErrRunning
	Shared   int64 // calls that got the result of a run another call ran
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
	}
}

// Keyed is a set of Guards, one per key: runs for different keys proceed
// independently, runs for one key one at a time, as [Guard.Do] says. A
// key's Guard exists only while a call for that key is in progress, so
// idle keys cost nothing. The zero value is ready to use; a Keyed must
// not be copied after first use.
type Keyed[K comparable] struct {
	mu      sync.Mutex
	m       map[K]*keyedEntry
	retired Stats // counters of the Guards already freed
}

// checkDo panics, naming method, on a nil ctx or fn or an unknown mode.
func checkDo(method string, ctx context.Context, mode Mode, fn func(context.Context) error) {
	if ctx == nil {
		panic("run: " + method + " with nil Context")
	}
	if fn == nil {
		panic("run: " + method + " with nil func")
	}
	if mode != Reject && mode != Join && mode != Again {
		panic(fmt.Sprintf("run: %s with invalid %v", method, mode))
	}
}

type keyedEntry struct {
	g    Guard
	refs int // calls in Do for this key
}

// Do is [Guard.Do] on the Guard of key. It panics if k, ctx or fn is nil
// or mode is not one of the three.
func (k *Keyed[K]) Do(ctx context.Context, key K, mode Mode, fn func(context.Context) error) error {
	if k == nil {
		panic("run: Keyed.Do on nil *Keyed")
	}
	// Check before taking a reference, so a bad call leaves nothing behind.
	checkDo("Keyed.Do", ctx, mode, fn)
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[K]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if e.refs--; e.refs == 0 {
			// The last call for key is leaving, so its Guard is idle: no
			// run (a run's caller holds a reference) and no waiter.
			st := e.g.Stats()
			k.retired.Runs += st.Runs
			k.retired.Rejected += st.Rejected
			k.retired.Shared += st.Shared
			delete(k.m, key)
		}
	}()
	return e.g.Do(ctx, mode, fn)
}

// KeyedStats is a snapshot of a Keyed.
type KeyedStats struct {
	Keys     int   // keys with a call in progress
	Running  int   // keys with a run in progress
	Waiting  int   // calls waiting, over all keys
	Runs     int64 // runs started, over all keys ever
	Rejected int64 // calls that got ErrRunning
	Shared   int64 // calls that got the result of another call's run
}

// Stats returns a snapshot. It panics if k is nil.
func (k *Keyed[K]) Stats() KeyedStats {
	if k == nil {
		panic("run: Keyed.Stats on nil *Keyed")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s := KeyedStats{
		Keys:     len(k.m),
		Runs:     k.retired.Runs,
		Rejected: k.retired.Rejected,
		Shared:   k.retired.Shared,
	}
	for _, e := range k.m {
		st := e.g.Stats()
		if st.Running {
			s.Running++
		}
		s.Waiting += st.Waiting
		s.Runs += st.Runs
		s.Rejected += st.Rejected
		s.Shared += st.Shared
	}
	return s
}
