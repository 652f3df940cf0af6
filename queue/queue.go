// Package queue provides a bounded FIFO queue whose capacity is held by
// permits that travel with the items.
//
// Use it between producers and a consumer that processes items after
// taking them off the queue (a dispatcher that hands each request to a
// handler, a loop that runs each message). The room an item takes is given
// back when the consumer says the item is finished ([Item.Done]), not when
// it is dequeued, so the capacity bounds everything accepted and not yet
// finished: queued plus in process. The permit is the only backpressure:
// there is no second bound (a channel's buffer beside a semaphore) that
// could disagree with it.
//
// A producer first reserves room ([Queue.Reserve], waiting if need be),
// then sends ([Reservation.Send]); a send after a successful reservation
// never fails for lack of room. [Queue.Put] does both.
//
//	q := queue.New[Job](64)
//	// producer
//	if err := q.Put(ctx, job); err != nil {
//		return err // ctx ended, or the queue was closed
//	}
//	// consumer
//	it, err := q.Recv(ctx)
//	if err != nil {
//		return err
//	}
//	handle(it.Value)
//	it.Done() // only now is the room given back
//
// # Invariants
//
//   - reserved + queued + in process never exceeds the capacity: each of
//     them holds one permit of a [sem.Semaphore] of that size.
//   - Items are delivered in the order their sends completed (FIFO).
//   - A producer whose ctx ends while it waits holds nothing and does not
//     block the producers behind it.
//   - [Queue.Close] fails every waiting producer and every later
//     reservation or send with [ErrClosed]. What was queued before Close
//     is still delivered: [Queue.Recv] returns it, then [ErrClosed] once
//     the queue is empty.
//
// # Fairness
//
// Producers waiting for room are admitted in arrival order (FIFO), and a
// waiting [Queue.Put] queues its item before the next waiting producer is
// admitted, so the items of waiting Puts are delivered in the order their
// producers arrived, however fast room frees up. [Queue.TryReserve] and
// [Queue.TryPut] never jump that line: they fail while anyone waits.
// Several consumers may wait in Recv at once; each item goes to exactly
// one of them, with no promise about which.
//
// # Figures and hooks
//
// [Queue.Stats] keeps running totals of producers (Admitted, Cancelled,
// Rejected) and the oldest waiting producer's wait (OldestWait), and
// [Queue.OnWait] adds a hook called with each admitted producer's wait.
// Only a producer that has to wait reads the clock or the hook list, and,
// while runtime/trace is on, runs in a region ("sluice/queue: Reserve
// wait", "sluice/queue: Put wait"); so does a Recv that blocks
// ("sluice/queue: Recv wait"). A consumer's wait in Recv is idle time,
// not contention: it counts in no figure.
//
// # Errors
//
// Waiting calls return ctx.Err() when ctx ends first and [ErrClosed] once
// the queue is closed; the Try forms return [ErrFull] when there is no
// room now. Bad input (a nil Context, a capacity that is not positive, a
// Send on a zero or already used Reservation) panics with a message that
// starts with "queue: ".
package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/sem"
)

// ErrClosed is returned by Reserve, Put and Send once the queue is closed,
// and by Recv once the queue is closed and everything queued before Close
// has been received.
var ErrClosed = errors.New("queue: closed")

// ErrFull is returned by TryReserve and TryPut when no room is free now,
// or when other producers are already waiting for room (they go first).
var ErrFull = errors.New("queue: full")

// Queue is a bounded FIFO queue of T whose capacity is held by permits.
// Create it with [New]; the zero value is not usable. All methods are safe
// for concurrent use; any number of producers and consumers may share it.
type Queue[T any] struct {
	// permits hold the capacity. Producers that cannot take one at once
	// wait in line (below), and only the head of the line waits in
	// permits: so the head can queue its item before the next producer
	// is admitted, which one semaphore wait per producer cannot promise
	// (two producers admitted back to back race to their sends).
	permits *sem.Semaphore
	// ch stores the queued slots; it is storage, not a second
	// backpressure mechanism: its buffer equals the capacity and every
	// slot in it holds one permit, so a send on it never blocks.
	ch chan *slot[T]

	// mu orders sends against Close: a send holds it for reading while it
	// checks closed and writes to ch, Close holds it for writing while it
	// closes ch. So no send ever hits a closed channel, and nothing is
	// queued after Recv has seen the end.
	mu     sync.RWMutex
	closed atomic.Bool

	// inUse counts items received and not yet Done. Reserved rooms
	// are not counted separately (that would cost two more atomic adds
	// per item): Stats derives them from the permits in use.
	inUse atomic.Int64

	// free recycles slots, so a round trip does not allocate. It is per
	// queue so that nothing crosses testing/synctest bubbles.
	free sync.Pool

	// The line of producers waiting for room, oldest first. lineLen
	// mirrors line.Len() for the lock-free fast paths: while it is not
	// zero, nobody takes a permit without going through the line.
	// waiting counts the producers in line not yet admitted (Stats).
	lineMu  sync.Mutex
	line    fifo.List[waiter, *waiter]
	lineLen atomic.Int64
	waiting atomic.Int64
	closing chan struct{} // closed by Close: wakes the whole line
	waiters sync.Pool     // *waiter, per queue for the same reason as free

	// The totals of Stats that the permits do not keep (Admitted is the
	// permits' own: every admission is one permit taken).
	cancelled atomic.Int64 // producers that waited and returned ctx.Err()
	rejected  atomic.Int64 // TryReserve and TryPut refusals
	hooks     fifo.Hooks   // OnWait's
}

