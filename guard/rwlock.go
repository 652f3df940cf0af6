package guard

import (
	"context"
	"runtime/trace"
	"sync"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// rwLock is the ctx-aware FIFO readers-writer lock under [RW]. It is a
// plain mutex-protected state machine, with no lock-free fast path: RW is
// for values read far more often than written, where the callback (not the
// lock) dominates, and simple is easier to prove.
//
// Admission is strict FIFO over one queue of readers and writers: the head
// of the queue is admitted as soon as it fits (a reader fits when no
// writer holds; a writer fits when nobody holds), and then the next, so a
// run of readers at the head is admitted together. Nobody is admitted
// ahead of an older waiter, so a waiting writer blocks every later reader
// and is never starved by a stream of them.
type rwLock struct {
	mu      sync.Mutex
	readers int64                          // read holds now
	writer  *rwHold                        // the write hold now, or nil
	q       fifo.List[rwWaiter, *rwWaiter] // queued callers, oldest first
	// The same waiters by lane, oldest first, so that each lane's oldest
	// wait is its list's head: O(1).
	readQ, writeQ fifo.List[laneLink, *laneLink]
	closed        bool

	// Totals by lane, under mu.
	readAdmitted, writeAdmitted   int64
	readCancelled, writeCancelled int64

	hooks fifo.Hooks // OnWait's; loaded only by callers that queued
}

type rwWaiter struct {
	h      *rwHold
	ready  chan struct{} // buffered(1): one token when admitted or closed
	closed bool
	lane   laneLink // its place in readQ or writeQ
	fifo.Node[rwWaiter]
}

// laneLink is a waiter's place in its lane's list.
type laneLink struct {
	since int64 // when the waiter queued: a fifo.Now reading
	fifo.Node[laneLink]
}

// acquire admits a Read (write == false) or Write call made with ctx. It
// returns the hold for the callback, or inline == true for a call nested
// in a hold of this lock (run at once with ctx, do not release), or an
// error: ctx.Err(), ErrClosed, or ErrUpgrade for a Write nested in a Read.
func (l *rwLock) acquire(ctx context.Context, write bool) (h *rwHold, inline bool, err error) {
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return nil, false, ctx.Err()
		default:
		}
	}
	cur := rwHoldOf(ctx, l)

	l.mu.Lock()
	if cur != nil && cur.active {
		l.mu.Unlock()
		// Nested. A Read inside either hold, or a Write inside a Write,
		// runs inline; a Write inside a Read would need to upgrade.
		if write && !cur.write {
			return nil, false, ErrUpgrade
		}
		return nil, true, nil
	}
	if l.closed {
		l.mu.Unlock()
		return nil, false, ErrClosed
	}
	h = newRWHold(ctx, l, write)
	if l.q.Front() == nil && l.fitsLocked(write) {
		l.admitLocked(h)
		l.mu.Unlock()
		return h, false, nil
	}
	w := &rwWaiter{h: h, ready: make(chan struct{}, 1)}
	w.lane.since = fifo.Now()
	l.pushLocked(w)
	l.mu.Unlock()
	if err := l.wait(ctx, w); err != nil {
		return nil, false, err
	}
	return h, false, nil
}

// wait is a queued caller waiting until it is admitted (nil), its ctx
// ends (ctx.Err()) or the lock is closed (ErrClosed). Once admitted it
// reports its wait to the OnWait hooks.
func (l *rwLock) wait(ctx context.Context, w *rwWaiter) error {
	if trace.IsEnabled() {
		region := "sluice/guard: RW.Read wait"
		if w.h.write {
			region = "sluice/guard: RW.Write wait"
		}
		defer trace.StartRegion(ctx, region).End()
	}
	select {
	case <-w.ready:
		if w.closed {
			return ErrClosed
		}
		report(&l.hooks, w.lane.since, func() { l.release(w.h) })
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-w.ready:
		// Admitted (or closed) while giving up: hold nothing, and count
		// the call cancelled, not admitted, as it returns ctx.Err().
		if w.closed {
			l.countLocked(w.h.write, 0, 1)
		} else {
			l.releaseLocked(w.h)
			l.countLocked(w.h.write, -1, 1)
		}
	default:
		l.unlinkLocked(w)
		l.countLocked(w.h.write, 0, 1)
		// A writer leaving the head may let the readers behind it in.
		l.grantLocked()
	}
	return ctx.Err()
}

// countLocked adds to a lane's totals.
func (l *rwLock) countLocked(write bool, admitted, cancelled int64) {
	if write {
		l.writeAdmitted += admitted
		l.writeCancelled += cancelled
	} else {
		l.readAdmitted += admitted
		l.readCancelled += cancelled
	}
}

func (l *rwLock) fitsLocked(write bool) bool {
	if write {
		return l.writer == nil && l.readers == 0
	}
	return l.writer == nil
}

func (l *rwLock) admitLocked(h *rwHold) {
	h.active = true
	l.countLocked(h.write, 1, 0)
	if h.write {
		l.writer = h
	} else {
		l.readers++
	}
}

func (l *rwLock) release(h *rwHold) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(h)
}

func (l *rwLock) releaseLocked(h *rwHold) {
	h.active = false
	if h.write {
		l.writer = nil
	} else {
		l.readers--
	}
	l.grantLocked()
}

// grantLocked admits waiters from the head while they fit, and stops at
// the first that does not (strict FIFO).
func (l *rwLock) grantLocked() {
	for w := l.q.Front(); w != nil; w = l.q.Front() {
		if !l.fitsLocked(w.h.write) {
			return
		}
		l.unlinkLocked(w)
		l.admitLocked(w.h)
		w.ready <- struct{}{}
	}
}

func (l *rwLock) pushLocked(w *rwWaiter) {
	l.q.PushBack(w)
	l.laneLocked(w.h.write).PushBack(&w.lane)
}

func (l *rwLock) unlinkLocked(w *rwWaiter) {
	l.q.Remove(w)
	l.laneLocked(w.h.write).Remove(&w.lane)
}

func (l *rwLock) laneLocked(write bool) *fifo.List[laneLink, *laneLink] {
	if write {
		return &l.writeQ
	}
	return &l.readQ
}

// oldest is how long the head of lane q has waited, or 0.
func oldest(q *fifo.List[laneLink, *laneLink]) time.Duration {
	if w := q.Front(); w != nil {
		return fifo.Since(w.since)
	}
	return 0
}

func (l *rwLock) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for w := l.q.Front(); w != nil; w = l.q.Front() {
		l.unlinkLocked(w)
		w.closed = true
		w.ready <- struct{}{}
	}
}

func (l *rwLock) stats() RWStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var writing int64
	if l.writer != nil {
		writing = 1
	}
	return RWStats{
		ReadInUse:       l.readers,
		WriteInUse:      writing,
		ReadWaiting:     int64(l.readQ.Len()),
		WriteWaiting:    int64(l.writeQ.Len()),
		ReadOldestWait:  oldest(&l.readQ),
		WriteOldestWait: oldest(&l.writeQ),
		ReadAdmitted:    l.readAdmitted,
		WriteAdmitted:   l.writeAdmitted,
		ReadCancelled:   l.readCancelled,
		WriteCancelled:  l.writeCancelled,
		Closed:          l.closed,
	}
}
