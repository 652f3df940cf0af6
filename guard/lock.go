package guard

import (
	"context"
	"runtime/trace"
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
//	bits 5..63  gen: the generation of the current hold, or of the last
//	            one when the lock is free; every acquisition adds one
//	bit 4       held
//	bit 3       woken: a waiter has been woken and not answered yet
//	bit 2       closed
//	bit 1       handoff: a waiter is starving; releases hand the lock
//	            straight to the oldest waiter, and nobody barges
//	bit 0       queued: at least one waiter is queued
//
// Why: the uncontended Do is then one CAS to take the lock (gen, free ->
// gen+1, held) and one CAS to give it back, with no mutex, like
// sync.Mutex's fast path. The hold's identity is in the same word: the
// callback's context carries gen (see lockCtx), so a nested call can tell
// "my chain holds this lock now" from "someone holds this lock" with one
// load, and a context kept from an earlier hold, whose gen is older, is
// never taken for the current holder's. (gen is 59 bits: at a billion
// acquisitions a second it would take 18 years to wrap.)
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
// 1,300 ns per call in BenchmarkGuard/case=do-parallel (2 to 16
// goroutines, 16 cores), against 40 to 200 ns for sync.Mutex and 55 to 70
// ns for this one. Barging is bounded: a woken waiter that loses and has
// been queued for starveAfter or longer sets the handoff bit, and from
// then on each release hands the lock to the oldest waiter directly, and
// newcomers queue, until the queue is empty or the waiter handed the lock
// had not waited that long.
type lock struct {
	state atomic.Uint64
	// cache is the block for the last parent context seen, reused while
	// callers keep passing the same context (see mint).
	cache atomic.Pointer[ctxBlock]

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
	contended int64 // acquisitions that had to queue
	cancelled int64 // waiters whose context ended first
	// lost counts hand-offs to a waiter whose context ended as the lock
	// reached it: gen counted them as acquisitions, but the caller never
	// ran its callback, so Admitted leaves them out.
	lost int64

	hooks fifo.Hooks // OnWait's; loaded only by callers that queued
}

const (
	queuedBit  = 1 << 0
	handoffBit = 1 << 1
	closedBit  = 1 << 2
	wokenBit   = 1 << 3
	heldBit    = 1 << 4
	flagMask   = queuedBit | handoffBit | closedBit | wokenBit
	genShift   = 5
	genOne     = 1 << genShift
)

// starveAfter is how long a waiter may lose to newcomers before the lock
// switches to hand-off (sync.Mutex uses the same figure).
const starveAfter = time.Millisecond

// spin is how many times a caller re-checks a held lock before it queues.
// Queuing parks the goroutine, and waking it costs far more than a short
// critical section; a few re-checks usually find the lock free.
const spin = 64

type waiter struct {
	since int64         // when it queued: a fifo.Now reading
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

// mint returns the callback's context for the hold the caller has just
// taken with a call made with ctx: a cell of the cached block when ctx is
// the context it was made for (a request's calls, a loop's calls,
// context.Background()); else of a new block, which replaces the cached
// one.
func (l *lock) mint(ctx context.Context) *lockCtx {
	word := l.heldWord()
	if b := l.cache.Load(); b != nil && b.parent == ctx {
		if c := b.ctxFor(word); c != nil {
			return c
		}
		return b.newSlab(word >> genShift)
	}
	b := newBlock(ctx, l, word>>genShift)
	if safeToCompare(ctx) {
		// Only a block whose parent compares safely goes in the cache:
		// the comparisons with it then never panic (see safeToCompare).
		l.cache.Store(b)
	}
	return &b.first.cells[0]
}

// heldWord is the state word of the hold the caller has taken, flags
// aside: gen does not change while we hold the lock, as only an
// acquisition bumps it.
func (l *lock) heldWord() uint64 { return l.state.Load() &^ flagMask }

// acquire takes the lock for a call made with ctx. It returns the context
// to pass to the callback; or nil and no error when ctx shows the call is
// nested inside this lock's current hold (run the callback at once, with
// ctx, and do not release); or an error: ctx.Err() or ErrClosed.
//
// Do calls its halves itself, so that tryFast is inlined there.
func (l *lock) acquire(ctx context.Context) (*lockCtx, error) {
	if b := l.tryFast(ctx); b != nil {
		return l.fastCtx(b), nil
	}
	return l.acquireSlow(ctx, "sluice/guard: lock wait")
}

// tryFast is the uncontended case, small enough for the compiler to inline
// into Do: the lock free with no flags, the cached block made for this
// very context, and that context not done (its Done channel, cached in
// the block, is nil or open). It takes the lock and returns the block; the
// caller then takes the callback's context from it with ctxFor (outside,
// so that tryFast stays within the inlining budget). It returns nil when
// any of that does not hold: call acquireSlow then, which starts with the
// same steps done in full.
//
// The block stays the cached one while we hold the lock: only a holder
// replaces it, and one that did so between our loads and our CAS would
// have bumped gen, failing the CAS.
func (l *lock) tryFast(ctx context.Context) *ctxBlock {
	if s := l.state.Load(); s&(heldBit|flagMask) == 0 {
		// With held and every flag clear, the next hold's word is s plus
		// one gen plus the held bit.
		if b := l.cache.Load(); b != nil && b.parent == ctx && (b.done == nil || !closed(b.done)) &&
			l.state.CompareAndSwap(s, s+(genOne|heldBit)) {
			return b
		}
	}
	return nil
}

// fastCtx is the callback's context after tryFast took the lock and
// returned b.
func (l *lock) fastCtx(b *ctxBlock) *lockCtx {
	word := l.heldWord()
	if c := b.ctxFor(word); c != nil {
		return c
	}
	return b.newSlab(word >> genShift)
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// release gives the lock back; word is the hold's state word, flags
// aside (heldWord, or the word of the lockCtx acquire returned).
func (l *lock) release(word uint64) {
	if !l.state.CompareAndSwap(word, word&^heldBit) {
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
		if l.state.CompareAndSwap(s, s&^heldBit) {
			return
		}
	}
	l.mu.Lock()
	l.releaseLocked()
	l.mu.Unlock()
}

// holding reports whether c is the context of the current hold. A context
// from an earlier hold has an older gen and never is; nor is any once the
// lock is free (the held bit is part of c.word()).
func (l *lock) holding(c *lockCtx) bool {
	return l.state.Load()&^flagMask == c.word()
}

// tryTake takes the lock if it is free and no hand-off is under way.
// Barging past queued waiters is allowed here (see Fairness).
func (l *lock) tryTake() bool {
	s := l.state.Load()
	return s&(heldBit|handoffBit|closedBit) == 0 && l.state.CompareAndSwap(s, (s+genOne)|heldBit)
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

// acquireSlow is acquire past the fast path. region names the trace
// region around the wait, should the caller have to queue.
func (l *lock) acquireSlow(ctx context.Context, region string) (*lockCtx, error) {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return nil, ctx.Err()
		default:
		}
	}
	// A lock without a holder is not held by our chain: take it if we
	// can, before the nesting check walks up ctx's chain.
	if l.state.Load()&heldBit == 0 && l.tryTake() {
		return l.mint(ctx), nil
	}
	// A nested call finds its hold's gen in the word: run inline.
	if cur := lockCtxOf(ctx, l); cur != nil && l.holding(cur) {
		return nil, nil
	}
	for range spin {
		if l.tryTake() {
			return l.mint(ctx), nil
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
		if s&(heldBit|handoffBit) == 0 {
			if l.state.CompareAndSwap(s, (s+genOne)|heldBit) {
				l.mu.Unlock()
				return l.mint(ctx), nil
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
	w.since = fifo.Now()
	l.pushLocked(w)
	l.contended++
	l.mu.Unlock()
	return l.wait(ctx, done, w, region)
}

// wait is a queued caller waiting for the lock, until it holds it, its
// ctx ends, or the lock is closed. Once it holds the lock it reports its
// wait to the OnWait hooks.
func (l *lock) wait(ctx context.Context, done <-chan struct{}, w *waiter, region string) (*lockCtx, error) {
	if trace.IsEnabled() {
		defer trace.StartRegion(ctx, region).End()
	}
	since := w.since
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
			return l.admitted(ctx, since), nil
		}
		// A wake-up (compete for the lock that was just released) or
		// Close. Try once before taking mu: the point of waking only one
		// waiter is that it usually wins.
		took := l.tryTake()
		if settled, err := l.answer(w, took); settled {
			l.recycle(w)
			if err != nil {
				return nil, err
			}
			return l.admitted(ctx, since), nil
		}
	}
}

// admitted is the end of a wait that got the lock: mint the callback's
// context and report the wait (queued at since) to the OnWait hooks. A
// hook that panics releases the lock first.
func (l *lock) admitted(ctx context.Context, since int64) *lockCtx {
	c := l.mint(ctx)
	report(&l.hooks, since, func() { l.release(c.word()) })
	return c
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
	if took || l.tryTake() {
		l.unlinkLocked(w)
		return true, nil
	}
	// Lost to a newcomer. Once we have waited long enough, stop the
	// barging: we are the head, so the next release hands the lock to us.
	if fifo.Since(w.since) >= starveAfter {
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
			l.lost++
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
		// The word goes from our hold to w's (the next gen) without ever
		// being free, so nobody can take the lock in between. Nobody else
		// changes a held word whose flags are set, except under mu, which
		// we hold.
		for {
			s := l.state.Load()
			ns := s + genOne // still held; the flags stay
			if l.q.Front() == nil || fifo.Since(w.since) < starveAfter {
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
		if l.state.CompareAndSwap(s, s&^heldBit) {
			break
		}
	}
	l.wakeLocked()
}

// wakeLocked wakes the oldest waiter to compete for the lock, if the lock
// is free and no wake-up is outstanding.
func (l *lock) wakeLocked() {
	if l.q.Front() != nil && l.woken == nil && l.state.Load()&heldBit == 0 {
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
//
// Admitted costs nothing on the fast path: every acquisition adds one to
// gen, so gen, less the hand-offs lost to a cancelled waiter, is the
// number of calls let in.
func (l *lock) stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state.Load()
	var inUse int64
	if s&heldBit != 0 {
		inUse = 1
	}
	var oldest time.Duration
	if w := l.q.Front(); w != nil {
		oldest = fifo.Since(w.since)
	}
	return Stats{
		InUse:      inUse,
		Waiting:    int64(l.q.Len()),
		OldestWait: oldest,
		Admitted:   int64(s>>genShift) - l.lost,
		Contended:  l.contended,
		Cancelled:  l.cancelled,
		Closed:     s&closedBit != 0,
	}
}

// onWait adds an OnWait hook; method names the caller for its panic.
func (l *lock) onWait(method string, fn func(time.Duration)) (stop func()) {
	return addHook(&l.hooks, method, fn)
}
