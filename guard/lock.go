package guard

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// lock is the ctx-aware mutex under [Value] and [Serial].
//
// # The state word
//
// state packs what the lock-free paths need into one atomic word:
//
//	bits 4..63  the holder's hold id, 0 when the lock is free
//	bit 3       woken: a waiter has been woken and not answered yet
//	bit 2       closed
//	bit 1       handoff: a waiter is starving; releases hand the lock
//	            straight to the oldest waiter, and nobody barges
//	bit 0       queued: at least one waiter is queued
//
// Why: the uncontended Do is then one CAS to take the lock (0 -> id) and
// one CAS to give it back (id -> 0), with no mutex, like sync.Mutex's fast
// path. The holder's identity is in the same word, so a nested call can
// tell "my chain holds this lock" from "someone holds this lock" with one
// load, without any extra store on the fast path. (Ids are unique for the
// life of the process. An integer word rather than an atomic.Pointer to
// the hold, because a pointer CAS goes through the GC's write barrier and
// costs about twice as much.)
//
// Any flag makes both fast paths fail, so once a waiter is queued every
// release goes through mu and sees it: a wake-up is never lost. The one
// exception: while a woken waiter has not answered (woken set), a release
// just frees the lock, without mu and without waking anyone, since the
// woken waiter re-checks the lock under mu when it answers (sync.Mutex
// does the same with its mutexWoken bit). That keeps a lock that one
// goroutine takes again and again off mu while another waits.
//
// # Fairness (the same policy as sync.Mutex)
//
// Waiters queue in arrival order and are woken one at a time, oldest
// first. A woken waiter competes for the lock with callers that are just
// arriving (they may "barge" in ahead of it). That keeps a busy lock
// running: a strict hand-off to a parked goroutine costs a wake-up on
// every acquisition. A strict-FIFO version of this lock measured 400 to
// 1,300 ns per call in BenchmarkGuardDoParallel (2 to 16 goroutines, 16
// cores), against 40 to 200 ns for sync.Mutex and 55 to 70 ns for this
// one. Barging is bounded: a
// woken waiter that loses and has been queued for starveAfter or longer
// sets the handoff bit, and from then on each release hands the lock to
// the oldest waiter directly, and newcomers queue, until the queue is
// empty or the waiter handed the lock had not waited that long.
type lock struct {
	state atomic.Uint64
	// cache is the hold made for the last parent context seen, reused
	// while callers keep passing the same context (see holdFor).
	cache atomic.Pointer[hold]

	mu sync.Mutex
	// free recycles waiters with their channel, so a contended acquire
	// does not allocate. A waiter goes back only when nothing else can
	// reach it: unlinked under mu, and every token sent to it received.
	// Per lock rather than global, so that a lock made inside a
	// testing/synctest bubble never gets a channel made outside it.
	free sync.Pool
	q    fifo.List[waiter, *waiter] // queued callers, oldest first
	// woken is the waiter (always the head) holding a wake-up it has not
	// answered yet, or nil. At most one is outstanding.
	woken     *waiter
	contended uint64 // acquisitions that had to queue
	cancelled uint64 // waiters whose context ended first
}

const (
	queuedBit  = 1 << 0
	handoffBit = 1 << 1
	closedBit  = 1 << 2
	wokenBit   = 1 << 3
	flagBits   = 4
	flagMask   = 1<<flagBits - 1
)

// starveAfter is how long a waiter may lose to newcomers before the lock
// switches to hand-off (sync.Mutex uses the same figure).
const starveAfter = time.Millisecond

// spin is how many times a caller re-checks a held lock before it queues.
// Queuing parks the goroutine, and waking it costs far more than a short
// critical section; a few re-checks usually find the lock free.
const spin = 64

// holdIDs numbers holds. An id is only ever compared with the id of a
// hold the comparer references, so ids need only be unique.
var holdIDs atomic.Uint64

type waiter struct {
	h     *hold
	since time.Time     // when it queued
	ready chan struct{} // buffered(1): a wake-up, a hand-off, or Close
	// granted is set under mu just before the hand-off's token, and never
	// otherwise, so the waiter may read it after any token.
	granted bool
	// closed is set under mu by Close. Close sends a token only to a waiter
	// without an outstanding wake-up; the woken one reads closed under mu
	// when it answers its wake-up. So closed is read only under mu or
	// after Close's own token.
	closed bool
	fifo.Node[waiter]
}

func newWaiter() *waiter {
	return &waiter{ready: make(chan struct{}, 1)}
}

// holdFor returns the hold to pass to the callback of a call made with
// ctx. A hold is immutable, so the one made for a parent context can be
// handed out again to every later call made with the same context: the
// uncontended Do then allocates nothing (a request's calls, a loop's calls,
// context.Background()). A different context costs one allocation and
// replaces the cached hold.
//
// The price: two calls made with the same parent context get the same
// token. That changes nothing for correct use (the callback's context is
// used on the callback's goroutine, before it returns); see Detach for the
// one rule this relies on. It does change what a misuse costs: a callback
// context kept past its callback matches the token of a later holder
// called with the same parent context, so a call made with it runs inline
// beside that holder (with a token per hold, as rwLock makes, it would
// just wait).
func (l *lock) holdFor(ctx context.Context) *hold {
	if h := l.cache.Load(); h != nil && h.parent == ctx {
		return h
	}
	h := newHold(ctx, l, true)
	h.id = holdIDs.Add(1)
	if safeToCompare(ctx) {
		// Only a hold whose parent compares safely goes in the cache:
		// the comparison above then never panics (see safeToCompare).
		l.cache.Store(h)
	}
	return h
}

