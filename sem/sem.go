// Package sem provides a weighted semaphore with strict FIFO admission,
// owned permits and Close.
//
// Use it when many callers, on many code paths, share one capacity: one
// process-wide cap on in-flight requests, memory, or connections. Every
// path acquires from the same *Semaphore, so the cap holds across all of
// them, where a cap kept per path (a pool or a channel each) only bounds
// that path.
//
//	slots := sem.New(10)
//	if err := slots.Acquire(ctx, 1); err != nil {
//		return err // ctx ended, or the semaphore was closed
//	}
//	defer slots.Release(1)
//
// # Invariants
//
//   - InUse never exceeds Capacity.
//   - A waiter whose context ends returns ctx.Err(), holds nothing, and, if
//     its leaving lets the waiters behind it fit, they are admitted at once.
//   - [Semaphore.Close] fails every current waiter and every later
//     Acquire/Permit with [ErrClosed]. Holders keep what they hold and may
//     release it after Close.
//   - A [Permit] gives its permits back exactly once, however many times
//     and from however many goroutines it is released.
//
// # Fairness
//
// Strict FIFO: waiters are admitted in arrival order. A waiter that does
// not fit blocks every waiter behind it, so a large request (a writer
// taking everything) is never starved by a stream of small ones.
// [Semaphore.TryAcquire] never jumps the queue: it fails while anyone
// waits.
//
// # Figures and hooks
//
// [Semaphore.Stats] keeps running totals (Admitted, Cancelled, Rejected)
// and the oldest current waiter's wait (OldestWait), and
// [Semaphore.OnWait] adds a hook called with each admitted waiter's wait.
// They cost nothing on the uncontended paths: an admission is counted in
// the same CAS that takes the permits, and only a caller that has to wait
// reads the clock, the hook list, or starts a runtime/trace region
// ("sluice/sem: Acquire wait", "sluice/sem: Permit wait", while tracing is
// on).
//
// # Errors
//
// Acquire and Permit return ctx.Err() when ctx ends first, [ErrClosed]
// once the semaphore is closed, and an error wrapping [ErrTooLarge] for a
// request that could never fit. Bad input (a nil Context, a negative
// count, a size that is not positive, releasing more than is held) panics
// with a message that starts with "sem: ".
package sem

