// Package pool runs tasks in a bounded group: at most a fixed number run
// at once, on a slot count of their own or on a *sem.Semaphore shared with
// other groups, so that several call paths keep one process-wide cap.
//
// Seed 002 started one goroutine per backlog item (thousands after a
// downtime) from three trigger paths at once. A [Pool] bounds both: its
// live goroutines never exceed its slots, however long the backlog, and
// groups built with [Shared] on one semaphore never run more tasks in
// total than the semaphore's size.
//
//	p := pool.New(ctx, 10)
//	for _, item := range backlog {
//		if err := p.Go(func(ctx context.Context) error { return validate(ctx, item) }); err != nil {
//			break // the group's context ended: item never runs
//		}
//	}
//	err := p.Wait()
//
// # Slots, workers and the hand-off queue
//
// Every running task holds one slot (one permit of the semaphore). Tasks
// run on workers: a worker is a goroutine that holds a slot and, when its
// task returns, takes the next task of its group instead of exiting, so a
// long backlog costs one goroutine per slot, not one per item. A worker
// gives its slot back and exits when its group has nothing pending.
//
// [Pool.Go] returns once fn is admitted: either it started on a worker
// that holds a slot, or it was placed in the group's hand-off queue (at
// most [QueueSize] tasks, by default 64 or the limit, whichever is larger,
// capped at 4096) behind workers that are running and will take it before
// they give their slots back. So Go blocks while every slot is busy and
// the queue is full. An admitted task always runs, even if the group's
// context ends before it starts (it then sees the cancelled context). The
// queue is what lets a submitter hand over tasks without a goroutine
// wake-up per task; with QueueSize(0) Go returns only once fn holds a slot.
//
// # Invariants
//
//   - Tasks running at once never exceed the slots: limit for [New], the
//     semaphore's size across every group sharing it for [Shared].
//   - Live goroutines the group started never exceed its slots, plus
//     workers that have just given their slot back and are on their way
//     out (and one transient replacement when a task calls
//     runtime.Goexit). Memory is flat in the backlog: at most limit
//     running tasks and QueueSize queued ones exist at once; further Go
//     calls block.
//   - Go never returns nil for a task that will not run, and never runs a
//     task for which it returned an error.
//
// # Fairness
//
// Within a group, admitted tasks start in the order Go admitted them, and
// blocked Go calls are admitted in arrival order. A Go call that finds the
// group with no running worker and no free slot waits on the semaphore
// itself, in its FIFO order (see package sem). Across groups sharing a
// semaphore: while anyone waits on the shared semaphore, a group takes no
// new work onto the slots it holds. Its workers give their slots back after
// their current task, except the last, which finishes the tasks already
// admitted to the queue (they were promised a run) and then hands the Go
// calls still blocked to the semaphore, where they wait for a slot in FIFO
// order behind the waiters that came first. So a group fed without pause
// cannot keep a slot from the others: a waiter that needs every slot gets
// in once the admitted tasks are done.
//
// # Errors and panics
//
// By default [Pool.Wait] returns the first error a task returned; with
// [CollectErrors] it returns all of them joined with errors.Join. With
// [CancelOnError] the first error cancels the group's context (the error
// is its cause, see context.Cause). A task that panics does not crash the
// process on its worker: the panic is recovered with the stack it was
// raised on, the group's context is cancelled, and Wait re-panics with a
// *[PanicError] carrying the value and that stack once every task is done.
//
// A task may call Go on its own group (Wait keeps waiting for what it
// adds), but Go blocks while the group is full, so tasks that block in Go
// while they hold every slot wait forever, as with any bounded group.
// From inside a task, prefer TryGo, or a group with a queue large enough.
//
// After Wait returns, the group is finished: its context is cancelled,
// later Go calls return [ErrDone] and TryGo returns false.
package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/sem"
)

// ErrDone is returned by [Pool.Go] once [Pool.Wait] has returned: a
// finished group runs nothing more.
var ErrDone = errors.New("pool: Go after Wait: the group is finished")

// testHookBeforeCancel, if set, runs in a worker between recording a
// failure that cancels the group and cancelling it (tests only).
var testHookBeforeCancel func()

