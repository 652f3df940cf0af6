package fifo

import (
	"sync"
	"sync/atomic"
	"time"
)

// Hooks is the list of wait hooks a primitive keeps for its OnWait method:
// functions called, on an admitted waiter's goroutine, with how long that
// waiter waited. The zero value is an empty list.
//
// Calling is lock-free: the list is an atomic pointer to an immutable
// slice, replaced (copy on write) by Add and by the stop functions, which
// serialise among themselves on a mutex of their own. So adding and
// removing hooks is safe at any time, concurrently with waits, and a
// primitive whose list is empty pays one atomic load, on its slow path
// only: the fast paths never look at it.
type Hooks struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*hook]
}

// hook boxes one added function, so that the same function added twice is
// two entries, each removed by its own stop.
type hook struct{ fn func(time.Duration) }

// Add appends fn to the list and returns a function that removes it. The
// stop function is idempotent and safe to call from any goroutine; after
// it returns, no Call that starts later calls fn (a Call already under
// way may still call it once). fn must not be nil: the primitive checks,
// so that its panic names its own package.
func (h *Hooks) Add(fn func(time.Duration)) (stop func()) {
	e := &hook{fn: fn}
	h.mu.Lock()
	var next []*hook
	if old := h.list.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, e)
	h.list.Store(&next)
	h.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { h.remove(e) }) }
}

func (h *Hooks) remove(e *hook) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.list.Load()
	if old == nil {
		return
	}
	next := make([]*hook, 0, len(*old))
	for _, x := range *old {
		if x != e {
			next = append(next, x)
		}
	}
	if len(next) == 0 {
		h.list.Store(nil)
		return
	}
	h.list.Store(&next)
}

// Call calls every hook, in the order they were added, with the time
// since start (a reading of [Now]); it reads the clock only if there is a
// hook to call. It runs the hooks on the calling goroutine and returns
// when they have returned.
func (h *Hooks) Call(start int64) {
	// Small enough to inline: a caller with no hooks pays one load.
	if l := h.list.Load(); l != nil {
		callSince(*l, start)
	}
}

// callSince is kept out of line, so that Call stays small enough to
// inline.
//
//go:noinline
func callSince(l []*hook, start int64) { call(l, Since(start)) }

func call(l []*hook, d time.Duration) {
	for _, e := range l {
		e.fn(d)
	}
}

// CallTime is [Hooks.Call] for a start kept as a time.Time.
func (h *Hooks) CallTime(start time.Time) {
	if l := h.list.Load(); l != nil {
		call(*l, time.Since(start))
	}
}

// Now reads the monotonic clock: nanoseconds since a fixed moment (this
// package's start). It is what a waiter's enqueue time is kept as, and
// costs one clock read where time.Now costs two (wall and monotonic:
// measured 28 ns against 52 ns on the project's machine). Inside a
// testing/synctest bubble it reads the bubble's clock, so differences of
// readings taken in one bubble are exact.
func Now() int64 { return int64(time.Since(epoch)) }

var epoch = time.Now()

// Since returns the time since start (a reading of [Now]), never negative.
func Since(start int64) time.Duration { return time.Duration(max(0, Now()-start)) }

// Len returns the number of hooks now in the list.
func (h *Hooks) Len() int {
	if l := h.list.Load(); l != nil {
		return len(*l)
	}
	return 0
}
