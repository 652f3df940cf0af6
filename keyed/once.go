package keyed

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/sluice-go/sluice/internal/keymap"
)

// ErrAborted is matched (errors.Is) by the result shared with the callers
// waiting on a run of fn that panicked or called runtime.Goexit; the same
// error also matches [*PanicError] (errors.As), which carries the panic
// value and stack. The panic itself continues in the caller that ran fn.
var ErrAborted = errors.New("keyed: Once fn panicked or exited")

// Once runs a function at most once at a time per key, remembers which keys
// succeeded, and forgets a key on request. It is idempotent setup per key:
// "open the outbound stream to this peer, unless it is open or being
// opened", with [Once.Forget] on disconnect. The zero value is ready to
// use. A Once must not be copied after first use.
//
// # What Do does
//
// For a key k, a call to [Once.Do] finds one of three states:
//
//   - k succeeded before (and was not forgotten since): Do returns nil at
//     once without running fn.
//   - nothing is known about k: Do runs fn itself, on the caller's
//     goroutine, with the caller's ctx.
//   - a run of fn for k is in progress: Do waits for it and returns its
//     result (shared: fn is not run again), unless [Once.Forget] was called
//     for k after that run began; then the caller waits for the run to end
//     and decides again, so it never runs fn alongside the stale run.
//
// # Invariants
//
//   - At most one run of fn per key at any instant, across Forget: a run
//     that Forget made stale still counts until it returns.
//   - A success is remembered until Forget; a failure is not: the next Do
//     runs fn again. A success of a run that Forget made stale is not
//     remembered either.
//   - Memory: an entry exists while a run is in progress and, after a
//     success, until Forget. Failed keys leave nothing behind. So a
//     remembered success stays in memory until Forget is called for it:
//     that is the point of Once (it is the "has a stream" flag), and the
//     reason to call Forget on disconnect. [Once.Len] counts the entries.
//   - Waiters are served in arrival order: when a run ends without a
//     result they can share, the oldest waiter runs fn next and the others
//     wait for that run.
//
// # Cancellation
//
// fn receives the ctx of the caller that runs it. If that ctx ends and fn
// returns an error, the error is the caller's own: it is not remembered
// and not shared, because the waiters did not give up. The oldest waiter
// then runs fn with its own ctx. If fn returns nil although its ctx ended,
// that is a success like any other. A waiter whose own ctx ends returns
// ctx.Err() and leaves the queue; the run and the other waiters are not
// affected. If a run's result reaches a waiter at the very moment its ctx
// ends, the waiter returns the result.
//
// If fn panics or calls runtime.Goexit, the callers waiting on that run get
// an error matching [ErrAborted] and [*PanicError], nothing is remembered,
// and the panic (with its value unchanged) or the Goexit goes on up the
// goroutine that ran fn. The panic is resumed from where it was caught,
// so that a crash trace still shows the frames that panicked.
//
// fn must not call Do for the same key on the same Once: it would wait for
// itself (until its ctx ends).
//
// # Closing
//
// [Once.Close] fails every waiting Do and every later one with
// [ErrClosed]. Runs in progress go on; the callers running them get fn's
// result.
type Once[K comparable] struct {
	m keymap.Map[K, *onceEntry]
}

// onceEntry is the state of one key. It is a pointer so that a runner can
// keep it across the unlocked call of fn: while running is true the entry
// cannot be removed, so the pointer stays valid.
type onceEntry struct {
	running bool   // a run of fn is in progress (or handed to a waiter)
	done    bool   // succeeded; remembered until Forget
	gen     uint64 // bumped by Forget while a run is in progress
	runGen  uint64 // gen when the current run began
	q       keymap.Queue
}

// onceShard is the store's shard as the Once uses it.
type onceShard[K comparable] = keymap.Shard[K, *onceEntry]

// The Once's counters in each shard's Count.
const (
	oRunning = iota
	oDone
	oRuns
	oShared
	oHits
	oCancelled
	oPanicked
	oAdmitted
)