// errGoexit is recorded for a task that called runtime.Goexit.
var errGoexit = errors.New("pool: task called runtime.Goexit")

// PanicError is what [Pool.Wait] panics with when a task panicked: the
// value the task panicked with and the stack of the task's goroutine at
// the moment of the panic.
type PanicError struct {
	Value any
	Stack []byte
}

// Error includes the panic value and the task's stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("pool: task panicked: %v\n\ntask stack:\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Option configures a Pool.
type Option func(*config)

type config struct {
	cancelOnError bool
	collect       bool
	queue         int
}

// CancelOnError makes the first task error cancel the group's context,
// with that error as the cause. Go calls blocked at that moment return
// the context's error, and their tasks never run.
func CancelOnError() Option { return func(c *config) { c.cancelOnError = true } }

// CollectErrors makes Wait return every task error joined with
// errors.Join, in the order the tasks returned, instead of the first one.
func CollectErrors() Option { return func(c *config) { c.collect = true } }

// QueueSize sets how many admitted tasks may wait in the group's hand-off
// queue for a running worker. The default is the limit (the semaphore's
// size for [Shared]) or 64, whichever is larger, capped at 4096. 0 makes
// Go return only once its task holds a slot. It panics if n is negative.
//
// Why 64 at least: a submitter that finds the queue full blocks, and is
// woken once the queue is half empty. The other half must last the
// workers until the submitter is running again, or they find the queue
// empty, exit, and the next Go starts a goroutine again. With tiny tasks a
// queue of 10 made about one Go in twelve start a goroutine and ran at
// about 95 ns a task; 64 made it one in sixty-five, at about 55 ns.
func QueueSize(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("pool: QueueSize(%d): negative size", n))
	}
	return func(c *config) { c.queue = n }
}

const (
	defaultQueue    = 64
	maxDefaultQueue = 4096
)

// Task is the function a group runs. It receives the group's context.
type Task = func(context.Context) error

// Pool is a bounded task group. Create it with [New] or [Shared]; the
// zero value is not usable (its methods, like a nil *Pool's, panic with a
// message that says so). All methods are safe for concurrent use, and
// tasks may call Go on their own group.
type Pool struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	sem    *sem.Semaphore
	shared bool
	cfg    config

	mu sync.Mutex
	// queue is a ring of admitted tasks not yet started.
	queue      []Task
	qhead, qn  int
	blocked    fifo.List[waiter, *waiter] // Go calls blocked until admitted, oldest first
	running    int                        // workers, each holding one slot
	acquiring  int                        // Go calls waiting on the semaphore
	done       bool
	idle       chan struct{} // made by Wait; closed once nothing runs, is queued or is in Go
	free       []*waiter     // recycled waiters (per group: channels stay in one synctest bubble)
	firstErr   error
	errs       []error
	panicked   *PanicError
	completed  int64
	failed     int64
	nPanicked  int64
	cancelSent bool

	workers sync.WaitGroup // every goroutine the group started

	// goroutines counts the group's goroutines from the moment spawn
	// starts one until it gives its slot back (after which it only
	// returns), so it never exceeds the slots the group holds. Tests read
	// it: unlike runtime.NumGoroutine it counts only what the group owns,
	// and exactly.
	goroutines atomic.Int64
}

type waiter struct {
	fn    Task
	ready chan struct{} // buffered(1): one token when admitted or taken
	// state is set under mu before the token is sent.
	state int
	fifo.Node[waiter]
}

const (
	wPending  = iota
	wAdmitted // moved into the hand-off queue
	wTaken    // taken by a worker directly
	wAcquire  // handed to the semaphore: acquire a slot yourself (counted in acquiring)
)

// New returns a group that runs at most limit tasks at once, on slots of
// its own. Its context is derived from ctx. It panics if ctx is nil or
// limit is not positive or exceeds sem.MaxSize, or if an Option is nil.
func New(ctx context.Context, limit int, opts ...Option) *Pool {
	if ctx == nil {
		panic("pool: New with nil Context")
	}
	checkOpts("New", opts)
	if limit <= 0 {
		panic(fmt.Sprintf("pool: New(ctx, %d): limit must be positive", limit))
	}
	if int64(limit) > sem.MaxSize {
		panic(fmt.Sprintf("pool: New(ctx, %d): limit exceeds sem.MaxSize (%d)", limit, int64(sem.MaxSize)))
	}
	return newPool(ctx, sem.New(int64(limit)), false, opts)
}