// A waiter is a producer in line. Its token says it is now the head.
type waiter struct {
	fifo.Node[waiter]
	ready    chan struct{} // buffered(1): sent under lineMu when made head
	head     bool          // set under lineMu
	start    int64         // when it joined the line (fifo.Now): OldestWait and OnWait
	admitted atomic.Bool   // it holds its permit (it stays in line until leave)
}

// The runtime/trace regions around waits that block.
const (
	regionReserve = "sluice/queue: Reserve wait"
	regionPut     = "sluice/queue: Put wait"
	regionRecv    = "sluice/queue: Recv wait"
)

// A slot carries one item through the queue. Its generation says who owns
// it, so that stale copies of a Reservation or Item (whose slot has since
// been recycled) do nothing:
//
//	gen even, = r.gen    reserved: the Reservation with that gen owns it
//	gen odd              sent: queued, or received and in process; the
//	                     Item with that gen owns the permit
//	gen even, > r.gen    finished (Done or Cancel) and back in the pool
//
// Every transition is a CAS from the owner's gen, so each one happens at
// most once; the generation only grows, so a recycled slot never matches an
// old copy.
type slot[T any] struct {
	gen atomic.Uint64
	v   T
}

// New returns a queue that holds at most capacity items, queued and in
// process together. It panics if capacity is not positive. The queue keeps
// a buffer of capacity pointers.
func New[T any](capacity int) *Queue[T] {
	if capacity <= 0 {
		panic(fmt.Sprintf("queue: New(%d): capacity must be positive", capacity))
	}
	q := &Queue[T]{
		permits: sem.New(int64(capacity)),
		ch:      make(chan *slot[T], capacity),
		closing: make(chan struct{}),
	}
	q.free.New = func() any { return new(slot[T]) }
	q.waiters.New = func() any { return &waiter{ready: make(chan struct{}, 1)} }
	return q
}

// Cap returns the capacity.
func (q *Queue[T]) Cap() int { return cap(q.ch) }

// Reservation is room for one item, held until it is sent or cancelled.
// It is a small value; copies refer to the same room, and only the first
// Send or Cancel across all copies takes effect.
type Reservation[T any] struct {
	q   *Queue[T]
	s   *slot[T]
	gen uint64
}

// Reserve waits until there is room for one item and returns it as a
// [Reservation], which the caller must either Send or Cancel. Producers
// wait in FIFO order. It returns ctx.Err() if ctx ends first (a ctx that is
// already done fails at once) and [ErrClosed] if the queue is or becomes
// closed; then it holds nothing. It panics if ctx is nil.
func (q *Queue[T]) Reserve(ctx context.Context) (Reservation[T], error) {
	if ctx == nil {
		panic("queue: Reserve with nil Context")
	}
	w, err := q.admit(ctx, regionReserve)
	if err != nil {
		return Reservation[T]{}, err
	}
	r := q.reserved1()
	if w != nil {
		q.leaveAdmitted(w, true)
	}
	return r, nil
}

// admit takes one permit, waiting in line for it if need be. On success,
// if it waited, it returns the caller's place at the head of the line,
// which the caller must give up with leave once it has done what must
// happen before the next producer is admitted; on failure it holds
// nothing and has left the line. region names the trace region of a wait.
func (q *Queue[T]) admit(ctx context.Context, region string) (*waiter, error) {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return nil, ctx.Err()
		default:
		}
	}
	if q.lineLen.Load() == 0 && q.permits.TryAcquire(1) {
		return nil, nil
	}
	return q.admitSlow(ctx, done, region)
}