import (
	"context"
	"errors"
	"fmt"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// ErrClosed is returned by Acquire and Permit once the semaphore is closed.
var ErrClosed = errors.New("sem: semaphore closed")

// ErrTooLarge is returned (wrapped, with the figures) by Acquire and Permit
// when a request asks for more than the semaphore's size: it could never be
// admitted, so it fails at once instead of blocking forever.
var ErrTooLarge = errors.New("sem: request exceeds semaphore size")

// MaxSize is the largest size New accepts: 2^46-1, about 7e13 (permits
// share the semaphore's state word with a count of admissions).
const MaxSize = 1<<admitShift - 1

// The state word packs what the lock-free paths need into one atomic:
//
//	bit 63       closed
//	bit 62       queued: at least one waiter is in the FIFO
//	bits 46..61  admitted: the low 16 bits of the count of admissions
//	             made by CAS on this word (see below)
//	bits 0..45   permits in use
//
// Why: the fast paths (Acquire/TryAcquire/Release with nobody waiting) are a
// single CAS on this word, with no mutex. While queued is set, every path
// that changes the count takes mu instead, so the FIFO hand-off below sees a
// count that only it changes. queued is set and cleared under mu, by CAS,
// so a fast path that loaded the word before the change fails its CAS and
// retries on the slow path.
//
// The admitted field is how Stats.Admitted costs the fast path nothing:
// the CAS that takes the permits adds one to it as well (measured: a
// separate atomic add made an uncontended Acquire+Release half as slow
// again, 11 ns to 17 ns). A fast path
// never carries out of the field: one that finds it full goes the way of
// mu, where takeLocked clears it and adds 2^16 to admittedHigh; so every
// carry happens under mu, and Stats, which holds mu, counts each admission
// exactly once. Waiters admitted after queuing are counted apart, in
// waitAdmitted.
const (
	closedBit  = 1 << 63
	queuedBit  = 1 << 62
	admitShift = 46
	admitOne   = 1 << admitShift
	admitMask  = (queuedBit - 1) &^ countMask
	admitWrap  = admitMask>>admitShift + 1 // what a carry out of the field is worth
	countMask  = admitOne - 1
)

// The runtime/trace regions around waits that block.
const (
	regionAcquire = "sluice/sem: Acquire wait"
	regionPermit  = "sluice/sem: Permit wait"
)

// Semaphore is a weighted FIFO semaphore. Create it with [New]; the zero
// value is not usable.
type Semaphore struct {
	state atomic.Uint64
	size  int64

	mu sync.Mutex
	q  fifo.List[waiter, *waiter] // blocked acquirers, oldest first

	// free recycles waiters with their channel, so a contended Acquire does
	// not allocate. A waiter goes back only once nothing else can reach it:
	// it has been unlinked under mu and its token, if any, received.
	//
	// The pool is per semaphore, not per process, on purpose: a channel
	// made inside a testing/synctest bubble must not be used from another
	// bubble (the runtime panics), and a semaphore lives in one bubble.
	free sync.Pool

	// The totals (see Stats and the state word). admittedHigh and
	// cancelled are guarded by mu.
	admittedHigh int64 // admissions carried out of the state word
	cancelled    int64 // waits that returned ctx.Err()

	hooks fifo.Hooks // OnWait's

	// The totals added to outside mu, on a cache line of their own: the
	// lines above are read by every Acquire (state, size) and every
	// contended one (mu, the FIFO, free's fields), and an atomic add on
	// them would make those reads miss.
	_            [64]byte
	waitAdmitted atomic.Int64 // waiters admitted after queuing (added by the waiter)
	rejected     atomic.Int64 // TryAcquire calls that returned false
}

type waiter struct {
	n     int64
	ready chan struct{} // buffered(1): one token when admitted or closed
	// granted is set under mu when the waiter leaves the FIFO admitted (or
	// failed by Close); its token is sent after mu is released. closed says
	// which. Both are read by the waiter only after it has its token, or
	// under mu.
	granted bool
	closed  bool
	start   int64 // when it began to wait (fifo.Now): OldestWait and OnWait
	fifo.Node[waiter]
	wakeNext *waiter // the next waiter in a wakeList
}

func newWaiter() any { return &waiter{ready: make(chan struct{}, 1)} }

// New returns a semaphore with n permits. It panics if n is not positive
// or exceeds MaxSize.
//
// Inside a testing/synctest bubble, create the semaphore in the bubble that
// uses it: its waiters block on channels, and channels do not cross
// bubbles.
func New(n int64) *Semaphore {
	if n <= 0 {
		panic(fmt.Sprintf("sem: New(%d): size must be positive", n))
	}
	if n > MaxSize {
		panic(fmt.Sprintf("sem: New(%d): size exceeds MaxSize (%d)", n, int64(MaxSize)))
	}
	s := &Semaphore{size: n}
	s.free.New = newWaiter
	return s
}

// Size returns the number of permits the semaphore was created with.
func (s *Semaphore) Size() int64 { return s.size }

// fits reports whether n more permits fit beside those counted in st.
// Written as count <= size-n, not count+n <= size: n may be as large as
// math.MaxInt64, and the sum would overflow into the admitted, queued and
// closed bits.
func (s *Semaphore) fits(st uint64, n int64) bool {
	return int64(st&countMask) <= s.size-n
}

func (s *Semaphore) check(op string, n int64) {
	if n < 0 {
		panic(fmt.Sprintf("sem: %s(%d): negative count", op, n))
	}
}

// Acquire blocks until n permits are held by the caller, ctx ends, or the
// semaphore is closed. On success it returns nil; otherwise it holds
// nothing and returns ctx.Err(), [ErrClosed], or an error wrapping
// [ErrTooLarge] when n exceeds the size. A ctx that is already done fails
// even if permits are free. n == 0 succeeds at once, even while others
// wait, unless the semaphore is closed or ctx is done. It panics if n is negative or ctx is nil.
//
// Waiters are admitted in FIFO order; see the package doc.
func (s *Semaphore) Acquire(ctx context.Context, n int64) error {
	if ctx == nil {
		panic("sem: Acquire with nil Context")
	}
	s.check("Acquire", n)
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	if s.take(n) {
		return nil
	}
	return s.acquireSlow(done, ctx, n, regionAcquire)
}

// take is the fast path of Acquire, Permit and TryAcquire: if the
// semaphore is open, nobody waits, n fits and the state word's admitted
// field has room, it takes n permits and counts the admission in one CAS,
// and reports true.
func (s *Semaphore) take(n int64) bool {
	for {
		st := s.state.Load()
		if st&(closedBit|queuedBit) != 0 || st&admitMask == admitMask || !s.fits(st, n) {
			return false
		}
		if s.state.CompareAndSwap(st, st+uint64(n)+admitOne) {
			return true
		}
	}
}

// admitZero counts an admission of no permits, unless the semaphore is
// closed, and reports whether it did.
func (s *Semaphore) admitZero() bool {
	for {
		st := s.state.Load()
		if st&closedBit != 0 {
			return false
		}
		if st&admitMask == admitMask {
			s.mu.Lock()
			defer s.mu.Unlock()
			for {
				// Close sets its bit under mu, so it cannot change now.
				st := s.state.Load()
				if st&closedBit != 0 {
					return false
				}
				if s.takeLocked(st, 0) {
					return true
				}
			}
		}
		if s.state.CompareAndSwap(st, st+admitOne) {
			return true
		}
	}
}

// takeLocked adds n permits and one admission to the state word, by CAS
// from st, and reports whether the CAS succeeded. It carries a full
// admitted field into admittedHigh, which is why it needs mu.
func (s *Semaphore) takeLocked(st uint64, n int64) bool {
	next, carry := st+uint64(n)+admitOne, st&admitMask == admitMask
	if carry {
		next = st&^admitMask + uint64(n)
	}
	if !s.state.CompareAndSwap(st, next) {
		return false
	}
	if carry {
		s.admittedHigh += admitWrap
	}
	return true
}

// acquireSlow is Acquire and Permit once take has failed: n == 0 while
// others wait, closed, a request that can never fit, or a wait. region
// names the trace region of a wait that blocks.
func (s *Semaphore) acquireSlow(done <-chan struct{}, ctx context.Context, n int64, region string) error {
	if n == 0 {
		// Nothing to wait for, so nothing to queue behind.
		if !s.admitZero() {
			return ErrClosed
		}
		return nil
	}
	if s.state.Load()&closedBit != 0 {
		return ErrClosed
	}
	if n > s.size {
		return fmt.Errorf("%w: asked for %d of %d", ErrTooLarge, n, s.size)
	}

	// The clock is read here, before mu, not under it: this is the path
	// of a caller that (almost always) waits, and mu is what releasers
	// and other acquirers queue on.
	start := fifo.Now()
	s.mu.Lock()
	// Either take the permits now (queue empty, n fits) or mark the queue
	// non-empty, in one CAS against the current word, so no release can
	// slip between our decision and the queued bit.
	for {
		st := s.state.Load()
		if st&closedBit != 0 {
			s.mu.Unlock()
			return ErrClosed
		}
		if st&queuedBit == 0 && s.fits(st, n) {
			if s.takeLocked(st, n) {
				s.mu.Unlock()
				return nil
			}
			continue
		}
		if s.state.CompareAndSwap(st, st|queuedBit) {
			break
		}
	}
	w := s.free.Get().(*waiter)
	w.n, w.start = n, start
	s.pushLocked(w)
	s.mu.Unlock()

	if trace.IsEnabled() {
		defer trace.StartRegion(ctx, region).End()
	}
	if done == nil {
		<-w.ready
		return s.finish(w)
	}
	select {
	case <-w.ready:
		return s.finish(w)
	case <-done:
	}
	s.mu.Lock()
	s.cancelled++ // every way out from here returns ctx.Err()
	if w.granted {
		// Admitted (or failed by Close) while we were giving up; the token
		// is on its way, if not here already. The caller sees its ctx error
		// and must hold nothing, so give the permits back.
		s.mu.Unlock()
		<-w.ready
		if !w.closed {
			s.Release(n)
		}
		s.recycle(w)
		return ctx.Err()
	}
	wasHead := s.q.Front() == w
	s.removeLocked(w)
	var woken wakeList
	if wasHead {
		// The head may have been what blocked the waiters behind it.
		woken = s.grantLocked()
	}
	s.mu.Unlock()
	woken.wake()
	s.recycle(w)
	return ctx.Err()
}

// finish turns a received token into the result of Acquire: it counts an
// admission and calls the OnWait hooks, or returns ErrClosed.
func (s *Semaphore) finish(w *waiter) error {
	closed, start := w.closed, w.start
	s.recycle(w)
	if closed {
		return ErrClosed
	}
	s.waitAdmitted.Add(1)
	s.hooks.Call(start)
	return nil
}

func (s *Semaphore) recycle(w *waiter) {
	*w = waiter{ready: w.ready}
	s.free.Put(w)
}

func (s *Semaphore) pushLocked(w *waiter) { s.q.PushBack(w) }

func (s *Semaphore) removeLocked(w *waiter) {
	s.q.Remove(w)
	if s.q.Len() == 0 {
		s.clearQueuedLocked()
	}
}

// clearQueuedLocked clears the queued bit once the FIFO is empty, which
// re-enables the fast paths.
func (s *Semaphore) clearQueuedLocked() {
	for {
		st := s.state.Load()
		if st&queuedBit == 0 || s.state.CompareAndSwap(st, st&^queuedBit) {
			return
		}
	}
}

// grantLocked admits waiters from the head of the FIFO while they fit, and
// stops at the first that does not (strict FIFO). While the queued bit is
// set only holders of mu change the count, so a plain add is safe; it is
// still an atomic add because the fast paths read the word concurrently.
//
// It returns the admitted waiters, linked through next, for wake to send
// their tokens once mu is released. Why after: a token send takes the
// channel's lock and readies a goroutine; doing that inside mu made every
// acquirer and releaser queue on mu behind it (measured: runtime lock2 and
// Mutex.lockSlow were the top of the contended profile). The permits are
// already counted to the waiter and granted is set, so nothing can admit
// them twice, and a waiter that gives up in between waits for its token.
func (s *Semaphore) grantLocked() (woken wakeList) {
	for w := s.q.Front(); w != nil; w = s.q.Front() {
		st := s.state.Load()
		if !s.fits(st, w.n) {
			break
		}
		s.state.Add(uint64(w.n))
		s.removeLocked(w)
		w.granted = true
		woken.add(w)
	}
	return woken
}

// wakeList collects the waiters that grantLocked or Close took off the
// FIFO under mu, so that their tokens are sent once mu is released.
type wakeList struct{ head, tail *waiter }

func (l *wakeList) add(w *waiter) {
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.wakeNext = w
	}
	l.tail = w
}