// acquire takes the lock for a call made with ctx. It returns the hold to
// pass to the callback; or nil and no error when ctx shows the call is
// nested inside this lock's current hold (run the callback at once, with
// ctx, and do not release); or an error: ctx.Err() or ErrClosed.
//
// Do calls its two halves itself, so that tryFast is inlined there.
func (l *lock) acquire(ctx context.Context) (*hold, error) {
	if h := l.tryFast(ctx); h != nil {
		return h, nil
	}
	return l.acquireSlow(ctx)
}

// tryFast is the uncontended case, small enough for the compiler to inline
// into Do: the lock free with no flags, the cached hold made for this very
// context, and that context not done (its Done channel, cached in the
// hold, is nil or open). It returns nil when any of that does not hold;
// call acquireSlow then, which starts with the same steps done in full.
func (l *lock) tryFast(ctx context.Context) *hold {
	if l.state.Load() == 0 {
		if h := l.cache.Load(); h != nil && h.parent == ctx && (h.done == nil || !closed(h.done)) &&
			l.state.CompareAndSwap(0, h.id<<flagBits) {
			return h
		}
	}
	return nil
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// release gives the lock back (h is what acquire returned).
func (l *lock) release(h *hold) {
	if !l.state.CompareAndSwap(h.id<<flagBits, 0) {
		l.releaseSlow() // flags set: someone waits, or closed
	}
}

func (l *lock) releaseSlow() {
	// A woken waiter will look at the lock: just free it (see woken in
	// the state word's doc), unless a hand-off is due.
	for {
		s := l.state.Load()
		if s&wokenBit == 0 || s&handoffBit != 0 {
			break
		}
		if l.state.CompareAndSwap(s, s&flagMask) {
			return
		}
	}
	l.mu.Lock()
	l.releaseLocked()
	l.mu.Unlock()
}

// holding reports whether h is the current holder.
func (l *lock) holding(h *hold) bool {
	return l.state.Load()>>flagBits == h.id
}

// tryTake takes the lock for word if it is free and no hand-off is under
// way. Barging past queued waiters is allowed here (see Fairness).
func (l *lock) tryTake(word uint64) bool {
	s := l.state.Load()
	return s>>flagBits == 0 && s&(handoffBit|closedBit) == 0 && l.state.CompareAndSwap(s, s|word)
}

// setFlags sets and clears flag bits, leaving the holder alone.
func (l *lock) setFlags(set, clear uint64) {
	for {
		s := l.state.Load()
		if l.state.CompareAndSwap(s, s&^clear|set) {
			return
		}
	}
}

func (l *lock) acquireSlow(ctx context.Context) (*hold, error) {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return nil, ctx.Err()
		default:
		}
	}
	// A lock without a holder is not held by our chain: take it if we
	// can, before the nesting check walks up ctx's chain (and before
	// holdFor, which a nested call must not spend a cache entry on).
	if l.state.Load()>>flagBits == 0 {
		if h := l.holdFor(ctx); l.tryTake(h.id << flagBits) {
			return h, nil
		}
	}
	// A nested call finds its hold's id in the word: run inline.
	if cur := holdOf(ctx, l); cur != nil && l.holding(cur) {
		return nil, nil
	}
	h := l.holdFor(ctx)
	word := h.id << flagBits
	for range spin {
		if l.tryTake(word) {
			return h, nil
		}
		if l.state.Load()&closedBit != 0 {
			return nil, ErrClosed
		}
	}

	l.mu.Lock()
	// Take the lock or set the queued bit, deciding against the word we
	// saw, so no release can slip between our decision and the bit.
	for {
		s := l.state.Load()
		if s&closedBit != 0 {
			l.mu.Unlock()
			return nil, ErrClosed
		}
		if s>>flagBits == 0 && s&handoffBit == 0 {
			if l.state.CompareAndSwap(s, s|word) {
				l.mu.Unlock()
				return h, nil
			}
			continue
		}
		if s&queuedBit != 0 || l.state.CompareAndSwap(s, s|queuedBit) {
			break
		}
	}
	w, _ := l.free.Get().(*waiter)
	if w == nil {
		w = newWaiter()
	}
	w.h, w.since = h, time.Now()
	l.pushLocked(w)
	l.contended++
	l.mu.Unlock()

	for {
		if done == nil {
			<-w.ready
		} else {
			select {
			case <-w.ready:
			case <-done:
				return nil, l.cancelWait(ctx, w)
			}
		}
		if w.granted { // unlinked by the hand-off; we hold the lock
			l.recycle(w)
			return h, nil
		}
		// A wake-up (compete for the lock that was just released) or
		// Close. Try once before taking mu: the point of waking only one
		// waiter is that it usually wins.
		took := l.tryTake(word)
		if settled, err := l.answer(w, took); settled {
			l.recycle(w)
			if err != nil {
				return nil, err
			}
			return h, nil
		}
	}
}