// Shared returns a group whose tasks each hold one permit of s while they
// run, so that every group sharing s runs at most s.Size() tasks in total.
// Its context is derived from ctx. It panics if ctx, s or an Option is
// nil.
//
// If s is closed, Go calls that would wait on it return sem.ErrClosed;
// tasks already admitted still run.
func Shared(ctx context.Context, s *sem.Semaphore, opts ...Option) *Pool {
	if ctx == nil {
		panic("pool: Shared with nil Context")
	}
	if s == nil {
		panic("pool: Shared with nil *sem.Semaphore")
	}
	checkOpts("Shared", opts)
	return newPool(ctx, s, true, opts)
}

// checkOpts panics, naming fn and the option's place, on a nil Option.
func checkOpts(fn string, opts []Option) {
	for i, o := range opts {
		if o == nil {
			panic(fmt.Sprintf("pool: %s with nil Option (opts[%d])", fn, i))
		}
	}
}

// badPool panics, naming method, for a nil *Pool or a zero Pool (one not
// made by New or Shared). It is kept out of line so that the check in
// each method stays two comparisons.
//
//go:noinline
func badPool(p *Pool, method string) {
	if p == nil {
		panic("pool: " + method + " on nil *Pool")
	}
	panic("pool: " + method + " on a zero Pool: make one with New or Shared")
}

func newPool(ctx context.Context, s *sem.Semaphore, shared bool, opts []Option) *Pool {
	cfg := config{queue: -1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.queue < 0 {
		cfg.queue = int(min(max(s.Size(), defaultQueue), maxDefaultQueue))
	}
	p := &Pool{sem: s, shared: shared, cfg: cfg}
	p.ctx, p.cancel = context.WithCancelCause(ctx)
	if cfg.queue > 0 {
		p.queue = make([]Task, cfg.queue)
	}
	return p
}

// Context returns the group's context: the one every task receives. It is
// cancelled when the parent is, on the first error with [CancelOnError],
// when a task panics, and when Wait returns.
func (p *Pool) Context() context.Context {
	if p == nil || p.sem == nil {
		badPool(p, "Context")
	}
	return p.ctx
}

// Go admits fn to the group, blocking while the group has no free slot
// and its hand-off queue is full. It returns nil once fn is admitted (fn
// will run). It returns the context's error if the group's context ends
// first, sem.ErrClosed if the shared semaphore is closed, and [ErrDone]
// after Wait has returned; then fn never runs. It panics if fn is nil.
func (p *Pool) Go(fn Task) error {
	if p == nil || p.sem == nil {
		badPool(p, "Go")
	}
	if fn == nil {
		panic("pool: Go with nil func")
	}
	done := p.ctx.Done()
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return ErrDone
	}
	select {
	case <-done:
		p.mu.Unlock()
		return p.ctx.Err()
	default:
	}
	if p.admitLocked(fn) {
		return nil // admitLocked unlocked
	}
	if p.running == 0 {
		// No worker will ever look at the queue: wait on the semaphore
		// ourselves, in its FIFO order.
		return p.acquireAndStart(fn)
	}
	// Workers are running: wait until one of them admits us (moves us into
	// the queue) or takes fn directly.
	w := p.getWaiterLocked(fn)
	p.pushBlockedLocked(w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		p.mu.Lock()
		state := w.state
		p.putWaiterLocked(w)
		if state == wAcquire {
			return p.acquireCounted(fn)
		}
		p.mu.Unlock()
		return nil
	case <-done:
	}
	p.mu.Lock()
	if w.state == wAcquire {
		// Handed to the semaphore while we were giving up: we hold
		// nothing yet, so just leave.
		<-w.ready
		p.putWaiterLocked(w)
		p.acquiring--
		p.checkIdleLocked()
		p.mu.Unlock()
		return p.ctx.Err()
	}
	if w.state != wPending {
		// Admitted while we were giving up: fn will run, so say so.
		<-w.ready
		p.putWaiterLocked(w)
		p.mu.Unlock()
		return nil
	}
	p.removeBlockedLocked(w)
	p.putWaiterLocked(w)
	p.checkIdleLocked()
	p.mu.Unlock()
	return p.ctx.Err()
}

