package guard

import (
	"context"
	"reflect"
	"sync/atomic"
	"time"
)

// Access is how callers use a client that may or may not be safe for
// concurrent use: a websocket that allows one reader at a time, an HTTP
// client that allows any number. Callers cannot tell which, and need not:
// they always go through Do, and the provider that owns the client decides
// once, when it builds the Access, with [Serial] or [Concurrent].
//
// Several users of one connection share one Access. That is the point: a
// lock that every path must remember to take is forgotten by the next path
// written, while a client reachable only through its Access cannot be
// called without the rule its provider chose.
//
// The client passed to fn is valid only until fn returns: keep it out of
// goroutines and structs that outlive the call.
type Access[T any] interface {
	// Do calls fn with the client, under the provider's rule, and returns
	// fn's error. It returns ctx.Err() without calling fn if ctx is done
	// first (also when it is already done), and panics if ctx or fn is nil.
	// After Close it returns [ErrClosed] without calling fn.
	Do(ctx context.Context, fn func(ctx context.Context, c T) error) error
	// Close fails every call waiting for the client (Serial) and every
	// later call with [ErrClosed], at once. Calls already inside fn finish;
	// for Serial, nested calls made with a callback's ctx still run inline,
	// as part of the call already admitted. Close is idempotent. It does
	// not close the client itself: that stays its owner's job, typically
	// right after Close.
	Close()
	// Stats returns a snapshot of the calls in and waiting for the client.
	Stats() AccessStats
	// OnWait adds fn to the functions called with each wait for the
	// client, and returns stop, which removes it (idempotent). For
	// Serial, fn is called for every Do that had to queue, once it has
	// the client and before its fn runs, on that caller's goroutine, with
	// how long it was queued (see [Value.OnWait]; the same contract). A
	// Concurrent Access never makes a call wait, so it never calls fn.
	// OnWait panics if fn is nil.
	OnWait(fn func(wait time.Duration)) (stop func())
}

// AccessStats is a snapshot of an [Access].
type AccessStats struct {
	Serial  bool  // built by Serial: one call at a time
	InUse   int64 // calls inside fn now (nested Serial calls not counted)
	Waiting int64 // calls queued for the client now (Serial only)
	// OldestWait is how long the oldest call queued now has waited, from
	// when it queued; 0 when none is (always, for Concurrent).
	OldestWait time.Duration
	// Admitted counts the calls let in to run fn, at once or after a wait
	// (nested Serial calls not counted).
	Admitted  int64
	Contended int64 // total: calls that had to queue (Serial only)
	Cancelled int64 // total: queued calls whose context ended first (Serial only)
	Closed    bool  // Close has been called
}

// Serial returns an Access that lets one call use c at a time: for a
// client that is not safe for concurrent use.
//
// It keeps the rules of [Value]: waiters are woken oldest first, with the
// same bounded barging as sync.Mutex (see Value's fairness); a waiter whose context
// ends leaves without delaying the others; and a Do made with the context
// passed to fn (a nested call, say a helper that takes the Access and the
// ctx) runs inline instead of deadlocking. A nested Do with an unrelated
// context is not recognised and waits for itself until that context ends,
// so pass the callback's ctx down, and hand other goroutines [Detach](ctx).
//
// Serial panics if c is nil (a nil pointer, interface, map, channel or
// func): an Access to no client would fail only later, inside some fn.
func Serial[T any](c T) Access[T] {
	if isNil(c) {
		panic("guard: Serial with a nil client")
	}
	return &serial[T]{c: c}
}

type serial[T any] struct {
	l lock
	c T
}

func (s *serial[T]) Do(ctx context.Context, fn func(ctx context.Context, c T) error) error {
	if ctx == nil || fn == nil {
		badCall("Access.Do", false, ctx == nil)
	}
	var c *lockCtx
	var word uint64
	if b := s.l.tryFast(ctx); b != nil { // inlined, as is ctxFor: the uncontended case makes no call
		word = s.l.heldWord()
		if c = b.ctxFor(word); c == nil {
			c = b.newSlab(word >> genShift)
		}
	} else {
		var err error
		if c, err = s.l.acquireSlow(ctx, "sluice/guard: Access.Do wait"); c == nil {
			if err != nil {
				return err
			}
			return fn(ctx, s.c) // nested: inline, the hold is ctx's
		}
		word = c.word()
	}
	defer s.l.release(word)
	return fn(c, s.c)
}

func (s *serial[T]) Close() { s.l.close() }

func (s *serial[T]) Stats() AccessStats {
	st := s.l.stats()
	return AccessStats{
		Serial:     true,
		InUse:      st.InUse,
		Waiting:    st.Waiting,
		OldestWait: st.OldestWait,
		Admitted:   st.Admitted,
		Contended:  st.Contended,
		Cancelled:  st.Cancelled,
		Closed:     st.Closed,
	}
}

func (s *serial[T]) OnWait(fn func(time.Duration)) (stop func()) {
	return s.l.onWait("Access.OnWait", fn)
}

// Concurrent returns an Access that adds no lock: every call runs fn at
// once, alongside any others. Use it for a client that is safe for
// concurrent use (net/http.Client, a connection pool), so that a slow call
// never waits behind another. fn gets ctx unchanged. Concurrent panics if
// c is nil, as [Serial] does.
func Concurrent[T any](c T) Access[T] {
	if isNil(c) {
		panic("guard: Concurrent with a nil client")
	}
	return &concurrent[T]{c: c}
}

// isNil reports whether c is a nil pointer, interface, map, channel or
// func. It runs once per Access, so reflect's cost does not matter.
func isNil[T any](c T) bool {
	v := reflect.ValueOf(&c).Elem()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return v.IsNil()
	}
	return false
}

// concurrent counts calls in and out, rather than calls inside fn: the
// same two atomic adds per call as a single in-use count, and the count
// in is Admitted.
type concurrent[T any] struct {
	in, out atomic.Int64
	closed  atomic.Bool
	c       T
}

func (a *concurrent[T]) Do(ctx context.Context, fn func(ctx context.Context, c T) error) error {
	if ctx == nil || fn == nil {
		badCall("Access.Do", false, ctx == nil)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.closed.Load() {
		return ErrClosed
	}
	a.in.Add(1)
	defer a.out.Add(1)
	return fn(ctx, a.c)
}

func (a *concurrent[T]) Close() { a.closed.Store(true) }

func (a *concurrent[T]) Stats() AccessStats {
	// out first: both only grow, so in - out is never negative (a call
	// that leaves between the two loads is still counted in).
	out := a.out.Load()
	in := a.in.Load()
	return AccessStats{InUse: in - out, Admitted: in, Closed: a.closed.Load()}
}

// OnWait on Concurrent registers nothing: no call ever waits.
func (a *concurrent[T]) OnWait(fn func(time.Duration)) (stop func()) {
	if fn == nil {
		panic("guard: Access.OnWait with nil func")
	}
	return func() {}
}