// answer finishes w's wake-up, or its Close, after w's first try for the
// lock (took). It returns settled == false when w must wait again, else
// nil (w holds the lock and has left the queue) or ErrClosed.
func (l *lock) answer(w *waiter, took bool) (settled bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.woken == w {
		l.woken = nil
		l.setFlags(0, wokenBit) // releases go through mu again
	}
	if w.closed {
		// Unlinked by Close. If we took the lock before Close, we were
		// admitted and keep it.
		if took {
			return true, nil
		}
		return true, ErrClosed
	}
	// Re-check under mu: a release that saw our wake-up outstanding woke
	// nobody and just freed the lock, so it may be free again by now.
	if took || l.tryTake(w.h.id<<flagBits) {
		l.unlinkLocked(w)
		return true, nil
	}
	// Lost to a newcomer. Once we have waited long enough, stop the
	// barging: we are the head, so the next release hands the lock to us.
	if time.Since(w.since) >= starveAfter {
		l.setFlags(handoffBit, 0)
	}
	return false, nil
}

// cancelWait is a waiter leaving because its context ended.
func (l *lock) cancelWait(ctx context.Context, w *waiter) error {
	l.mu.Lock()
	select {
	case <-w.ready:
		// A token arrived while we were giving up; the caller sees its ctx
		// error and must hold nothing.
		switch {
		case w.closed:
			// Already unlinked by Close.
		case w.granted:
			l.releaseLocked() // the lock was handed to us: pass it on
		default:
			// Woken to compete: pass the wake-up on.
			l.woken = nil
			l.setFlags(0, wokenBit)
			l.unlinkLocked(w)
			l.wakeLocked()
		}
	default:
		l.unlinkLocked(w)
		l.wakeLocked()
	}
	l.cancelled++
	l.mu.Unlock()
	l.recycle(w)
	return ctx.Err()
}

func (l *lock) recycle(w *waiter) {
	*w = waiter{ready: w.ready}
	l.free.Put(w)
}

// releaseLocked releases the lock held by the caller: a hand-off to the
// oldest waiter in handoff mode, else free it and wake the oldest waiter to
// compete for it.
func (l *lock) releaseLocked() {
	if l.state.Load()&handoffBit != 0 && l.q.Front() != nil {
		w := l.q.Front()
		l.unlinkLocked(w)
		// The word goes from our id to w's without ever being free, so
		// nobody can take the lock in between. Nobody else changes a held
		// word whose flags are set, except under mu, which we hold.
		for {
			s := l.state.Load()
			ns := w.h.id<<flagBits | s&flagMask
			if l.q.Front() == nil || time.Since(w.since) < starveAfter {
				ns &^= handoffBit // back to normal (unlinkLocked cleared queued if empty)
			}
			if l.state.CompareAndSwap(s, ns) {
				break
			}
		}
		w.granted = true
		w.ready <- struct{}{}
		return
	}
	for {
		s := l.state.Load()
		if l.state.CompareAndSwap(s, s&flagMask) {
			break
		}
	}
	l.wakeLocked()
}

// wakeLocked wakes the oldest waiter to compete for the lock, if the lock
// is free and no wake-up is outstanding.
func (l *lock) wakeLocked() {
	if l.q.Front() != nil && l.woken == nil && l.state.Load()>>flagBits == 0 {
		l.woken = l.q.Front()
		l.setFlags(wokenBit, 0)
		l.q.Front().ready <- struct{}{}
	}
}

func (l *lock) pushLocked(w *waiter) { l.q.PushBack(w) }

// unlinkLocked removes w from the queue; when the queue empties it clears
// the queued and handoff bits, which re-enables the fast paths.
func (l *lock) unlinkLocked(w *waiter) {
	l.q.Remove(w)
	if l.q.Len() == 0 {
		l.setFlags(0, queuedBit|handoffBit|wokenBit)
	}
}

// close fails every waiter and every later acquire with ErrClosed. The
// holder, if any, keeps the lock until it releases.
func (l *lock) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setFlags(closedBit, 0)
	for w := l.q.Front(); w != nil; w = l.q.Front() {
		l.unlinkLocked(w)
		w.closed = true
		// The woken waiter already has a token (or has taken it and is on
		// its way to mu); it finds closed set when it answers.
		if w != l.woken {
			w.ready <- struct{}{}
		}
	}
	l.woken = nil
	l.setFlags(0, wokenBit)
}

// stats is a snapshot taken under mu.
func (l *lock) stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state.Load()
	return Stats{
		Held:      s>>flagBits != 0,
		Waiting:   l.q.Len(),
		Contended: l.contended,
		Cancelled: l.cancelled,
		Closed:    s&closedBit != 0,
	}
}