// admitSlow is admit for a producer that joins the line. Apart from admit,
// so that the fast path carries no defer and reads no clock.
func (q *Queue[T]) admitSlow(ctx context.Context, done <-chan struct{}, region string) (*waiter, error) {
	if trace.IsEnabled() {
		defer trace.StartRegion(ctx, region).End()
	}
	start := fifo.Now()
	q.lineMu.Lock()
	if q.closed.Load() {
		q.lineMu.Unlock()
		return nil, ErrClosed
	}
	w := q.waiters.Get().(*waiter)
	w.start = start
	q.line.PushBack(w)
	q.lineLen.Add(1)
	q.waiting.Add(1)
	head := q.line.Front() == w
	w.head = head
	q.lineMu.Unlock()
	if !head {
		select {
		case <-w.ready:
		case <-done:
			q.waiting.Add(-1)
			q.cancelled.Add(1)
			q.leave(w)
			return nil, ctx.Err()
		case <-q.closing:
			q.waiting.Add(-1)
			q.leave(w)
			return nil, ErrClosed
		}
	}
	// Only the head waits here, so the semaphore's FIFO holds one
	// producer of this queue at most; a head whose ctx ends or whom Close
	// fails hands the line on in leave, so nobody behind it is stuck.
	err := q.permits.Acquire(ctx, 1)
	if err == nil {
		w.admitted.Store(true) // before waiting drops: OldestWait skips w from now
	}
	q.waiting.Add(-1)
	if err != nil {
		q.leave(w)
		if errors.Is(err, sem.ErrClosed) {
			err = ErrClosed
		} else {
			q.cancelled.Add(1)
		}
		return nil, err
	}
	return w, nil
}

// leaveAdmitted is leave for a producer that waited in line and was
// admitted: ok says its call succeeds, which calls the OnWait hooks with
// its wait, after it has left the line (so the hooks do not hold up the
// next producer).
func (q *Queue[T]) leaveAdmitted(w *waiter, ok bool) {
	start := w.start
	q.leave(w)
	if ok {
		q.hooks.Call(start)
	}
}

// leave takes w (nil: the caller never queued) out of the line and, if it
// was the head, makes the next waiter the head.
func (q *Queue[T]) leave(w *waiter) {
	if w == nil {
		return
	}
	q.lineMu.Lock()
	if w.head {
		select {
		case <-w.ready: // the token of a head that left without taking it
		default:
		}
	}
	wasHead := q.line.Front() == w
	q.line.Remove(w)
	q.lineLen.Add(-1)
	if next := q.line.Front(); wasHead && next != nil {
		next.head = true
		next.ready <- struct{}{} // never blocks: one token per waiter
	}
	w.head = false
	w.start = 0
	w.admitted.Store(false)
	q.lineMu.Unlock()
	q.waiters.Put(w)
}

// TryReserve reserves room for one item if it is free now and nobody is
// waiting for room; otherwise it returns [ErrFull], or [ErrClosed] once the
// queue is closed (both count in Stats.Rejected). It never blocks.
func (q *Queue[T]) TryReserve() (Reservation[T], error) {
	if q.lineLen.Load() != 0 || !q.permits.TryAcquire(1) {
		q.rejected.Add(1)
		if q.closed.Load() {
			return Reservation[T]{}, ErrClosed
		}
		return Reservation[T]{}, ErrFull
	}
	return q.reserved1(), nil
}

// reserved1 turns a permit just acquired into a Reservation.
func (q *Queue[T]) reserved1() Reservation[T] {
	s := q.free.Get().(*slot[T])
	return Reservation[T]{q: q, s: s, gen: s.gen.Load()}
}

// Send queues v in the reserved room. It never fails for lack of room. It
// returns [ErrClosed] if the queue was closed since the reservation; the
// room is then given back and v is dropped. It panics on a zero
// Reservation or one already sent or cancelled.
func (r Reservation[T]) Send(v T) error {
	if r.s == nil {
		panic("queue: Send on a zero Reservation")
	}
	// The CAS makes the slot ours alone: no copy of this Reservation can
	// Send or Cancel it again, and no Item refers to this generation until
	// a consumer receives the slot. So writing v needs no lock; the channel
	// send publishes it to the consumer.
	if !r.s.gen.CompareAndSwap(r.gen, r.gen+1) {
		panic("queue: Send on a Reservation already sent or cancelled")
	}
	q := r.q
	r.s.v = v
	q.mu.RLock()
	if q.closed.Load() {
		q.mu.RUnlock()
		var zero T
		r.s.v = zero
		r.s.gen.Store(r.gen + 2)
		q.free.Put(r.s)
		q.permits.Release(1)
		return ErrClosed
	}
	q.ch <- r.s // never blocks: len(ch) < permits in use <= cap(ch)
	q.mu.RUnlock()
	return nil
}

