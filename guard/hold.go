package guard

import (
	"context"
	"time"
)

// hold is the context a guard passes to its callback. It answers every
// question by asking the caller's context (parent), except one: asked for
// the value under its guard's key, it answers itself. That is the token a
// nested call finds with ctx.Value(key) to learn that this chain of calls
// already holds the guard, so it can run inline instead of deadlocking.
//
// The key is the guard's internal lock (*lock or *rwLock), a pointer no
// other package can name, so tokens of different guards never collide and
// a lookup for guard A walks past the holds of guards B and C.
//
// Its fields are written before the hold is published and only read
// afterwards (except active, which rwLock changes under its mu). That is
// what lets [lock] reuse one hold for every call made with the same parent
// context (see lock.holdFor) without a data race on a context that
// escaped.
type hold struct {
	parent context.Context
	done   <-chan struct{} // parent.Done(), which never changes
	key    any             // *lock or *rwLock
	write  bool            // rwLock: a write hold (Value and Serial holds are exclusive)
	id     uint64          // lock: this hold's id in the state word

	// active is used by rwLock only, and only under its mu: true from
	// admission until release, so a stale context from a hold that ended
	// is not mistaken for the current one.
	active bool
}

func newHold(parent context.Context, key any, write bool) *hold {
	return &hold{parent: parent, done: parent.Done(), key: key, write: write}
}

func (h *hold) Deadline() (time.Time, bool) { return h.parent.Deadline() }
func (h *hold) Done() <-chan struct{}       { return h.done }
func (h *hold) Err() error                  { return h.parent.Err() }

func (h *hold) Value(key any) any {
	// key's dynamic type may be anything; comparing it with a pointer
	// never panics (different types compare unequal).
	if key == h.key {
		return h
	}
	return h.parent.Value(key)
}

func (h *hold) String() string {
	if s, ok := h.parent.(interface{ String() string }); ok {
		return s.String() + ".WithGuardHold"
	}
	return "guard.hold"
}

// holdOf returns the hold that ctx carries for key, or nil.
func holdOf(ctx context.Context, key any) *hold {
	h, _ := ctx.Value(key).(*hold)
	return h
}

// Detach returns a context with the same deadline, cancellation and values
// as ctx, minus every guard hold it carries. Calls made with it wait for the
// lock like any other caller.
//
// Use it when a callback hands its context to another goroutine (or keeps it
// for use after the callback returns). A guard call made with the callback's
// own context runs inline, without taking the lock, because it is assumed to
// be nested inside the hold; on another goroutine that assumption is false
// and the call would run alongside the holder. After the callback returns
// it is false too, and for [Value] and [Serial] the kept context can still
// match the token of a later holder (one called with the same parent
// context; see the package doc), so a call made with it runs alongside
// that holder.
//
//	g.Do(ctx, func(ctx context.Context, v *State) error {
//		go audit(guard.Detach(ctx), v.ID) // audit may call g.Do itself
//		return nil
//	})
func Detach(ctx context.Context) context.Context {
	if ctx == nil {
		panic("guard: Detach with nil Context")
	}
	return detached{ctx}
}

type detached struct{ context.Context }

func (d detached) Value(key any) any {
	switch key.(type) {
	case *lock, *rwLock:
		return nil
	}
	return d.Context.Value(key)
}

func (d detached) String() string {
	if s, ok := d.Context.(interface{ String() string }); ok {
		return s.String() + ".GuardDetached"
	}
	return "guard.Detach"
}

// safeToCompare reports whether comparing ctx with another context can never
// panic. Comparing two interfaces panics when both hold the same dynamic
// type and that type (or an interface inside it) holds an uncomparable
// value: a context struct with a map field, passed by value. If ctx == ctx
// does not panic, every interface reachable from ctx holds a comparable
// type, so comparing ctx with any other context cannot panic either (a
// different dynamic type anywhere just compares unequal).
//
// holdFor calls it once per hold it caches, so that the comparison on
// every later call needs no recover.
func safeToCompare(ctx context.Context) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	// The result does not matter (a NaN field compares unequal to itself,
	// which is fine); only whether the comparison panics.
	same := ctx == ctx
	_ = same
	return true
}
