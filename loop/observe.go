package loop

import (
	"sync"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// What the loop keeps for its figures beyond the queue's own: the works
// waiting for a worker (OffloadOldestWait), the OnWait hooks, and the
// flight recorder. Callers waiting for room are the queue's producers, so
// their figures (Waiting, OldestWait, Admitted) are the queue's.

// offLane is the offloaded works admitted while every worker was busy,
// oldest first, until each starts. Works start in about the order they
// were admitted, and each leaves by pointer, so OffloadOldestWait is the
// head's wait: O(1).
type offLane struct {
	mu sync.Mutex
	q  fifo.List[offWait, *offWait]
}

type offWait struct {
	since int64 // when the work was admitted: a fifo.Now reading
	fifo.Node[offWait]
}

// enter adds a work admitted now; the clock is read under mu, so the list
// stays sorted by since.
func (o *offLane) enter() *offWait {
	e := new(offWait)
	o.mu.Lock()
	e.since = fifo.Now()
	o.q.PushBack(e)
	o.mu.Unlock()
	return e
}

// leave removes e, if the work had entered (e != nil).
func (o *offLane) leave(e *offWait) {
	if e == nil {
		return
	}
	o.mu.Lock()
	o.q.Remove(e)
	o.mu.Unlock()
}

func (o *offLane) oldest() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := o.q.Front(); e != nil {
		return fifo.Since(e.since)
	}
	return 0
}

// reportWait calls the OnWait hooks with the wait since since (loading the
// list, and reading the clock, only here, on the slow path). undo runs if
// a hook panics, before the panic reaches the caller.
func (l *Loop[S]) reportWait(since int64, undo func()) {
	if l.hooks.Len() == 0 {
		return
	}
	ok := false
	defer func() {
		if !ok {
			undo()
		}
	}()
	l.hooks.Call(since)
	ok = true
}

// OnWait adds fn to the functions called with each caller's wait for room
// in the queue, and returns stop, which removes it (stop is idempotent).
//
// fn is called for every Do, DoNamed, Post, PostNamed and Offload that
// found the queue full (or others waiting) and waited for room, once it
// has room and before it returns (a Do: before it waits for its handler),
// on the caller's goroutine, with how long it waited; never for a call
// that found room at once (those read no clock), a call that failed, or
// offloaded work waiting for a worker (see Stats.OffloadOldestWait). fn
// must be quick and must not call into the loop. A panic in fn reaches
// the caller: a Do's handler is then dropped if it has not started and an
// Offload's room is given back, but a Post's handler, already queued,
// still runs. A call already under way when stop returns may still call
// fn. Several hooks may be added, from any goroutine at any time. OnWait
// panics if fn is nil.
func (l *Loop[S]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if fn == nil {
		panic("loop: OnWait with nil func")
	}
	return l.hooks.Add(fn)
}

// flightMu serialises the snapshots of this package's loops: a
// FlightRecorder takes one WriteTo at a time and fails a second one.
var flightMu sync.Mutex

// snapshot writes the flight recorder's window for report s, if the loop
// has one and open gives a writer for s. Failures are logged: the report
// itself must go on.
func (l *Loop[S]) snapshot(s Slow) {
	fr, open := l.cfg.flight, l.cfg.flightOpen
	if fr == nil {
		return
	}
	w, err := open(s)
	if err != nil {
		l.cfg.logger.Warn("loop: flight recorder: open failed", "handler", s.Name, "report", s.Report, "err", err)
		return
	}
	if w == nil {
		return // open chose to skip this report
	}
	flightMu.Lock()
	_, err = fr.WriteTo(w)
	flightMu.Unlock()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		l.cfg.logger.Warn("loop: flight recorder: snapshot failed", "handler", s.Name, "report", s.Report, "err", err)
	}
}
