package guard

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by Do, Read and Write once the guard is closed.
var ErrClosed = errors.New("guard: closed")

// ErrUpgrade is returned by [RW.Write] called with the context of one of
// the same RW's Read callbacks: the read lock cannot be upgraded to the
// write lock (two readers upgrading would wait for each other forever), so
// the call fails at once instead of deadlocking.
var ErrUpgrade = errors.New("guard: Write inside a Read of the same RW cannot upgrade the read lock")

// Stats is a snapshot of a [Value]'s lock.
type Stats struct {
	InUse   int64 // 1 while a callback holds the lock, else 0
	Waiting int64 // callers queued for the lock now
	// OldestWait is how long the oldest caller queued now has waited,
	// from when it queued (after a short spin on a held lock); 0 when
	// nobody is queued.
	OldestWait time.Duration
	// Admitted counts the calls let in to run their callback, at once or
	// after a wait. Nested calls (run inline, inside a hold) are not
	// counted. Free to keep: every acquisition already numbers its hold.
	Admitted  int64
	Contended int64 // total: calls that had to queue
	Cancelled int64 // total: queued calls whose context ended first
	Closed    bool  // Close has been called
}

// Value holds a value of type T that is reachable only inside [Value.Do],
// while Do holds the value's lock. Create it with [New]; the zero value is
// ready too, holding T's zero value. A Value must not be copied after
// first use.
//
// # Invariants
//
//   - At most one callback runs at a time, except nested calls (below),
//     which run inside the callback that holds the lock.
//   - The pointer passed to the callback is valid only until it returns:
//     do not keep it, return it, or hand it to another goroutine. Copy out
//     what you need instead. (Go cannot enforce this; the race detector
//     usually catches a violation.)
//   - Fairness: waiters queue in arrival order and are woken one at a
//     time, oldest first; they never overtake each other. As with
//     sync.Mutex, a caller arriving just as the lock comes free may take
//     it ahead of the woken waiter (that keeps a busy lock fast: a strict
//     hand-off costs a goroutine wake-up per call). Once the oldest waiter
//     has been queued for 1 ms and loses such a race, the lock switches to
//     hand-off: each release passes it straight to the oldest waiter and
//     newcomers queue, until the queue drains or a waiter handed the lock
//     had queued for less than 1 ms. No waiter starves.
//   - A waiter whose context ends returns ctx.Err() without running its
//     callback, and never delays the waiters behind it.
//   - A callback that panics releases the lock; the panic continues.
//
// # Nested calls
//
// Go's mutexes are not re-entrant, so a callback that calls Do on the same
// Value again would wait for itself forever. Value recognises a nested call
// by its context: the context passed to the callback carries a token for
// this hold, and a Do made with that context (or one derived from it, say
// with a timeout) while the hold lasts runs its callback at once, inline,
// on the same value. Once the callback has returned, its context no longer
// counts as nested: a Do made with it waits like any other.
//
// A nested Do made with any other context (the outer function's ctx,
// context.Background()) cannot be recognised and still deadlocks, or
// returns ctx.Err() when that context ends. To avoid it, pass the
// callback's ctx down to everything the callback calls. Conversely, do not
// hand the callback's ctx to another goroutine: that goroutine's calls
// would run inline, without the lock, while the callback runs. Hand it
// [Detach](ctx) instead.
type Value[T any] struct {
	l lock
	v T
}

// New returns a Value holding v.
func New[T any](v T) *Value[T] {
	return &Value[T]{v: v}
}

// Do waits for the lock, then calls fn with a context carrying the hold
// and a pointer to the value, and returns fn's error. It returns without
// calling fn if ctx is done before the lock is granted (ctx.Err()) or the
// Value is closed ([ErrClosed]); a ctx that is already done fails even if
// the lock is free. A nested call (see the type's doc) runs fn at once,
// with ctx, even after Close (unless ctx is done). Do panics if g, ctx or fn
// is nil.
//
// Each hold passes fn a context of its own (that is what keeps a kept one
// from passing for a later hold). Called again and again with one context
// (a loop, one request's calls, context.Background()), Do makes one small
// allocation per few hundred calls; another context costs one small
// allocation, and the Value keeps a reference to the last context until
// the next one replaces it.
func (g *Value[T]) Do(ctx context.Context, fn func(ctx context.Context, v *T) error) error {
	if g == nil || ctx == nil || fn == nil {
		badCall("Value.Do", g == nil, ctx == nil)
	}
	var c *lockCtx
	var word uint64
	if b := g.l.tryFast(ctx); b != nil { // inlined, as is ctxFor: the uncontended case makes no call
		word = g.l.heldWord()
		if c = b.ctxFor(word); c == nil {
			c = b.newSlab(word >> genShift)
		}
	} else {
		var err error
		if c, err = g.l.acquireSlow(ctx, "sluice/guard: Value.Do wait"); c == nil {
			if err != nil {
				return err
			}
			return fn(ctx, &g.v) // nested: inline, the hold is ctx's
		}
		word = c.word()
	}
	defer g.l.release(word)
	return fn(c, &g.v)
}

// Close fails every queued Do and every later Do with [ErrClosed]. A
// callback already running keeps the lock until it returns, and nested
// calls inside it still run. Close is idempotent and does not wait.
func (g *Value[T]) Close() {
	if g == nil {
		badCall("Value.Close", true, false)
	}
	g.l.close()
}

// OnWait adds fn to the functions called with each wait for g's lock,
// and returns stop, which removes it (stop is idempotent). fn is called
// for every Do that had to queue, once it holds the lock and before its
// callback runs, on that caller's goroutine, with how long it was queued;
// never for a Do that took the lock at once (those read no clock) or one
// that gave up. fn must be quick and must not call into g; a panic in fn
// releases the lock and reaches the Do caller. A call already under way
// when stop returns may still call fn. Several hooks may be added, from
// any goroutine at any time. OnWait panics if fn is nil.
//
// A queued caller already reads the clock once; with a hook added it
// reads it once more, when it is admitted.
func (g *Value[T]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if g == nil {
		badCall("Value.OnWait", true, false)
	}
	return g.l.onWait("Value.OnWait", fn)
}

// Stats returns a snapshot of the lock, read under its internal mutex.
func (g *Value[T]) Stats() Stats {
	if g == nil {
		badCall("Value.Stats", true, false)
	}
	return g.l.stats()
}

// badCall panics for a nil receiver, context or callback, naming the
// method.
func badCall(method string, nilRecv, nilCtx bool) {
	if nilRecv {
		panic("guard: " + method + " on a nil receiver")
	}
	if nilCtx {
		panic("guard: " + method + " with nil Context")
	}
	panic("guard: " + method + " with nil func")
}
