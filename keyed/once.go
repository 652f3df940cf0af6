package keyed

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrAborted is the result shared with the callers waiting on a run of fn
// that panicked or called runtime.Goexit. The panic itself continues in the
// caller that ran fn.
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
// If fn panics, the callers waiting on that run get [ErrAborted], nothing
// is remembered, and the panic goes on up the goroutine that ran fn.
//
// fn must not call Do for the same key on the same Once: it would wait for
// itself (until its ctx ends).
type Once[K comparable] struct {
	closed atomic.Bool
	shards [numShards]onceShard[K]
}

// onceEntry is the state of one key. It is a pointer so that a runner can
// keep it across the unlocked call of fn: while running is true the entry
// cannot be removed, so the pointer stays valid.
type onceEntry struct {
	running bool   // a run of fn is in progress (or handed to a waiter)
	done    bool   // succeeded; remembered until Forget
	gen     uint64 // bumped by Forget while a run is in progress
	runGen  uint64 // gen when the current run began
	q       waitQueue
}

type onceShard[K comparable] struct {
	shard[K, *onceEntry]
	running   int
	done      int
	runs      uint64
	shared    uint64
	hits      uint64
	cancelled uint64
	_         [32]byte // to 128 bytes, as mutexShard
}

// Do runs fn for k unless k already succeeded, or joins the run in
// progress; see the type's doc for the full rules. It returns fn's error,
// the shared result of the run it joined, nil if k succeeded before,
// ctx.Err() if ctx ended while it waited (a done ctx fails at once), or
// [ErrClosed]. It panics if ctx or fn is nil.
func (o *Once[K]) Do(ctx context.Context, k K, fn func(context.Context) error) error {
	if ctx == nil {
		panic("keyed: Once.Do with nil Context")
	}
	if fn == nil {
		panic("keyed: Once.Do with nil fn")
	}
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	h, si := hashKey(k)
	sh := &o.shards[si]
	sh.mu.Lock()
	if o.closed.Load() {
		sh.mu.Unlock()
		return ErrClosed
	}
	var e *onceEntry
	if i := sh.t.find(h, k); i >= 0 {
		e = sh.t.slots[i].v
	}
	switch {
	case e == nil:
		e = &onceEntry{running: true}
		sh.t.insert(h, k, e)
		sh.running++
		sh.mu.Unlock()
		return sh.run(ctx, h, k, e, fn)
	case e.done:
		sh.hits++
		sh.mu.Unlock()
		return nil
	}
	w := newWaiter()
	w.gen = e.gen
	e.q.PushBack(w)
	sh.waiters++
	sh.mu.Unlock()

	if done == nil {
		<-w.ready
	} else {
		select {
		case <-w.ready:
		case <-done:
			giveUpHook()
			sh.mu.Lock()
			if !woken(w) {
				e.q.Remove(w)
				sh.waiters--
				sh.cancelled++
				sh.mu.Unlock()
				return ctx.Err()
			}
			if w.run {
				sh.cancelled++ // it returns ctx.Err() below
			}
			sh.mu.Unlock()
			if w.run {
				// Handed the run as we gave up: hand it on without
				// running fn, as a runner whose ctx ended would.
				sh.finish(h, k, e, ctx.Err(), true, false)
				return ctx.Err()
			}
			// The result arrived as we gave up: it is ours.
		}
	}
	if w.run {
		return sh.run(ctx, h, k, e, fn)
	}
	return w.err
}

// run calls fn for the run e.running stands for, then settles it.
func (sh *onceShard[K]) run(ctx context.Context, h uint64, k K, e *onceEntry, fn func(context.Context) error) error {
	returned := false
	defer func() {
		if !returned {
			// fn panicked or called runtime.Goexit: the waiters must not
			// wait forever. The panic continues after this.
			sh.finish(h, k, e, ErrAborted, false, true)
		}
	}()
	err := fn(ctx)
	returned = true
	sh.finish(h, k, e, err, err != nil && ctx.Err() != nil, true)
	return err
}

// finish ends the run in progress on e with err. If gaveUp, the runner's
// ctx ended: its error is not shared. Then the waiters that joined this
// run get the result, and if any waiter is left (it arrived after a
// Forget, or the runner gave up), the oldest one is woken to run fn and
// the others now wait for that run. Otherwise an entry without a success
// to remember is removed.
func (sh *onceShard[K]) finish(h uint64, k K, e *onceEntry, err error, gaveUp, ran bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if ran {
		sh.runs++
	}
	e.running = false
	sh.running--
	fresh := e.gen == e.runGen // no Forget since the run began
	if err == nil && fresh {
		e.done = true
		sh.done++
	}
	if !gaveUp {
		for w := e.q.Front(); w != nil; {
			next := w.Next()
			if w.gen == e.runGen {
				// Arrived before any Forget: it joined this run.
				e.q.Remove(w)
				sh.waiters--
				sh.shared++
				w.err = err
				wake(w)
			}
			w = next
		}
	}
	// When e.done, every waiter joined this run (gen did not move), so the
	// queue is empty now.
	if !e.q.empty() {
		w := e.q.PopFront()
		sh.waiters--
		e.running = true
		sh.running++
		e.runGen = e.gen
		for r := e.q.Front(); r != nil; r = r.Next() {
			r.gen = e.gen // they wait for the new run now
		}
		w.run = true
		wake(w)
		return
	}
	if !e.done {
		sh.t.remove(sh.t.find(h, k))
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
	h, si := hashKey(k)
	sh := &o.shards[si]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i := sh.t.find(h, k)
	if i < 0 {
		return
	}
	e := sh.t.slots[i].v
	if e.running {
		e.gen++
		return
	}
	// Not running, so done: entries exist only for the two.
	sh.done--
	sh.t.remove(i)
}

// Close fails every caller waiting in Do, and every later Do, with
// [ErrClosed]. Runs in progress go on and their callers get fn's result.
// Close is idempotent.
func (o *Once[K]) Close() {
	o.closed.Store(true)
	for i := range o.shards {
		o.shards[i].closeWaiters(func(e **onceEntry) *waitQueue { return &(*e).q })
	}
}

// Len returns the number of entries: keys with a run in progress plus
// keys whose success is remembered.
func (o *Once[K]) Len() int {
	n := 0
	for i := range o.shards {
		n += o.shards[i].size()
	}
	return n
}

// OnceStats is a snapshot of a [Once].
type OnceStats struct {
	Keys      int    // entries (= Len) = Running + Done
	Running   int    // keys with a run of fn in progress
	Done      int    // keys whose success is remembered
	Waiters   int    // callers blocked in Do now
	Runs      uint64 // calls of fn that returned or panicked
	Shared    uint64 // Do calls that returned the result of a run they joined
	Hits      uint64 // Do calls that returned nil at once: remembered success
	Cancelled uint64 // Do calls that gave up waiting because ctx ended
	Closed    bool
}

// Stats returns a snapshot, summed shard by shard as [Mutex.Stats].
func (o *Once[K]) Stats() OnceStats {
	var s OnceStats
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		s.Keys += sh.t.n
		s.Running += sh.running
		s.Done += sh.done
		s.Waiters += sh.waiters
		s.Runs += sh.runs
		s.Shared += sh.shared
		s.Hits += sh.hits
		s.Cancelled += sh.cancelled
		sh.mu.Unlock()
	}
	s.Closed = o.closed.Load()
	return s
}