// Cancel gives the reserved room back without sending. It reports whether
// it did: only the first Send or Cancel of a Reservation takes effect, and
// Cancel on a zero Reservation returns false. Calling it after Send is a
// harmless no-op, so `defer r.Cancel()` is a fine way to never leak room.
func (r Reservation[T]) Cancel() bool {
	if r.s == nil || !r.s.gen.CompareAndSwap(r.gen, r.gen+2) {
		return false
	}
	q := r.q
	q.free.Put(r.s)
	q.permits.Release(1)
	return true
}

// Put reserves room for v, waiting like [Queue.Reserve], and sends it.
// A Put that waited queues v before the producer behind it is admitted,
// so waiting Puts are delivered in arrival order (see the package doc).
// It panics if ctx is nil.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	if ctx == nil {
		panic("queue: Put with nil Context")
	}
	w, err := q.admit(ctx, regionPut)
	if err != nil {
		return err
	}
	err = q.reserved1().Send(v)
	if w != nil {
		q.leaveAdmitted(w, err == nil) // only now: the next producer's item goes behind v
	}
	return err
}

// TryPut queues v if room is free now, like [Queue.TryReserve]; it
// returns [ErrFull] or [ErrClosed] otherwise. It never blocks.
func (q *Queue[T]) TryPut(v T) error {
	r, err := q.TryReserve()
	if err != nil {
		return err
	}
	return r.Send(v)
}

// Item is one received item. It holds its room in the queue until Done is
// called; call Done exactly when the item is finished (processed, or
// handed off and forgotten), or the room is never given back. An Item is a
// small value; copies share the one permit.
type Item[T any] struct {
	Value T

	q   *Queue[T]
	s   *slot[T]
	gen uint64
}

// Done gives the item's room back. It reports whether it did: only the
// first Done of an item (across its copies) does; later calls return
// false. Done on a zero Item returns false. It may be called after Close.
func (it Item[T]) Done() bool {
	if it.s == nil || !it.s.gen.CompareAndSwap(it.gen, it.gen+1) {
		return false
	}
	q := it.q
	q.inUse.Add(-1)
	q.free.Put(it.s)
	q.permits.Release(1)
	return true
}

// Recv waits for the oldest queued item and returns it. The item keeps its
// room until [Item.Done]. Recv returns ctx.Err() if ctx ends first (a ctx
// that is already done fails at once), and [ErrClosed] once the queue is
// closed and every item queued before Close has been received. Several
// consumers may call Recv at once; each item goes to one of them. It
// panics if ctx is nil.
func (q *Queue[T]) Recv(ctx context.Context) (Item[T], error) {
	if ctx == nil {
		panic("queue: Recv with nil Context")
	}
	if trace.IsEnabled() {
		return q.recvTraced(ctx)
	}
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return Item[T]{}, ctx.Err()
		default:
		}
		select {
		case s, ok := <-q.ch:
			return q.received(s, ok)
		case <-done:
			return Item[T]{}, ctx.Err()
		}
	}
	s, ok := <-q.ch
	return q.received(s, ok)
}

// recvTraced is Recv while runtime/trace is on: it tries for an item
// first, and blocks (if it must) inside a trace region. Apart from Recv,
// whose path with tracing off is the same as before there were regions:
// trying first costs a receive attempt that a plain receive does not.
func (q *Queue[T]) recvTraced(ctx context.Context) (Item[T], error) {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return Item[T]{}, ctx.Err()
		default:
		}
	}
	select {
	case s, ok := <-q.ch:
		return q.received(s, ok)
	default:
	}
	defer trace.StartRegion(ctx, regionRecv).End()
	if done == nil {
		s, ok := <-q.ch
		return q.received(s, ok)
	}
	select {
	case s, ok := <-q.ch:
		return q.received(s, ok)
	case <-done:
		return Item[T]{}, ctx.Err()
	}
}

// TryRecv returns the oldest queued item if there is one now. Otherwise
// it returns ok == false and err == nil, or [ErrClosed] once the queue is
// closed and drained. It never blocks.
func (q *Queue[T]) TryRecv() (it Item[T], ok bool, err error) {
	select {
	case s, open := <-q.ch:
		it, err = q.received(s, open)
		return it, err == nil, err
	default:
		return Item[T]{}, false, nil
	}
}