// wake sends each waiter its token. It must be called without mu held.
func (l wakeList) wake() {
	for w := l.head; w != nil; {
		next := w.wakeNext
		w.wakeNext = nil
		w.ready <- struct{}{} // after this the waiter may be recycled
		w = next
	}
}

// TryAcquire takes n permits if they are free and nobody is waiting, and
// reports whether it did. It never blocks and never jumps the queue. It
// returns false once the semaphore is closed, and panics if n is negative.
// A false counts in Stats.Rejected.
func (s *Semaphore) TryAcquire(n int64) bool {
	s.check("TryAcquire", n)
	if s.take(n) {
		return true
	}
	return s.tryAcquireMore(n)
}

// tryAcquireMore is TryAcquire once take has failed: n == 0 while others
// wait, a full admitted field, or a refusal.
func (s *Semaphore) tryAcquireMore(n int64) bool {
	if n == 0 {
		if s.admitZero() {
			return true
		}
	} else if s.state.Load()&admitMask == admitMask {
		return s.tryAcquireCarry(n)
	}
	s.rejected.Add(1)
	return false
}

// tryAcquireCarry is TryAcquire when the state word's admitted field is
// full, once in 2^16 admissions: the carry needs mu.
func (s *Semaphore) tryAcquireCarry(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		st := s.state.Load()
		if st&(closedBit|queuedBit) != 0 || !s.fits(st, n) {
			s.rejected.Add(1)
			return false
		}
		if s.takeLocked(st, n) {
			return true
		}
	}
}

