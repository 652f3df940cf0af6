package gate

import (
	"context"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/sem"
)

// What the gate keeps for its figures: the callers waiting in each lane
// (for OldestWait), the lanes' running totals, and the OnWait hooks. All
// of it is touched only by a call that has to wait, except the totals'
// adds, one per write or stream admission.

// lane is one lane's waiting callers, oldest first. A caller enters when
// it has to wait (its fast admission failed) and leaves once its wait is
// over, so the head is the oldest waiter and OldestWait costs O(1).
//
// A caller that got its permit leaves without the lock: it marks its
// entry admitted and the entry is unlinked later, by whoever takes mu
// next, once it reaches the head. Why: every waiting read is let in at
// once when a write ends, and 64 of them queuing on mu to leave, each
// holding its permit meanwhile, held up the next write forty-fold
// (BenchmarkGate/case=write-behind-readers). A caller that gave up holds
// nothing and unlinks itself under mu. Entries admitted behind a head
// still waiting wait there for it; there are few: the semaphore admits in
// FIFO order, which is about the order of the lane.
type lane struct {
	waiting atomic.Int64 // entries not yet admitted or given up
	mu      sync.Mutex
	q       fifo.List[waitEntry, *waitEntry]
	// free recycles entries, so that a wait does not allocate: an entry
	// goes back once unlinked, and its caller no longer looks at it.
	free sync.Pool
}

type waitEntry struct {
	since    int64       // when the caller started to wait: a fifo.Now reading
	admitted atomic.Bool // left admitted; unlinked when it reaches the head
	fifo.Node[waitEntry]
}

// enter adds an entry for a caller starting to wait now and returns it
// with its time; the clock is read under mu, so the list stays sorted by
// since.
func (l *lane) enter() (e *waitEntry, since int64) {
	e, _ = l.free.Get().(*waitEntry)
	if e == nil {
		e = new(waitEntry)
	}
	l.waiting.Add(1)
	l.mu.Lock()
	l.pruneLocked()
	e.since = fifo.Now()
	since = e.since
	l.q.PushBack(e)
	l.mu.Unlock()
	return e, since
}

// admit is e leaving with its permit: no lock. The caller must not touch
// e again.
func (l *lane) admit(e *waitEntry) {
	l.waiting.Add(-1)
	e.admitted.Store(true)
}

// giveUp is e leaving without a permit.
func (l *lane) giveUp(e *waitEntry) {
	l.waiting.Add(-1)
	l.mu.Lock()
	l.q.Remove(e)
	l.pruneLocked()
	l.mu.Unlock()
	l.recycle(e)
}

// pruneLocked unlinks the admitted entries at the head.
func (l *lane) pruneLocked() {
	for e := l.q.Front(); e != nil && e.admitted.Load(); e = l.q.Front() {
		l.q.Remove(e)
		l.recycle(e)
	}
}

func (l *lane) recycle(e *waitEntry) {
	e.admitted.Store(false)
	l.free.Put(e)
}

// figures returns how many wait now and how long the oldest has waited.
func (l *lane) figures() (waiting int64, oldest time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked()
	if e := l.q.Front(); e != nil {
		oldest = fifo.Since(e.since)
	}
	return max(l.waiting.Load(), 0), oldest
}

// isDone reports whether ctx has already ended, without a lock.
func isDone(ctx context.Context) bool {
	d := ctx.Done()
	if d == nil {
		return false
	}
	select {
	case <-d:
		return true
	default:
		return false
	}
}

// wait is the slow path of every admission: the caller could not take
// n permits of s at once, so it waits for them under wctx, in lane ln,
// inside a runtime/trace region named region. waited is false when wctx
// had already ended (then it returns wctx's error without waiting). Once
// admitted it adds one to admitted (if not nil; reads count in the
// semaphore) and reports its wait to the OnWait hooks; should a hook
// panic, the permits go back, and cancel (if not nil) is called, before
// the panic goes on. The call still counts as admitted.
func (g *Gate) wait(wctx context.Context, s *sem.Semaphore, n int64, ln *lane, region string, admitted *atomic.Int64, cancel context.CancelFunc) (waited bool, err error) {
	if isDone(wctx) {
		return false, wctx.Err()
	}
	if trace.IsEnabled() {
		defer trace.StartRegion(wctx, region).End()
	}
	e, since := ln.enter()
	err = s.Acquire(wctx, n)
	if err != nil {
		ln.giveUp(e)
	} else {
		if admitted != nil {
			admitted.Add(1) // before anything else: see readAdmitted
		}
		ln.admit(e)
	}
	if err == nil {
		g.report(since, func() {
			s.Release(n)
			g.signalIdle()
			if cancel != nil {
				cancel()
			}
		})
	}
	return true, err
}

// OnWait adds fn to the functions called with each wait for admission,
// in every lane (reads, inline reads, writes, streams: one hook sees
// them all; the lanes' own figures are in [Stats]), and returns stop,
// which removes it (stop is idempotent).
//
// fn is called for every call that had to wait (its permit or slot was
// not free at once), once it is admitted and before its fn runs, on the
// caller's goroutine, with how long it waited; never for a call admitted
// at once (those read no clock) or one whose wait failed. fn must be
// quick and must not call into the gate; a panic in fn gives the permits
// back and reaches the caller. A call already under way when stop returns
// may still call fn. Several hooks may be added, from any goroutine at
// any time. OnWait panics if fn is nil.
func (g *Gate) OnWait(fn func(wait time.Duration)) (stop func()) {
	if fn == nil {
		panic("gate: OnWait with nil func")
	}
	return g.hooks.Add(fn)
}

// report calls the hooks with the wait since since (reading the list,
// then the clock, only here, on the slow path); undo runs if one panics.
func (g *Gate) report(since int64, undo func()) {
	if g.hooks.Len() == 0 {
		return
	}
	ok := false
	defer func() {
		if !ok {
			undo()
		}
	}()
	g.hooks.Call(since)
	ok = true
}

// readAdmitted is Stats.ReadAdmitted, from semAdmitted, the read
// semaphore's Admitted (read first). Every admission of that semaphore is
// a read or a write, so the reads are its total less WriteAdmitted: no
// read pays for a count of its own (an atomic add made an uncontended
// ReadInline a quarter slower, 19 ns to 24.5 ns).
//
// A write counts in the semaphore an instant before it counts in
// writeAdmitted (which it adds to right after it gets its permits), so a
// snapshot taken in between sees one read too many. readHigh keeps the
// figure from going back down when the next snapshot sees it right: the
// figure may then be one ahead until the next read is admitted. Between
// calls that move, it is exact.
func (g *Gate) readAdmitted(semAdmitted int64) int64 {
	v := semAdmitted - g.writeAdmitted.Load()
	for {
		high := g.readHigh.Load()
		if v <= high {
			return high
		}
		if g.readHigh.CompareAndSwap(high, v) {
			return v
		}
	}
}
