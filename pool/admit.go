package pool

import (
	"context"
	"errors"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/sem"
)

// Admission: how a Go call gets its task admitted. Either at once (a free
// slot, or room in the hand-off queue behind running workers: admitLocked),
// or by waiting: in the group's blocked list until a worker admits it
// (waitAdmission), or on the semaphore for a slot of its own
// (acquireCounted) when no worker runs or a worker handed it there.
//
// The totals of Stats are counted under mu where the outcome is decided:
// Admitted where a task is admitted (here, and in nextLocked), Cancelled
// and Rejected where a Go call returns the error.

// A waiter is a Go call that waits: in the blocked list, or in the
// acquiring list while it waits on the semaphore. Its state says how a
// wait in the blocked list ended; a worker or Close sets it under mu, then
// sends the token.
type waiter struct {
	fn    Task
	ready chan struct{} // buffered(1): one token when the state leaves wPending
	state int
	start int64 // when the Go call began to wait (fifo.Now): OldestWait and OnWait
	fifo.Node[waiter]
}

const (
	wPending  = iota // in the blocked list
	wAdmitted        // a worker moved fn into the hand-off queue
	wTaken           // a worker took fn to run it next
	wAcquire         // handed to the semaphore: acquire a slot yourself (moved to acquiring)
	wClosed          // failed by Close (counted in leaving): return ErrClosed
)

// admitLocked admits fn without blocking if it can: on a new worker if a
// slot is free, else in the hand-off queue behind running workers. On
// success it unlocks mu and returns true; otherwise mu stays held.
func (p *Pool) admitLocked(fn Task) bool {
	pending := p.queue.len() > 0 || p.blocked.Len() > 0
	// On slots of its own, a group whose workers hold every slot knows
	// TryAcquire would fail, and skips it (a failed TryAcquire counts in
	// the semaphore's Rejected: an atomic add per Go while the group is
	// full). A shared semaphore must be asked.
	if (p.shared || int64(p.running) < p.sem.Size()) && p.sem.TryAcquire(1) {
		p.running++
		if !pending {
			p.admitted++
			p.mu.Unlock()
			p.spawn(fn)
			return true
		}
		// Others are ahead of fn: the new worker starts with the oldest,
		// and fn goes through the queue below.
		p.spawn(nil)
	}
	// While others wait on a shared semaphore the queue takes nothing new:
	// the group's workers are about to give their slots back (see
	// nextLocked), and fn should wait for a slot in the semaphore's order,
	// not run on a slot the group keeps.
	if p.running > 0 && p.blocked.Len() == 0 && !p.queue.full() && !p.yieldLocked() {
		p.queue.push(fn)
		p.admitted++
		p.mu.Unlock()
		return true
	}
	return false
}

// waitAdmission blocks a Go call in the blocked list until a worker admits
// it (moves fn into the queue, or takes it), hands it to the semaphore, or
// Close fails it, or until the group's context ends. start is when the
// call began to wait. Called with mu held; returns with it released.
func (p *Pool) waitAdmission(fn Task, done <-chan struct{}, start int64) error {
	w := p.getWaiterLocked(fn)
	w.start = start
	p.blocked.PushBack(w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		p.mu.Lock()
		switch w.state {
		case wAcquire:
			return p.acquireCounted(w) // w is in acquiring now
		case wClosed:
			p.putWaiterLocked(w)
			p.leaving--
			p.checkIdleLocked()
			p.mu.Unlock()
			return ErrClosed
		}
		p.putWaiterLocked(w)
		p.mu.Unlock()
		p.hooks.Call(start)
		return nil
	case <-done:
	}
	p.mu.Lock()
	switch w.state {
	case wAcquire:
		// Handed to the semaphore while we were giving up: we hold
		// nothing yet, so just leave.
		<-w.ready
		p.acquiring.Remove(w)
		p.putWaiterLocked(w)
		p.cancelled++
		p.checkIdleLocked()
		p.mu.Unlock()
		return p.ctx.Err()
	case wClosed:
		// Failed by Close while we were giving up: Close went first.
		<-w.ready
		p.putWaiterLocked(w)
		p.leaving--
		p.checkIdleLocked()
		p.mu.Unlock()
		return ErrClosed
	case wAdmitted, wTaken:
		// Admitted while we were giving up: fn will run, so say so.
		<-w.ready
		p.putWaiterLocked(w)
		p.mu.Unlock()
		p.hooks.Call(start)
		return nil
	}
	p.blocked.Remove(w)
	p.putWaiterLocked(w)
	p.cancelled++
	p.checkIdleLocked()
	p.mu.Unlock()
	return p.ctx.Err()
}

