package guard

import (
	"context"
	"sync"

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
	mu       sync.Mutex
	readers  int64                          // read holds now
	writer   *rwHold                        // the write hold now, or nil
	q        fifo.List[rwWaiter, *rwWaiter] // queued callers, oldest first
	waitingR int64
	waitingW int64
	closed   bool
}

type rwWaiter struct {
	h      *rwHold
	ready  chan struct{} // buffered(1): one token when admitted or closed
	closed bool
	fifo.Node[rwWaiter]
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
	l.pushLocked(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		if w.closed {
			return nil, false, ErrClosed
		}
		return h, false, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-w.ready:
		// Admitted (or closed) while giving up: hold nothing.
		if !w.closed {
			l.releaseLocked(h)
		}
	default:
		l.unlinkLocked(w)
		// A writer leaving the head may let the readers behind it in.
		l.grantLocked()
	}
	return nil, false, ctx.Err()
}

func (l *rwLock) fitsLocked(write bool) bool {
	if write {
		return l.writer == nil && l.readers == 0
	}
	return l.writer == nil
}

func (l *rwLock) admitLocked(h *rwHold) {
	h.active = true
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
	if w.h.write {
		l.waitingW++
	} else {
		l.waitingR++
	}
}

func (l *rwLock) unlinkLocked(w *rwWaiter) {
	l.q.Remove(w)
	if w.h.write {
		l.waitingW--
	} else {
		l.waitingR--
	}
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
		ReadInUse:    l.readers,
		WriteInUse:   writing,
		ReadWaiting:  l.waitingR,
		WriteWaiting: l.waitingW,
		Closed:       l.closed,
	}
}