// Release gives back n permits and admits the waiters that now fit, in
// FIFO order. Releases after Close are accepted. It panics if n is negative
// or more than are held.
func (s *Semaphore) Release(n int64) {
	s.check("Release", n)
	if n == 0 {
		return
	}
	for {
		st := s.state.Load()
		if int64(st&countMask) < n {
			panic(fmt.Sprintf("sem: Release(%d) with only %d permits held", n, st&countMask))
		}
		if st&queuedBit != 0 {
			break
		}
		if s.state.CompareAndSwap(st, st-uint64(n)) {
			return
		}
	}
	s.mu.Lock()
	for {
		st := s.state.Load()
		if int64(st&countMask) < n {
			s.mu.Unlock()
			panic(fmt.Sprintf("sem: Release(%d) with only %d permits held", n, st&countMask))
		}
		if s.state.CompareAndSwap(st, st-uint64(n)) {
			break
		}
	}
	woken := s.grantLocked()
	s.mu.Unlock()
	woken.wake()
}

// Close fails every current waiter and every later Acquire and Permit
// with [ErrClosed]; TryAcquire returns false from now on. Permits already
// held stay held until released. Close is idempotent.
func (s *Semaphore) Close() {
	s.mu.Lock()
	for {
		st := s.state.Load()
		if s.state.CompareAndSwap(st, st|closedBit) {
			break
		}
	}
	var woken wakeList
	for w := s.q.Front(); w != nil; w = s.q.Front() {
		s.removeLocked(w)
		w.granted, w.closed = true, true
		woken.add(w)
	}
	s.mu.Unlock()
	woken.wake()
}

