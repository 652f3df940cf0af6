package guard

import (
	"context"
	"time"
)

// RWStats is a snapshot of an [RW]'s lock, by lane.
type RWStats struct {
	ReadInUse    int64 // Read callbacks running now (nested ones not counted)
	WriteInUse   int64 // 1 while a Write callback runs, else 0
	ReadWaiting  int64 // Read calls queued now
	WriteWaiting int64 // Write calls queued now
	// ReadOldestWait and WriteOldestWait are how long the oldest Read
	// (Write) queued now has waited, from when it queued; 0 when none is.
	ReadOldestWait  time.Duration
	WriteOldestWait time.Duration
	// ReadAdmitted and WriteAdmitted count the calls let in to run their
	// callback, at once or after a wait (nested calls not counted).
	ReadAdmitted  int64
	WriteAdmitted int64
	// ReadCancelled and WriteCancelled count queued calls whose context
	// ended before they were admitted.
	ReadCancelled  int64
	WriteCancelled int64
	Closed         bool // Close has been called
}

// RW holds a value of type T behind a readers-writer lock: any number of
// [RW.Read] callbacks at once, or one [RW.Write] callback alone. Create it
// with [NewRW]; the zero value is ready too, holding T's zero value. An RW
// must not be copied after first use.
//
// # Invariants
//
//   - While a Write callback runs, no other callback runs (nested calls
//     aside, see below).
//   - Read callbacks get the same pointer and may run at the same time:
//     they must only read through it. As with [Value], the pointer is valid
//     only until the callback returns and must not escape it.
//   - Fairness: strict FIFO over one queue of readers and writers. A Read
//     runs at once only when no writer holds and nobody is queued; a
//     waiting Write therefore blocks every later Read, and is never
//     starved by a stream of readers. When a Write ends, the readers at
//     the head of the queue are admitted together, up to the next writer.
//   - A waiter whose context ends returns ctx.Err() without running its
//     callback; if it was a writer at the head, the readers behind it are
//     admitted at once.
//   - A callback that panics releases its lock; the panic continues.
//
// # Nested calls
//
// As with [Value], the context passed to a callback carries the hold, and
// a call made with it (or a context derived from it) is nested:
//
//   - Read inside Read or Write, and Write inside Write: runs inline at
//     once. (A nested Read inside a Write sees the writer's changes.)
//   - Write inside Read: returns [ErrUpgrade] at once. A read lock cannot
//     be upgraded; take the Write first, or finish the Read and then Write
//     (re-checking what you read).
//
// A nested call made with an unrelated context is not recognised: a Write
// inside a Read, or anything inside a Write, then waits for itself until
// its context ends; a Read inside a Read waits too as soon as a writer is
// queued. Pass the callback's ctx down, and give other goroutines
// [Detach](ctx), never the callback's ctx itself.
type RW[T any] struct {
	l rwLock
	v T
}

// NewRW returns an RW holding v.
func NewRW[T any](v T) *RW[T] {
	return &RW[T]{v: v}
}

// Read waits for a shared hold, then calls fn with a context carrying it
// and a pointer to the value, and returns fn's error. fn must not modify
// the value. Errors and nesting are as for [RW.Write]; a nested Read
// always runs inline. It panics if g, ctx or fn is nil.
func (g *RW[T]) Read(ctx context.Context, fn func(ctx context.Context, v *T) error) error {
	if g == nil || ctx == nil || fn == nil {
		badCall("RW.Read", g == nil, ctx == nil)
	}
	return g.do(ctx, false, fn)
}

// Write waits for the exclusive hold, then calls fn with a context
// carrying it and a pointer to the value, and returns fn's error. It
// returns without calling fn if ctx is done before the hold is granted
// (ctx.Err(), also when ctx is already done), if the RW is closed
// ([ErrClosed]), or if ctx is a Read callback's context ([ErrUpgrade]).
// Nested inside a Write it runs fn at once, even after Close. It panics if g,
// ctx or fn is nil.
func (g *RW[T]) Write(ctx context.Context, fn func(ctx context.Context, v *T) error) error {
	if g == nil || ctx == nil || fn == nil {
		badCall("RW.Write", g == nil, ctx == nil)
	}
	return g.do(ctx, true, fn)
}

func (g *RW[T]) do(ctx context.Context, write bool, fn func(ctx context.Context, v *T) error) error {
	h, inline, err := g.l.acquire(ctx, write)
	if err != nil {
		return err
	}
	if inline {
		return fn(ctx, &g.v)
	}
	defer g.l.release(h)
	return fn(h, &g.v)
}

// Close fails every queued Read and Write, and every later one, with
// [ErrClosed]. Callbacks already running keep their holds until they
// return, and nested calls inside them still run. Close is idempotent and
// does not wait.
func (g *RW[T]) Close() {
	if g == nil {
		badCall("RW.Close", true, false)
	}
	g.l.close()
}

// OnWait adds fn to the functions called with each wait for g's lock, in
// either lane, and returns stop, which removes it (idempotent). fn is
// called for every Read or Write that had to queue, once it is admitted
// and before its callback runs, on that caller's goroutine, with how long
// it was queued; never for a call admitted at once (those read no clock)
// or one that gave up. The contract is [Value.OnWait]'s: fn must be quick
// and must not call into g, a panic in fn releases the hold and reaches
// the caller, and OnWait panics if fn is nil.
func (g *RW[T]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if g == nil {
		badCall("RW.OnWait", true, false)
	}
	return addHook(&g.l.hooks, "RW.OnWait", fn)
}

// Stats returns a snapshot of the lock, read under its internal mutex.
func (g *RW[T]) Stats() RWStats {
	if g == nil {
		badCall("RW.Stats", true, false)
	}
	return g.l.stats()
}