// Do runs fn for k unless k already succeeded, or joins the run in
// progress; see the type's doc for the full rules. It returns fn's error,
// the shared result of the run it joined, nil if k succeeded before,
// ctx.Err() if ctx ended while it waited (a done ctx fails at once), or
// [ErrClosed]. It panics if ctx or fn is nil.
func (o *Once[K]) Do(ctx context.Context, k K, fn func(context.Context) error) error {
	if o == nil {
		panic("keyed: Once.Do on nil *Once")
	}
	if ctx == nil {
		panic("keyed: Once.Do with nil Context")
	}
	if fn == nil {
		panic("keyed: Once.Do with nil fn")
	}
	done := ctx.Done()
	if ended(done) {
		return ctx.Err()
	}
	sh, h := o.m.Shard(k)
	sh.Lock()
	if o.m.Closed() {
		sh.Unlock()
		return ErrClosed
	}
	var e *onceEntry
	if i := sh.Find(h, k); i >= 0 {
		e = *sh.At(i)
	}
	switch {
	case e == nil:
		e = &onceEntry{running: true}
		sh.Insert(h, k, e)
		sh.Count[oRunning]++
		sh.Count[oAdmitted]++
		sh.Unlock()
		return onceRun(ctx, sh, h, k, e, fn)
	case e.done:
		sh.Count[oHits]++
		sh.Count[oAdmitted]++
		sh.Unlock()
		return nil
	}
	// The slow path: queue and block, as in Mutex.Lock.
	w := keymap.NewWaiter()
	w.Gen = e.gen
	sh.Enqueue(&e.q, w)
	sh.Unlock()

	if !w.Await(ctx, done, regionOnceDo) {
		giveUpHook()
		sh.Lock()
		if !w.Woken() {
			sh.Leave(&e.q, w)
			sh.Count[oCancelled]++
			sh.Unlock()
			return ctx.Err()
		}
		if w.Run {
			// It returns ctx.Err() below: not admitted after all.
			sh.Count[oCancelled]++
			sh.Count[oAdmitted]--
		}
		sh.Unlock()
		if w.Run {
			// Handed the run as we gave up: hand it on without running
			// fn, as a runner whose ctx ended would.
			onceFinish(sh, h, k, e, ctx.Err(), endHandedOn)
			return ctx.Err()
		}
		// The result arrived as we gave up: it is ours.
	}
	if w.Closed {
		return w.Err
	}
	// Served: handed the run, or given the result of the run it joined.
	o.m.Hooks().CallTime(w.Since())
	if w.Run {
		return onceRun(ctx, sh, h, k, e, fn)
	}
	return w.Err
}

// How a run ended, for onceFinish.
type runEnd int

const (
	endReturned runEnd = iota // fn returned; its error is shared
	endGaveUp                 // fn returned an error after its ctx ended: not shared
	endPanicked               // fn panicked or called runtime.Goexit
	endHandedOn               // fn did not run: the caller handed the run left
)

// onceRun calls fn for the run e.running stands for, then settles it.
//
// If fn panics or calls runtime.Goexit, the deferred function below
// settles the run (the waiters get the PanicError) while the panicking
// frames are still on the stack, and re-panics from there with the same
// value, so that a crash trace still shows where fn panicked; a Goexit
// goes on by itself.
func onceRun[K comparable](ctx context.Context, sh *onceShard[K], h uint64, k K, e *onceEntry, fn func(context.Context) error) (err error) {
	returned := false
	defer func() {
		if returned {
			return
		}
		r := recover() // nil: runtime.Goexit, which goes on after this
		pe := &PanicError{Op: "keyed: Once fn", Value: r, Goexit: r == nil, Stack: debug.Stack()}
		onceFinish(sh, h, k, e, fmt.Errorf("%w: %w", ErrAborted, pe), endPanicked)
		if r != nil {
			panic(r)
		}
	}()
	err = fn(ctx)
	returned = true
	end := endReturned
	if err != nil && ctx.Err() != nil {
		end = endGaveUp
	}
	onceFinish(sh, h, k, e, err, end)
	return err
}

// onceFinish ends the run in progress on e with err. Unless the runner
// gave up (its ctx ended: its error is not shared) or handed the run on,
// the waiters that joined this run get the result. Then, if any waiter is
// left (it arrived after a Forget, or the runner gave up), the oldest one
// is woken to run fn and the others now wait for that run. Otherwise an
// entry without a success to remember is removed.
func onceFinish[K comparable](sh *onceShard[K], h uint64, k K, e *onceEntry, err error, end runEnd) {
	sh.Lock()
	defer sh.Unlock()
	switch end {
	case endPanicked:
		sh.Count[oPanicked]++
		sh.Count[oRuns]++
	case endReturned, endGaveUp:
		sh.Count[oRuns]++
	}
	e.running = false
	sh.Count[oRunning]--
	fresh := e.gen == e.runGen // no Forget since the run began
	if err == nil && fresh {
		e.done = true
		sh.Count[oDone]++
	}
	if end == endReturned || end == endPanicked {
		for w := e.q.Front(); w != nil; {
			next := w.Next()
			if w.Gen == e.runGen {
				// Arrived before any Forget: it joined this run.
				sh.Leave(&e.q, w)
				sh.Count[oShared]++
				sh.Count[oAdmitted]++
				w.Err = err
				w.Wake()
			}
			w = next
		}
	}
	// When e.done, every waiter joined this run (gen did not move), so the
	// queue is empty now.
	if !e.q.Empty() {
		w := sh.Dequeue(&e.q)
		e.running = true
		sh.Count[oRunning]++
		sh.Count[oAdmitted]++
		e.runGen = e.gen
		for r := e.q.Front(); r != nil; r = r.Next() {
			r.Gen = e.gen // they wait for the new run now
		}
		w.Run = true
		w.Wake()
		return
	}
	if !e.done {
		sh.Remove(sh.Find(h, k))
	}
}