// HasWaiters reports whether any caller is queued waiting for permits. It
// is one atomic load, for holders that could keep their permits for more
// work and should give them back when others wait (as pool's workers do on
// a shared semaphore).
func (s *Semaphore) HasWaiters() bool { return s.state.Load()&queuedBit != 0 }

// Stats is a snapshot of a semaphore's state, in the vocabulary every
// sluice package uses (see the README's Conventions). The totals count
// since New and never go down.
type Stats struct {
	Capacity int64 // permits in all
	InUse    int64 // permits held now
	Waiting  int64 // callers blocked in Acquire or Permit

	// Admitted counts the calls that got their permits: Acquire returning
	// nil, Permit returning a *Permit, TryAcquire returning true (TryPermit
	// a *Permit), at once or after a wait; n == 0 included.
	Admitted int64
	// Cancelled counts the Acquire and Permit calls that waited in the
	// FIFO and returned ctx.Err() because ctx ended first (including one
	// admitted at the moment its ctx ended, which gives its permits back).
	// A ctx already done on entry is not a wait and is not counted.
	Cancelled int64
	// Rejected counts the TryAcquire (and TryPermit) calls that returned
	// false: no room, someone waiting, or closed.
	Rejected int64
	// OldestWait is how long the longest current waiter (the FIFO's head)
	// has waited, measured from when it entered Acquire's slow path; 0
	// when nobody waits.
	OldestWait time.Duration

	Closed bool // Close has been called
}

