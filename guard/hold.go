package guard

import (
	"context"
	"time"
	"unsafe"
)

// The context a guard passes to its callback answers every question by
// asking the caller's context (its parent), except one: asked for the
// value under its guard's key, it answers itself. That is the token a
// nested call finds with ctx.Value(key) to learn that this chain of calls
// may hold the guard; the guard then checks that the token belongs to the
// hold in force right now, so it can run the call inline instead of
// deadlocking.
//
// The key is the guard's internal lock (*lock or *rwLock), a pointer no
// other package can name, so tokens of different guards never collide and
// a lookup for guard A walks past the holds of guards B and C.
//
// Every hold gets a token of its own, never handed out again: a callback
// context kept after its callback returned carries a token that no later
// hold matches, so a call made with it waits like any other caller.

// lockCtx is the context passed to the callback of a [lock] hold (Value,
// Serial): one byte, a cell of a slab, handed out for one hold only.
//
// Nothing is written per hold: the cell for the hold numbered gen is
// cells[gen-base] of its block's current slab (see ctxBlock.ctxFor), and
// it names its hold by where it is. Its value, written when the slab is
// made, is its index in the slab, which is how it finds the slab's head
// (see head) and so its block and its gen.
type lockCtx uint8

// ctxBlock is what the lockCtxs made for one parent context share: the
// parent, and the slabs they are cut from.
//
// Why slabs: a context is an interface, and an interface holding a
// distinct pointer per hold needs memory that nothing reuses while a kept
// context can still reach it; only the garbage collector knows when that
// is, so each hold takes a fresh cell, and cells come in slabs of up to
// bigSlab, one allocation for that many calls made with one context.
type ctxBlock struct {
	parent context.Context
	done   <-chan struct{} // parent.Done(), which never changes
	l      *lock

	// The current slab's cells, and the gen of cells[0]. Only the lock's
	// holder uses them (see newSlab).
	cells []lockCtx
	base  uint64
	first slab[[1]lockCtx] // the first slab, in the same allocation
}

// slab is a store of cells (A is an array of lockCtx) behind a head that
// names their block and the gen of the first cell. Every slab starts with
// its head and has its cells right after, at the same offset whatever
// their number.
type slab[A any] struct {
	slabHead
	cells A
}

type slabHead struct {
	b    *ctxBlock
	base uint64 // the gen of cells[0]
}

// Slab lengths: a slab of smallSlab and one of bigSlab cells, each with
// its head, fill a 32-byte and a 256-byte size class of the allocator.
// (A cell's index must fit in its byte.)
const (
	smallSlab = 16
	bigSlab   = 240
)

// cellsOffset is where a slab's cells start, after its head.
const cellsOffset = unsafe.Offsetof(slab[[1]lockCtx]{}.cells)

// newBlock makes the block for parent, with a first slab of one cell for
// the hold numbered gen.
func newBlock(parent context.Context, l *lock, gen uint64) *ctxBlock {
	b := &ctxBlock{parent: parent, done: parent.Done(), l: l}
	b.first.slabHead = slabHead{b: b, base: gen}
	b.cells, b.base = b.first.cells[:], gen
	return b
}

// ctxFor returns the cell of the hold whose state word (flags aside) is
// word, or nil when that hold's gen is past the current slab. Each gen
// maps to its own cell; holds of other blocks in between just leave
// cells unused. It stores nothing and is small enough to be inlined into
// Do. The caller holds the lock.
func (b *ctxBlock) ctxFor(word uint64) *lockCtx {
	i := word>>genShift - b.base // wraps to huge when gen is below base
	if i >= uint64(len(b.cells)) {
		return nil
	}
	return &b.cells[i]
}