func (q *Queue[T]) received(s *slot[T], ok bool) (Item[T], error) {
	if !ok {
		return Item[T]{}, ErrClosed
	}
	q.inUse.Add(1)
	// The slot stays ours (odd gen) until Done; take the value out now so
	// the recycled slot does not keep it alive.
	it := Item[T]{Value: s.v, q: q, s: s, gen: s.gen.Load()}
	var zero T
	s.v = zero
	return it, nil
}

// Close closes the queue: every producer waiting in Reserve or Put fails
// at once with [ErrClosed], as do later reservations and sends, including
// sends on reservations made before Close (their room is given back).
// Items already queued stay queued: consumers receive them, then
// [ErrClosed]. Items not yet Done keep their room until they are; Done
// works after Close. Close is idempotent.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed.Load() {
		return
	}
	q.closed.Store(true)
	close(q.ch)
	close(q.closing)
	q.permits.Close()
}

// Stats is a snapshot of a queue, in the vocabulary every sluice package
// uses (see the README's Conventions). The totals count producers since
// New and never go down.
type Stats struct {
	Capacity int64 // items the queue holds at most: reserved, queued and in use together
	Reserved int64 // reservations not yet sent or cancelled
	Queued   int64 // sent, not yet received
	InUse    int64 // received, not yet Done
	Waiting  int64 // producers blocked in Reserve or Put

	// Admitted counts the producers given room: Reserve, Put, TryReserve
	// and TryPut calls that took a permit, at once or after a wait. (A Put
	// or TryPut admitted whose send then found the queue closed counts
	// here too, and returns ErrClosed.)
	Admitted int64
	// Cancelled counts the Reserve and Put calls that waited and returned
	// ctx.Err() because ctx ended first. A ctx already done on entry is not
	// a wait and is not counted; nor is a Recv.
	Cancelled int64
	// Rejected counts the TryReserve and TryPut calls refused at once:
	// ErrFull, or ErrClosed.
	Rejected int64
	// OldestWait is how long the longest-waiting producer still waiting
	// for room has waited, measured from when it joined the line; 0 when
	// none waits.
	OldestWait time.Duration

	Closed bool // Close has been called
}

// Stats returns a snapshot. Each field is exact when read, but they are
// read one after another, so while producers and consumers are active the
// sum Reserved+Queued+InUse may be off by the items moving between
// states at that moment. When nothing moves it is exact, and it never
// exceeds Capacity in the queue itself. Calls that fail otherwise
// (ErrClosed from a waiting call, a ctx already done) count in no total.
// While producers wait, Stats takes the line's lock and reads the clock.
func (q *Queue[T]) Stats() Stats {
	closed := q.closed.Load()
	ss := q.permits.Stats()
	queued := int64(len(q.ch))
	inUse := q.inUse.Load()
	return Stats{
		Capacity:   int64(cap(q.ch)),
		Reserved:   max(0, ss.InUse-queued-inUse),
		Queued:     queued,
		InUse:      inUse,
		Waiting:    q.waiting.Load(),
		Admitted:   ss.Admitted,
		Cancelled:  q.cancelled.Load(),
		Rejected:   q.rejected.Load(),
		OldestWait: q.oldestWait(),
		Closed:     closed,
	}
}

// oldestWait returns how long the oldest producer in line not yet
// admitted has waited. The line is FIFO, and only its head can hold a
// permit (it stays in line until it has sent), so that producer is the
// head or the one behind it: O(1).
func (q *Queue[T]) oldestWait() time.Duration {
	if q.lineLen.Load() == 0 {
		return 0
	}
	q.lineMu.Lock()
	defer q.lineMu.Unlock()
	w := q.line.Front()
	if w != nil && w.admitted.Load() {
		w = w.Next()
	}
	if w == nil {
		return 0
	}
	return fifo.Since(w.start)
}

// OnWait adds fn to the functions called with each waiting producer's
// wait, and returns a function that removes it again (idempotent).
//
// fn is called for every Reserve or Put that had to wait in line and then
// succeeded; never for one admitted at once, a Try form, a Recv, or a call
// that returned an error. It runs on the producer's goroutine, after the
// room is reserved (for Put: after the item is queued) and the next
// producer in line has been let go, before the call returns, with the time
// since the producer joined the line. It must be quick (it delays that
// producer) and must not panic (Reserve would panic with the room
// reserved). Several hooks may be added; they run in the order added.
//
// OnWait and stop are safe to call at any time, from any goroutine,
// concurrently with use; a call admitted as stop runs may still call fn
// once. Only producers that wait load the hook list. It panics if fn is
// nil.
func (q *Queue[T]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if fn == nil {
		panic("queue: OnWait with nil func")
	}
	return q.hooks.Add(fn)
}