// Stats returns a snapshot. Its fields are read together under the lock,
// so they are consistent with each other, with one exception: a waiter
// being admitted at that moment may hold its permits (InUse) a moment
// before it counts in Admitted, which it does on its own goroutine. Calls
// that fail otherwise (ErrClosed, ErrTooLarge, a ctx already done, a
// waiter failed by Close) count in no total.
//
// Stats takes the lock and, while someone waits, reads the clock.
func (s *Semaphore) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state.Load()
	var oldest time.Duration
	if w := s.q.Front(); w != nil {
		oldest = fifo.Since(w.start)
	}
	return Stats{
		Capacity:   s.size,
		InUse:      int64(st & countMask),
		Waiting:    int64(s.q.Len()),
		Admitted:   s.admittedHigh + int64(st&admitMask>>admitShift) + s.waitAdmitted.Load(),
		Cancelled:  s.cancelled,
		Rejected:   s.rejected.Load(),
		OldestWait: oldest,
		Closed:     st&closedBit != 0,
	}
}

// OnWait adds fn to the functions called with each waiter's wait, and
// returns a function that removes it again (idempotent).
//
// fn is called for every Acquire or Permit that had to queue and was then
// admitted, never for one admitted at once, one cancelled, or one failed
// by Close. It runs on the admitted caller's goroutine, after the permits
// are held and before Acquire returns, with the time since the caller
// entered the slow path. It must be quick (it delays that caller) and must
// not panic (Acquire would panic with the permits held). Several hooks may
// be added; they run in the order added.
//
// OnWait and stop are safe to call at any time, from any goroutine,
// concurrently with waits; a wait admitted as stop runs may still call fn
// once. The hooks cost the uncontended paths nothing: only a caller that
// waited loads the list. It panics if fn is nil.
func (s *Semaphore) OnWait(fn func(wait time.Duration)) (stop func()) {
	if fn == nil {
		panic("sem: OnWait with nil func")
	}
	return s.hooks.Add(fn)
}

// Permit is an owned hold on n permits, returned by [Semaphore.Permit].
// Its Release is idempotent and safe to call from several goroutines at
// once, so a deadline path and a completion path can both call it: exactly
// one call gives the permits back.
type Permit struct {
	s        *Semaphore
	n        int64
	released atomic.Bool
}

// Permit acquires n permits like [Semaphore.Acquire] and returns them as
// an owned *Permit.
func (s *Semaphore) Permit(ctx context.Context, n int64) (*Permit, error) {
	if ctx == nil {
		panic("sem: Permit with nil Context")
	}
	s.check("Permit", n)
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return nil, ctx.Err()
		default:
		}
	}
	if !s.take(n) {
		if err := s.acquireSlow(done, ctx, n, regionPermit); err != nil {
			return nil, err
		}
	}
	return &Permit{s: s, n: n}, nil
}

// TryPermit is the owned-permit form of [Semaphore.TryAcquire]: it returns
// nil when the permits are not free at once.
func (s *Semaphore) TryPermit(n int64) *Permit {
	s.check("TryPermit", n)
	if !s.TryAcquire(n) {
		return nil
	}
	return &Permit{s: s, n: n}
}

// N returns the number of permits the Permit holds (or held). It panics
// if p is nil.
func (p *Permit) N() int64 {
	if p == nil {
		panic("sem: N of a nil *Permit (TryPermit returns nil when it fails)")
	}
	return p.n
}

// Release gives the permits back. Only the first call does so and returns
// true; every later or concurrent call returns false. It panics if p is
// nil.
func (p *Permit) Release() bool {
	if p == nil {
		panic("sem: Release of a nil *Permit (TryPermit returns nil when it fails)")
	}
	if !p.released.CompareAndSwap(false, true) {
		return false
	}
	p.s.Release(p.n)
	return true
}

// Released reports whether Release has been called. It panics if p is
// nil.
func (p *Permit) Released() bool {
	if p == nil {
		panic("sem: Released of a nil *Permit (TryPermit returns nil when it fails)")
	}
	return p.released.Load()
}