// newSlab starts b's next slab at the hold numbered gen, of smallSlab
// cells after the first and of bigSlab after that (a parent used once
// costs only its block, one used in a loop soon almost nothing per call),
// and returns that hold's cell. The caller holds the lock.
func (b *ctxBlock) newSlab(gen uint64) *lockCtx {
	var cells []lockCtx
	if len(b.cells) < smallSlab {
		s := &slab[[smallSlab]lockCtx]{slabHead: slabHead{b: b, base: gen}}
		cells = s.cells[:]
	} else {
		s := &slab[[bigSlab]lockCtx]{slabHead: slabHead{b: b, base: gen}}
		cells = s.cells[:]
	}
	copy(cells, cellIndexes[:]) // each cell holds its index
	b.cells, b.base = cells, gen
	return &cells[0]
}

// cellIndexes is 0, 1, 2, ...: what a new slab's cells hold.
var cellIndexes = func() (a [bigSlab]lockCtx) {
	for i := range a {
		a[i] = lockCtx(i)
	}
	return a
}()

// head returns the head of c's slab. c is cells[*c] of some slab s, so s
// starts *c cells and the head before c, inside the same allocation (that
// is what keeps the arithmetic valid: a kept c keeps its whole slab, and
// through the head its block, alive).
func (c *lockCtx) head() *slabHead {
	return (*slabHead)(unsafe.Add(unsafe.Pointer(c), -(int(*c) + int(cellsOffset))))
}

func (c *lockCtx) block() *ctxBlock { return c.head().b }

// word is the state word (flags aside) of c's hold: gen<<genShift |
// heldBit.
func (c *lockCtx) word() uint64 {
	return (c.head().base+uint64(*c))<<genShift | heldBit
}

func (c *lockCtx) Deadline() (time.Time, bool) { return c.block().parent.Deadline() }
func (c *lockCtx) Done() <-chan struct{}       { return c.block().done }
func (c *lockCtx) Err() error                  { return c.block().parent.Err() }

func (c *lockCtx) Value(key any) any {
	b := c.block()
	// key's dynamic type may be anything; comparing it with a pointer
	// never panics (different types compare unequal).
	if key == any(b.l) {
		return c
	}
	return b.parent.Value(key)
}

func (c *lockCtx) String() string { return contextName(c.block().parent) + ".WithGuardHold" }

// lockCtxOf returns the token ctx carries for l, or nil.
func lockCtxOf(ctx context.Context, l *lock) *lockCtx {
	c, _ := ctx.Value(l).(*lockCtx)
	return c
}

// rwHold is the context passed to the callback of an [rwLock] hold (RW).
// rwLock makes one per hold, so it can carry the hold's state too.
type rwHold struct {
	parent context.Context
	done   <-chan struct{} // parent.Done(), which never changes
	l      *rwLock
	write  bool // a write hold

	// active is used only under l.mu: true from admission until release,
	// so the context of a hold that ended is not mistaken for a current
	// one.
	active bool
}

func newRWHold(parent context.Context, l *rwLock, write bool) *rwHold {
	return &rwHold{parent: parent, done: parent.Done(), l: l, write: write}
}

func (h *rwHold) Deadline() (time.Time, bool) { return h.parent.Deadline() }
func (h *rwHold) Done() <-chan struct{}       { return h.done }
func (h *rwHold) Err() error                  { return h.parent.Err() }

func (h *rwHold) Value(key any) any {
	if key == any(h.l) {
		return h
	}
	return h.parent.Value(key)
}

func (h *rwHold) String() string { return contextName(h.parent) + ".WithGuardHold" }

// rwHoldOf returns the hold ctx carries for l, or nil.
func rwHoldOf(ctx context.Context, l *rwLock) *rwHold {
	h, _ := ctx.Value(l).(*rwHold)
	return h
}

func contextName(ctx context.Context) string {
	if s, ok := ctx.(interface{ String() string }); ok {
		return s.String()
	}
	return "guard"
}

// Detach returns a context with the same deadline, cancellation and values
// as ctx, minus every guard hold it carries. Calls made with it wait for the
// lock like any other caller.
//
// Use it when a callback hands its context to another goroutine: a guard
// call made with the callback's own context while the callback runs is
// taken for a nested call and runs inline, without taking the lock, which
// on another goroutine means alongside the callback.
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
// lock.mint calls it once per new block, before caching it, so that the
// comparison on every later call needs no recover.
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