// acquireCounted waits on the semaphore for a slot and starts a worker
// with w's task on it, for a Go call whose w is in the acquiring list.
// Called with mu held; returns with it released.
func (p *Pool) acquireCounted(w *waiter) error {
	if p.closed {
		p.acquiring.Remove(w)
		p.putWaiterLocked(w)
		p.checkIdleLocked()
		p.mu.Unlock()
		return ErrClosed
	}
	fn, start := w.fn, w.start
	ctx := p.acquireCtxLocked()
	p.mu.Unlock()
	err := p.sem.Acquire(ctx, 1)
	p.mu.Lock()
	p.acquiring.Remove(w)
	p.putWaiterLocked(w)
	if err == nil && p.closed {
		// Close came while the semaphore admitted us: nothing is admitted
		// after Close, so give the slot back (the waiters behind us get it).
		p.sem.Release(1)
		err = ErrClosed
	}
	if err != nil {
		if p.closed && errors.Is(err, context.Canceled) && p.ctx.Err() == nil {
			err = ErrClosed // the wait ended because Close cancelled acqCtx
		}
		if !errors.Is(err, ErrClosed) && !errors.Is(err, sem.ErrClosed) {
			p.cancelled++ // the group's context ended
		}
		p.checkIdleLocked()
		p.mu.Unlock()
		return err
	}
	p.running++
	p.admitted++
	p.mu.Unlock()
	p.spawn(fn)
	p.hooks.Call(start)
	return nil
}

// oldestLocked returns the Go call that has waited longest, or nil if
// none waits: the head of the blocked list or of the acquiring list,
// whichever began first. O(1): both lists are in start order. A blocked
// call keeps its start when the last worker hands it to the semaphore (to
// the acquiring list's back), and the calls already there began before it:
// a Go call joins that list directly only while no worker runs, and
// blocks only while one does.
func (p *Pool) oldestLocked() *waiter {
	b, a := p.blocked.Front(), p.acquiring.Front()
	switch {
	case b == nil:
		return a
	case a == nil || b.start < a.start:
		return b
	}
	return a
}

// acquireCtxLocked returns the context Go calls wait on the semaphore
// with: the group's, made cancellable by Close so that Close can take them
// out of the semaphore's FIFO (a shared semaphore is not Close's to close).
// It is made on first use, so a group that never waits on the semaphore
// never pays for it; it ends with the group's context at the latest.
func (p *Pool) acquireCtxLocked() context.Context {
	if p.acqCtx == nil {
		p.acqCtx, p.acqCancel = context.WithCancel(p.ctx)
	}
	return p.acqCtx
}

// failBlockedLocked fails every Go call in the blocked list for Close.
// They stay counted in leaving until they have returned, so that Wait
// waits for them as for any Go call in progress.
func (p *Pool) failBlockedLocked() {
	for w := p.blocked.PopFront(); w != nil; w = p.blocked.PopFront() {
		w.state = wClosed
		p.leaving++
		w.ready <- struct{}{} // never blocks: one token per waiter
	}
}

// yieldLocked reports whether others wait on the group's shared semaphore,
// in which case the group takes no new work onto the slots it holds.
func (p *Pool) yieldLocked() bool { return p.shared && p.sem.HasWaiters() }

// idleLocked reports whether nothing is running, queued or in a Go call.
// (Queued tasks imply a running worker; blocked Go calls do too, except
// briefly after the group's context ended, while they return.)
func (p *Pool) idleLocked() bool {
	return p.running == 0 && p.acquiring.Len() == 0 && p.blocked.Len() == 0 && p.leaving == 0
}

func (p *Pool) checkIdleLocked() {
	if p.idle != nil && p.idleLocked() {
		close(p.idle)
		p.idle = nil
	}
}

func (p *Pool) getWaiterLocked(fn Task) *waiter {
	var w *waiter
	if n := len(p.free); n > 0 {
		w = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		w = &waiter{ready: make(chan struct{}, 1)}
	}
	w.fn = fn
	w.state = wPending
	return w
}

func (p *Pool) putWaiterLocked(w *waiter) {
	w.fn, w.start = nil, 0
	if len(p.free) < 64 {
		p.free = append(p.free, w)
	}
}
