package loop

import (
	"context"

	"github.com/sluice-go/sluice/internal/panics"
	"github.com/sluice-go/sluice/queue"
)

// Offload runs work off the loop, on one of the loop's workers, and then
// runs then(state, result, err) on the loop with work's result. Use it for
// anything that blocks (network, disk, locks, long computation), from a
// handler or from anywhere else; then is where the state is updated.
//
// Offload returns once the work is admitted, without waiting for it.
// Admission takes room in the loop's queue for then, held while the work
// waits and runs, so delivering the result never waits or fails for lack
// of room. Off the loop, Offload waits for that room like Post (FIFO,
// ctx-aware); from a handler it never waits and returns [ErrFull] if there
// is none. Admitted works start in FIFO order as workers are free (the
// order Offload admitted them in; two callers that waited for room and
// were admitted back to back may be taken in either order).
//
// work's ctx ends when ctx ends or the loop is closed. If the loop is
// closed before work starts, work never runs; if it is closed before then
// runs, then never runs. A panic in work or then is not recovered: it ends
// the program. It panics if ctx, l, work or then is nil.
//
// work must not wait for room in the same loop (Do, Post, Offload): the
// room its own result holds comes back only after work returns, so when
// the queue is full of such rooms that wait lasts until work's ctx ends.
// Return what the loop needs and use it in then, or use TryPost.
func Offload[S, R any](ctx context.Context, l *Loop[S], work func(context.Context) (R, error), then func(*S, R, error)) error {
	check("Offload", ctx, false)
	if l == nil {
		panic("loop: Offload with nil Loop")
	}
	if work == nil {
		panic("loop: Offload with nil work function")
	}
	if then == nil {
		panic("loop: Offload with nil then function")
	}
	r, err := l.reserve(ctx)
	if err != nil {
		return err
	}
	if l.closed.Load() {
		r.Cancel()
		return ErrClosed
	}
	// A work admitted while every worker is busy waits for one: only
	// then is it timed, for OffloadOldestWait.
	var ow *offWait
	if l.offQueued.Add(1)+l.offRunning.Load() > int64(l.cfg.workers) {
		ow = l.offWaits.enter()
	}
	// work's ctx is made here, on the caller's goroutine, rather than on
	// the worker: a worker is often a fresh goroutine, and the context
	// calls are deep enough to make its small first stack grow (a copy)
	// per spawn.
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.life, cancel)
	// The works run on a pool.Pool (FIFO start, at most cfg.workers at
	// once, workers that exit when idle). Its Go never waits here for a
	// work to start (its hand-off queue is as large as ours), at most for a
	// worker that is exiting to give its slot back.
	err = l.offload.Go(func(context.Context) error {
		defer cancel() // deferred: also when work calls runtime.Goexit
		defer stop()
		runWork(wctx, l, r, ow, work, then)
		return nil
	})
	if err != nil {
		// The pool is finished: the loop goroutine has ended.
		stop()
		cancel()
		l.offWaits.leave(ow)
		l.offQueued.Add(-1)
		r.Cancel()
		return ErrClosed
	}
	return nil
}

// runWork runs one admitted work on a pool worker and delivers its result
// onto the loop, in the room r has held since admission.
func runWork[S, R any](ctx context.Context, l *Loop[S], r queue.Reservation[task[S]], ow *offWait, work func(context.Context) (R, error), then func(*S, R, error)) {
	l.offWaits.leave(ow)
	l.offQueued.Add(-1)
	if l.closed.Load() {
		r.Cancel() // work not started before Close never runs
		return
	}
	l.offRunning.Add(1)
	var res R
	var err error
	pe := panics.Run("loop: offloaded work", func() { res, err = work(ctx) }, func(*PanicError) {
		// work called runtime.Goexit and takes this worker with it (the
		// pool starts another for the works behind it): give the room
		// back.
		l.offRunning.Add(-1)
		l.panicked.Add(1)
		r.Cancel()
	})
	l.offRunning.Add(-1)
	if pe != nil {
		// The pool recovers a task's panic, but nobody waits for this
		// work, so it ends the program as a panic on any goroutine does:
		// raised again where nothing recovers it (pe carries work's own
		// stack).
		l.panicked.Add(1)
		r.Cancel()
		go crash(pe)
		return
	}
	// Copies, so the closure captures them by value: one allocation for
	// the result handler, none for res and err.
	res1, err1 := res, err
	// Never fails for lack of room: r has held it since admission. After
	// Close it fails and the result is dropped.
	_ = r.Send(task[S]{fn: func(s *S) { then(s, res1, err1) }, label: then})
}

//go:noinline
func crash(pe *PanicError) { panic(pe) }