// admitLocked admits fn without blocking if it can: on a new worker if a
// slot is free, else in the hand-off queue behind running workers. On
// success it unlocks mu and returns true; otherwise mu stays held.
func (p *Pool) admitLocked(fn Task) bool {
	pending := p.qn > 0 || p.blocked.Len() > 0
	if p.sem.TryAcquire(1) {
		p.running++
		if !pending {
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
	if p.running > 0 && p.blocked.Len() == 0 && p.qn < len(p.queue) && !p.yieldLocked() {
		p.queue[(p.qhead+p.qn)%len(p.queue)] = fn
		p.qn++
		p.mu.Unlock()
		return true
	}
	return false
}

// acquireAndStart waits on the semaphore for a slot and starts a worker
// with fn on it. Called with mu held; returns with it released.
func (p *Pool) acquireAndStart(fn Task) error {
	p.acquiring++
	return p.acquireCounted(fn)
}

// acquireCounted is acquireAndStart for a caller already counted in
// acquiring (a blocked Go call handed to the semaphore by the last worker).
func (p *Pool) acquireCounted(fn Task) error {
	p.mu.Unlock()
	err := p.sem.Acquire(p.ctx, 1)
	p.mu.Lock()
	p.acquiring--
	if err != nil {
		p.checkIdleLocked()
		p.mu.Unlock()
		return err
	}
	p.running++
	p.mu.Unlock()
	p.spawn(fn)
	return nil
}

// spawn starts a worker on a slot the caller holds for it. It is the only
// place the group starts a goroutine, so that Wait waits for every one and
// the goroutines count sees every one.
func (p *Pool) spawn(fn Task) {
	p.workers.Add(1)
	p.goroutines.Add(1)
	go p.worker(fn)
}

// TryGo admits fn if it can without blocking (a slot is free, or there is
// room in the hand-off queue behind running workers) and reports whether
// it did. It returns false once the group's context has ended or Wait has
// returned. It panics if fn is nil.
func (p *Pool) TryGo(fn Task) bool {
	if p == nil || p.sem == nil {
		badPool(p, "TryGo")
	}
	if fn == nil {
		panic("pool: TryGo with nil func")
	}
	p.mu.Lock()
	if p.done || p.ctx.Err() != nil {
		p.mu.Unlock()
		return false
	}
	if p.admitLocked(fn) {
		return true
	}
	p.mu.Unlock()
	return false
}

// worker runs fn (if not nil), then the group's next pending tasks, until
// none is pending or it yields its slot to a waiter on a shared semaphore.
// It holds one slot for its whole life and gives it back as it exits.
//
// Why workers pull instead of one goroutine per task: starting a goroutine
// (errgroup's design) or waking a parked one (a hand-off channel) costs
// several hundred nanoseconds a task; taking the next task from the queue
// under the group's lock costs tens. With 100,000 tiny tasks at limit 10
// that is about 60 ns a task here against 100 to 700 for the usual
// libraries (bench/pool_test.go).
func (p *Pool) worker(fn Task) {
	clean := false
	defer func() {
		if !clean {
			// runtime.Goexit inside a task (t.FailNow, say): this goroutine
			// is going away, but its slot and the group's pending tasks are
			// not. Record the task and hand the slot to a replacement.
			p.mu.Lock()
			p.recordLocked(errGoexit, nil)
			cause := p.takeCauseLocked()
			p.mu.Unlock()
			if cause != nil {
				p.cancel(cause)
			}
			// This goroutine hands its slot to the replacement and only
			// returns from here: uncount it first, as at a clean exit.
			p.goroutines.Add(-1)
			p.spawn(nil)
		}
		p.workers.Done()
	}()
	for {
		var err error
		var pe *PanicError
		if fn != nil {
			err, pe = p.run(fn)
		}
		p.mu.Lock()
		if fn != nil {
			p.recordLocked(err, pe)
			if cause := p.takeCauseLocked(); cause != nil {
				// Cancel before picking the next task, so that Go calls
				// blocked now return the context's error rather than being
				// admitted into a group that is failing. (Not under mu:
				// cancelling runs context machinery we keep out of our
				// lock.)
				p.mu.Unlock()
				if testHookBeforeCancel != nil {
					testHookBeforeCancel()
				}
				p.cancel(cause)
				p.mu.Lock()
			}
		}
		fn = p.nextLocked()
		if fn == nil {
			p.running--
			p.checkIdleLocked()
			p.mu.Unlock()
			// Uncounted before the slot is free, so that a worker started
			// on it is never counted alongside this one, which only
			// returns from here.
			p.goroutines.Add(-1)
			p.sem.Release(1)
			clean = true
			return
		}
		p.mu.Unlock()
	}
}

// nextLocked picks the worker's next task, or nil when the worker should
// give its slot back: nothing is pending, or other callers wait on the
// semaphore for a slot (other groups sharing it, or a Go call of this
// group that found no worker running) and another worker of this group
// remains to finish what is pending. The last worker never yields while
// tasks are pending: they were admitted, so they must run, and they need
// a slot to run on.
func (p *Pool) nextLocked() Task {
	// Once the group's context has ended, blocked Go calls are not
	// admitted: they return the context's error (they are waking up to do
	// so). Tasks already admitted to the queue still run. The same holds
	// from the moment a failure that cancels the group is recorded: the
	// worker that recorded it cancels outside mu, and until it has, another
	// worker must not admit the calls that cancel is for.
	admitBlocked := p.blocked.Len() > 0 && !p.ctxDone() && !p.failingLocked()
	yield := p.yieldLocked()
	if p.qn == 0 && !admitBlocked {
		return nil
	}
	if p.running > 1 && (p.acquiring > 0 || yield) {
		return nil
	}
	if yield && p.qn == 0 {
		// The last worker, with only blocked Go calls left, while others
		// wait on the shared semaphore: keeping the slot for them would let
		// a group fed without pause hold it for ever, and a waiter that
		// needs every slot would never get in. Hand the oldest blocked call
		// to the semaphore instead (it acquires a slot itself, in FIFO
		// order behind those waiters, and its worker then serves the
		// others), and give this slot back.
		w := p.popBlockedLocked()
		w.state = wAcquire
		p.acquiring++
		w.ready <- struct{}{}
		return nil
	}
	if yield {
		admitBlocked = false // the queue takes nothing new; see admitLocked
	}
	if p.qn == 0 {
		// Only blocked Go calls (QueueSize(0), or all of the queue was
		// just drained): take the oldest one's task directly.
		w := p.popBlockedLocked()
		w.state = wTaken
		w.ready <- struct{}{}
		return w.fn
	}
	fn := p.queue[p.qhead]
	p.queue[p.qhead] = nil
	p.qhead = (p.qhead + 1) % len(p.queue)
	p.qn--
	// Admit blocked Go calls into the queue once it is half empty, not at
	// every free place: a submitter that blocks on a full queue is then
	// woken once per half a queue of tasks, not once per task.
	if admitBlocked && p.qn <= len(p.queue)/2 {
		for p.blocked.Len() > 0 && p.qn < len(p.queue) {
			w := p.popBlockedLocked()
			p.queue[(p.qhead+p.qn)%len(p.queue)] = w.fn
			p.qn++
			w.state = wAdmitted
			w.ready <- struct{}{}
		}
	}
	return fn
}

// run calls fn, recovering a panic with the stack it was raised on.
func (p *Pool) run(fn Task) (err error, pe *PanicError) {
	defer func() {
		if r := recover(); r != nil {
			// debug.Stack inside the deferred call still shows the frames
			// of the panicking task, below the runtime's panic frames.
			pe = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(p.ctx), nil
}

func (p *Pool) recordLocked(err error, pe *PanicError) {
	p.completed++
	switch {
	case pe != nil:
		p.nPanicked++
		if p.panicked == nil {
			p.panicked = pe
			p.cancelSent = true
		}
	case err != nil:
		p.failed++
		if p.firstErr == nil {
			p.firstErr = err
			if p.cfg.cancelOnError {
				p.cancelSent = true
			}
		}
		if p.cfg.collect {
			p.errs = append(p.errs, err)
		}
	}
}

// takeCauseLocked returns the cause to cancel the group's context with,
// if a recorded result asked for it and it was not sent yet, else nil.
func (p *Pool) takeCauseLocked() error {
	if !p.cancelSent {
		return nil
	}
	p.cancelSent = false
	if p.panicked != nil {
		return p.panicked
	}
	return p.firstErr
}

// failingLocked reports whether a recorded result cancels the group: a
// panic, or an error with CancelOnError.
func (p *Pool) failingLocked() bool {
	return p.panicked != nil || p.cfg.cancelOnError && p.firstErr != nil
}

func (p *Pool) ctxDone() bool {
	select {
	case <-p.ctx.Done():
		return true
	default:
		return false
	}
}

// idleLocked reports whether nothing is running, queued or in a Go call.
// (Queued tasks imply a running worker; blocked Go calls do too, except
// briefly after the group's context ended, while they return.)
// yieldLocked reports whether others wait on the group's shared semaphore,
// in which case the group takes no new work onto the slots it holds.
func (p *Pool) yieldLocked() bool { return p.shared && p.sem.HasWaiters() }

func (p *Pool) idleLocked() bool {
	return p.running == 0 && p.acquiring == 0 && p.blocked.Len() == 0
}

func (p *Pool) checkIdleLocked() {
	if p.idle != nil && p.idleLocked() {
		close(p.idle)
		p.idle = nil
	}
}

// Wait blocks until every admitted task has returned and every Go call in
// progress has finished, then finishes the group: it cancels the group's
// context and makes later Go calls fail with [ErrDone]. It returns the
// first task error (every error joined, with [CollectErrors]); if a task
// panicked it panics with a *[PanicError] instead. Wait may be called more
// than once; each call returns (or panics with) the same result.
//
// Wait itself is not cancellable: cancel the group's parent context to
// make the tasks and blocked Go calls return early. A task must not call
// Wait on its own group: Wait would wait for that task.
func (p *Pool) Wait() error {
	if p == nil || p.sem == nil {
		badPool(p, "Wait")
	}
	p.mu.Lock()
	for !p.idleLocked() {
		if p.idle == nil {
			p.idle = make(chan struct{})
		}
		ch := p.idle
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
	}
	p.done = true
	err := p.firstErr
	if p.cfg.collect {
		err = errors.Join(p.errs...)
	}
	pe := p.panicked
	p.mu.Unlock()
	// The last workers may still be giving their slots back.
	p.workers.Wait()
	p.cancel(context.Canceled)
	if pe != nil {
		panic(pe)
	}
	return err
}

// Stats is a snapshot of a group.
type Stats struct {
	Limit     int64 // slots: the limit, or the shared semaphore's size
	Running   int   // workers, each holding one slot
	Queued    int   // admitted tasks waiting in the hand-off queue
	Blocked   int   // Go calls waiting to be admitted
	Completed int64 // tasks that returned, panicked or exited
	Failed    int64 // tasks that returned an error
	Panicked  int64 // tasks that panicked
	Done      bool  // Wait has returned
}

// Stats returns a snapshot, read under the group's lock.
func (p *Pool) Stats() Stats {
	if p == nil || p.sem == nil {
		badPool(p, "Stats")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Limit:     p.sem.Size(),
		Running:   p.running,
		Queued:    p.qn,
		Blocked:   p.blocked.Len() + p.acquiring,
		Completed: p.completed,
		Failed:    p.failed,
		Panicked:  p.nPanicked,
		Done:      p.done,
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
	w.fn = nil
	if len(p.free) < 64 {
		p.free = append(p.free, w)
	}
}

func (p *Pool) pushBlockedLocked(w *waiter) { p.blocked.PushBack(w) }

func (p *Pool) popBlockedLocked() *waiter { return p.blocked.PopFront() }

func (p *Pool) removeBlockedLocked(w *waiter) { p.blocked.Remove(w) }