// Forget makes the next Do for k run fn again: call it when what fn set up
// is gone (the peer disconnected). If no run is in progress, k's entry is
// removed now. If one is, it goes on (it is never removed or duplicated
// while it runs), its success will not be remembered, and callers that
// arrive from now on wait for it to end before they decide. Callers
// already waiting on it still get its result. Forget of an unknown key
// does nothing. Forget works after Close.
func (o *Once[K]) Forget(k K) {
	if o == nil {
		panic("keyed: Once.Forget on nil *Once")
	}
	sh, h := o.m.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	i := sh.Find(h, k)
	if i < 0 {
		return
	}
	e := *sh.At(i)
	if e.running {
		e.gen++
		return
	}
	// Not running, so done: entries exist only for the two.
	sh.Count[oDone]--
	sh.Remove(i)
}

// Close fails every caller waiting in Do, and every later Do, with
// [ErrClosed]. Runs in progress go on and their callers get fn's result.
// Close is idempotent.
func (o *Once[K]) Close() {
	if o == nil {
		panic("keyed: Once.Close on nil *Once")
	}
	o.m.Close(func(sh *onceShard[K], e **onceEntry) { sh.Fail(&(*e).q, ErrClosed) })
}

// Len returns the number of entries: keys with a run in progress plus
// keys whose success is remembered.
func (o *Once[K]) Len() int {
	if o == nil {
		panic("keyed: Once.Len on nil *Once")
	}
	return o.m.Len()
}

// OnWait adds fn to the functions called for every Do that had to wait,
// once it is served: fn(wait) runs on that caller's goroutine with how
// long it waited, from the moment it queued behind a run in progress to
// the moment it resumed, either with the result of the run it joined
// (before Do returns it) or handed the next run (before it calls its own
// fn). Calls that ran fn at once or found a remembered success, and waits
// that ended in ctx.Err() or [ErrClosed], do not call it. fn must be
// quick. Several functions may be added; each is called in turn. The
// returned stop removes this fn; stop is idempotent. OnWait and stop are
// safe to call at any time, concurrently with Do. A Do that does not wait
// pays nothing for the hooks. It panics if fn is nil.
func (o *Once[K]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if o == nil {
		panic("keyed: Once.OnWait on nil *Once")
	}
	if fn == nil {
		panic("keyed: Once.OnWait with nil fn")
	}
	return o.m.Hooks().Add(fn)
}

// OnceStats is a snapshot of a [Once].
type OnceStats struct {
	Keys    int64 // entries (= Len) = Running + Done
	Running int64 // keys with a run of fn in progress
	Done    int64 // keys whose success is remembered
	Waiting int64 // callers blocked in Do now
	// OldestWait is how long the longest-waiting caller blocked in Do now
	// (over all keys) has waited, from the moment it queued; 0 when
	// nobody waits.
	OldestWait time.Duration
	// Admitted counts the Do calls let through to an answer: those that
	// ran fn (at once, or handed the run after a wait), those that got
	// the result of a run they joined, and those that found a remembered
	// success (Hits). Not those that returned ctx.Err() or ErrClosed.
	Admitted  int64
	Runs      int64 // total: calls of fn that returned or panicked
	Shared    int64 // total: Do calls that returned the result of a run they joined
	Hits      int64 // total: Do calls that returned nil at once: remembered success
	Cancelled int64 // total: Do calls that gave up waiting because ctx ended
	Panicked  int64 // total: calls of fn that panicked or called runtime.Goexit
	Closed    bool
}

// Stats returns a snapshot, summed shard by shard as [Mutex.Stats], at
// the same cost (remembered keys are not visited).
func (o *Once[K]) Stats() OnceStats {
	if o == nil {
		panic("keyed: Once.Stats on nil *Once")
	}
	t := o.m.Totals(nil)
	return OnceStats{
		Keys:       t.Entries,
		Running:    t.Count[oRunning],
		Done:       t.Count[oDone],
		Waiting:    t.Waiting,
		OldestWait: t.OldestWait,
		Admitted:   t.Count[oAdmitted],
		Runs:       t.Count[oRuns],
		Shared:     t.Count[oShared],
		Hits:       t.Count[oHits],
		Cancelled:  t.Count[oCancelled],
		Panicked:   t.Count[oPanicked],
		Closed:     t.Closed,
	}
}
