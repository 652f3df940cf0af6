package loop

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/internal/panics"
	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/queue"
)

// ErrClosed is returned by every call made after, or waiting at the time
// of, [Loop.Close].
var ErrClosed = errors.New("loop: closed")

// ErrFull is returned by TryPost when the queue has no room now, and by
// Post and Offload when they are called from a handler of the same loop
// and the queue is full: waiting there would wait for the loop itself.
var ErrFull = errors.New("loop: queue full")

// PanicError is what [Loop.Do] panics with, on the caller's goroutine,
// when its handler panicked or called runtime.Goexit on the loop. It is
// the PanicError of every sluice package: Op is "loop: handler" and the
// handler's name, Stack the loop goroutine's stack at the panic.
type PanicError = panics.Error

// Loop owns a value of type S and runs handlers on it one at a time on
// its own goroutine. Create it with [New]; the zero value is not usable.
// Its methods are safe for concurrent use.
type Loop[S any] struct {
	state S // touched only by handlers, on the loop goroutine
	cfg   config
	q     *queue.Queue[task[S]]

	closed atomic.Bool
	// life is cancelled by Close; offloaded work's ctx ends with it.
	life    context.Context
	cancel  context.CancelFunc
	closing <-chan struct{} // life.Done()

	// The handler running now, shared with the watchdog. cur and curSeq
	// change only under curMu; busy is also cleared without it when a
	// handler ends (the watchdog re-checks seq, so that is enough).
	curMu     sync.Mutex
	cur       task[S]
	curSeq    uint64 // handlers started so far
	wdParked  bool   // the watchdog waits on kick for the next handler
	busy      atomic.Bool
	kick      chan struct{} // buffered(1)
	stopWD    chan struct{} // closed by the loop goroutine as it ends
	gid       atomic.Uint64 // the loop goroutine's id, for stacks
	callPC    uintptr       // return address in (*Loop).invoke, see onLoop
	goexited  bool          // a handler called runtime.Goexit; loop goroutine only
	goexitErr *PanicError   // what a Do caller gets for that Goexit

	// Offloaded work runs on a pool of cfg.workers workers; see Offload.
	offload    *pool.Pool
	offQueued  atomic.Int64 // admitted, not started
	offRunning atomic.Int64 // running now

	wg   sync.WaitGroup // the watchdog
	done chan struct{}  // closed when every goroutine of the loop has exited

	calls    sync.Pool // *call, per loop so channels never cross synctest bubbles
	slow     atomic.Int64
	panicked atomic.Int64

	// Figures beyond the queue's (see observe.go), all changed on slow
	// paths only.
	rejected  atomic.Int64 // ErrFull returned
	abandoned atomic.Int64 // Do calls whose ctx ended before their handler started
	hooks     fifo.Hooks   // OnWait's; loaded only by callers that waited for room
	offWaits  offLane      // works admitted while every worker was busy, until they start

	// testHookCancelled, nil outside tests, runs in Close right after
	// offloaded work's ctx has been cancelled.
	testHookCancelled func()
}

// task is one queued handler.
type task[S any] struct {
	fn func(*S)
	c  *call // set for Do: the caller waits on it
	// label names the handler in the watchdog's reports: a string given
	// by DoNamed or PostNamed, or the function to name (then, for an
	// Offload result); nil means fn.
	label any
}

// call is the rendezvous between Do and the loop. Its state decides, by
// CAS, whether the handler runs (the loop wins) or is abandoned (the
// caller's ctx ended first and it left).
type call struct {
	state atomic.Int32
	done  chan struct{} // buffered(1): the loop's answer
	pe    *PanicError   // the handler panicked or called Goexit
}

const (
	callPending int32 = iota
	callRunning
	callAbandoned
	callRan
	callClosed
)

// New starts a loop that owns state and returns it. It starts two
// goroutines (the loop and its watchdog); offload workers start when work
// arrives and exit when there is none. Close the loop and Wait for it to
// end them. It panics if an Option is nil.
//
// Inside a testing/synctest bubble, create the loop in the bubble that
// uses it.
func New[S any](state S, opts ...Option) *Loop[S] {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			panic("loop: New: nil Option")
		}
		o(&cfg)
	}
	life, cancel := context.WithCancel(context.Background())
	l := &Loop[S]{
		state:  state,
		cfg:    cfg,
		q:      queue.New[task[S]](cfg.queueSize),
		life:   life,
		cancel: cancel,
		kick:   make(chan struct{}, 1),
		stopWD: make(chan struct{}),
		done:   make(chan struct{}),
		// Works admitted and not started never exceed the queue's size
		// (each holds a room for its result), so with a hand-off queue
		// that large pool.Go never waits for one to start.
		offload: pool.New(context.Background(), cfg.workers, pool.WithQueueSize(cfg.queueSize)),
	}
	l.closing = life.Done()
	l.calls.New = func() any { return &call{done: make(chan struct{}, 1)} }
	started := make(chan struct{})
	l.wg.Add(1)
	go l.watchdog()
	go l.run(started)
	<-started // gid and callPC are set before anyone can call in
	return l
}

// loopLabels are the pprof labels of every loop goroutine, set once as it
// starts (so a CPU or goroutine profile tells loop time apart); goroutines
// a handler starts inherit them, as Go's labels are inherited.
var loopLabels = pprof.WithLabels(context.Background(), pprof.Labels("sluice", "loop"))

// run is the loop goroutine.
func (l *Loop[S]) run(started chan struct{}) {
	pprof.SetGoroutineLabels(loopLabels)
	l.gid.Store(goid())
	l.call(task[S]{fn: func(*S) {
		// Record the return address into invoke, which every handler has
		// below it on the stack; see onLoop.
		var pcs [1]uintptr
		runtime.Callers(2, pcs[:])
		l.callPC = pcs[0]
	}}, false)
	close(started)
	ended := false
	defer func() {
		// Reached normally, or when a handler called runtime.Goexit (say
		// t.FailNow in a test): then the loop goroutine is going away, so
		// the loop closes and fails everything queued rather than leave
		// callers waiting. A handler's panic passes straight through: the
		// program is crashing.
		if ended || l.goexited {
			l.finish()
		}
	}()
	for {
		it, err := l.q.Recv(context.Background())
		if err != nil {
			break // closed and drained
		}
		t := it.Value
		switch {
		case l.closed.Load():
			l.skip(it)
		case t.c != nil && !t.c.state.CompareAndSwap(callPending, callRunning):
			// The Do caller gave up before we started; it will not look
			// at the call again.
			l.calls.Put(t.c)
			it.Done()
		default:
			l.handle(t, it)
		}
	}
	ended = true
}

// skip drops a handler queued before Close: it never runs, and a Do
// waiting for it gets ErrClosed.
func (l *Loop[S]) skip(it queue.Item[task[S]]) {
	if c := it.Value.c; c != nil {
		if c.state.CompareAndSwap(callPending, callClosed) {
			c.done <- struct{}{}
		} else {
			l.calls.Put(c) // the caller left; nobody else holds it
		}
	}
	it.Done()
}

// finish ends the loop goroutine's life: drains the closed queue, stops
// the watchdog, waits for the offload workers, and marks the loop done.
func (l *Loop[S]) finish() {
	l.Close() // a no-op unless a handler called Goexit
	for {
		it, err := l.q.Recv(context.Background())
		if err != nil {
			break
		}
		l.skip(it)
	}
	close(l.stopWD)
	l.wg.Wait()
	// Works still queued in the pool start, see the loop closed and give
	// their room back; running ones have had their ctx cancelled. The
	// error is a work's Goexit, already accounted for.
	_ = l.offload.Wait()
	close(l.done)
}

// handle runs one handler and tells its Do caller, if any.
//
// It reads no clock: the watchdog times handlers itself (see watchdog),
// so a handler costs one uncontended lock and two atomic stores here.
func (l *Loop[S]) handle(t task[S], it queue.Item[task[S]]) {
	l.curMu.Lock()
	l.cur = t
	l.curSeq++
	l.busy.Store(true)
	kick := l.wdParked
	l.wdParked = false
	l.curMu.Unlock()
	if kick {
		// Only sent when the watchdog parked itself on kick, and
		// wdParked was cleared under curMu, so one send per park: the
		// buffer of 1 always has room.
		l.kick <- struct{}{}
	}

	returned := false
	defer func() {
		if returned || !l.goexited {
			return // normal, or a panic on its way to end the program
		}
		// fn called runtime.Goexit: the loop goroutine is ending (run
		// closes the loop). Answer the Do caller on the way out.
		l.busy.Store(false)
		it.Done()
		if t.c != nil {
			t.c.pe = l.goexitErr
			t.c.state.Store(callRan)
			t.c.done <- struct{}{}
		}
	}()
	// For Post and Offload results nobody waits, so a panic is not
	// recovered; it ends the program like a panic on any goroutine.
	pe := l.call(t, t.c != nil)
	returned = true

	l.busy.Store(false)
	it.Done() // before answering, so the caller's next Do finds room
	if t.c != nil {
		t.c.pe = pe
		t.c.state.Store(callRan)
		t.c.done <- struct{}{}
	}
}

// call runs t's handler. If catch is set (a Do caller waits), a panic is
// recovered and returned, so that it can reach the caller. A
// runtime.Goexit is noted (goexited) and goes on.
func (l *Loop[S]) call(t task[S], catch bool) *PanicError {
	if catch {
		pe := panics.Run("loop: handler", func() { l.invoke(t.fn) }, func(pe *PanicError) {
			pe.Op = handlerOp(t)
			l.panicked.Add(1)
			l.goexited, l.goexitErr = true, pe
		})
		if pe != nil {
			pe.Op = handlerOp(t)
			l.panicked.Add(1)
		}
		return pe
	}
	// Nobody waits for this handler, so its panic is re-raised from the
	// deferred call, on top of the panicking frames, and the crash shows
	// where it happened; panics.Run cannot re-raise in place, so this one
	// "did fn return" check is written out.
	normal := false
	defer func() {
		if normal {
			return
		}
		r := recover()
		if r == nil { // Goexit: since Go 1.21, panic(nil) recovers non-nil
			l.panicked.Add(1)
			l.goexited = true
			return
		}
		panic(r)
	}()
	l.invoke(t.fn)
	normal = true
	return nil
}

// invoke is the one call of every handler, so the return address of the
// fn call is on the stack of anything a handler calls (see onLoop).
//
//go:noinline
func (l *Loop[S]) invoke(fn func(*S)) { fn(&l.state) }

// handlerOp is a *PanicError's Op for a handler: it names the handler as
// the watchdog does. Only a panic pays for the name.
func handlerOp[S any](t task[S]) string {
	return fmt.Sprintf("loop: handler %q", t.name())
}

// reserve gets room in the queue for one handler. From the loop goroutine
// it never waits: the room could only come from the loop itself.
func (l *Loop[S]) reserve(ctx context.Context) (queue.Reservation[task[S]], error) {
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return queue.Reservation[task[S]]{}, ctx.Err()
		default:
		}
	}
	r, err := l.q.TryReserve()
	if err == nil {
		return r, nil
	}
	if errors.Is(err, queue.ErrClosed) {
		return r, ErrClosed
	}
	if l.onLoop() {
		l.rejected.Add(1)
		return r, fmt.Errorf("%w (called from a handler, which cannot wait for its own loop)", ErrFull)
	}
	return l.reserveSlow(ctx)
}

// reserveSlow is reserve's wait for room (Offload). A hook that panics
// gives the room back.
func (l *Loop[S]) reserveSlow(ctx context.Context) (queue.Reservation[task[S]], error) {
	if trace.IsEnabled() {
		defer trace.StartRegion(ctx, "sluice/loop: Offload wait").End()
	}
	since := fifo.Now()
	r, err := l.q.Reserve(ctx)
	if err != nil {
		if errors.Is(err, queue.ErrClosed) {
			err = ErrClosed
		}
		return r, err
	}
	l.reportWait(since, func() { r.Cancel() })
	return r, nil
}

// put queues t, waiting for room like reserve (never from the loop
// goroutine). region names the trace region of a wait.
func (l *Loop[S]) put(ctx context.Context, t task[S], region string) error {
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	err := l.q.TryPut(t)
	if err == nil {
		return nil
	}
	if errors.Is(err, queue.ErrClosed) {
		return ErrClosed
	}
	if l.onLoop() {
		l.rejected.Add(1)
		return fmt.Errorf("%w (called from a handler, which cannot wait for its own loop)", ErrFull)
	}
	return l.putSlow(ctx, t, region)
}

// putSlow is put's wait for room. A hook that panics drops a Do's handler
// if the loop has not started it; a Post's runs anyway (it is queued).
func (l *Loop[S]) putSlow(ctx context.Context, t task[S], region string) error {
	if trace.IsEnabled() {
		defer trace.StartRegion(ctx, region).End()
	}
	since := fifo.Now()
	// Put, not Reserve then Send: a waiting Put queues t before the next
	// waiting caller is admitted, which is what keeps waiting Do and Post
	// callers in FIFO order when room frees up back to back.
	if err := l.q.Put(ctx, t); err != nil {
		if errors.Is(err, queue.ErrClosed) {
			err = ErrClosed
		}
		return err
	}
	l.reportWait(since, func() {
		if t.c != nil {
			// The Do caller is leaving with the hook's panic: if the loop
			// has not taken the call, it skips fn and recycles it.
			t.c.state.CompareAndSwap(callPending, callAbandoned)
		}
	})
	return nil
}

func check(op string, ctx context.Context, nilFn bool) {
	if ctx == nil {
		panic("loop: " + op + " with nil Context")
	}
	if nilFn {
		panic("loop: " + op + " with nil function")
	}
}

// Do runs fn on the loop and waits for it. Handlers run in FIFO order, one
// at a time; while the queue is full, Do waits for room behind earlier
// callers, like [Loop.Post]. Do returns nil once fn has run. If ctx ends
// before fn starts, fn never runs and Do returns ctx.Err(); once fn has
// started, Do waits for it to finish (so fn never runs behind its caller's
// back) and returns nil. It returns [ErrClosed] at once if the loop is
// closed before fn starts. If fn panics, Do panics with a *[PanicError] on
// the caller's goroutine and the loop goes on. If fn calls
// runtime.Goexit, the loop closes and Do panics with a *PanicError whose
// Goexit is set.
//
// Called from a handler of the same loop, Do would wait for itself: it
// panics instead. It panics if ctx or fn is nil.
func (l *Loop[S]) Do(ctx context.Context, fn func(*S)) error {
	check("Do", ctx, fn == nil)
	return l.do(ctx, task[S]{fn: fn}, "Do", "sluice/loop: Do wait")
}

// DoNamed is [Loop.Do] with a name for the watchdog's reports (and a
// *PanicError's Op).
func (l *Loop[S]) DoNamed(ctx context.Context, name string, fn func(*S)) error {
	check("DoNamed", ctx, fn == nil)
	return l.do(ctx, task[S]{fn: fn, label: name}, "DoNamed", "sluice/loop: DoNamed wait")
}

// do is Do and DoNamed; op names the method for its panic, region the
// trace region of a wait for room.
func (l *Loop[S]) do(ctx context.Context, t task[S], op, region string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	// A handler calling Do on its own loop would wait forever. Asking
	// "am I the loop goroutine?" costs a stack read, so only when a
	// handler is running at all.
	if l.busy.Load() && l.onLoop() {
		panic("loop: " + op + " called from a handler of the same loop (it would wait for itself); use the *S the handler has")
	}
	c := l.calls.Get().(*call)
	c.state.Store(callPending)
	t.c = c
	if err := l.put(ctx, t, region); err != nil {
		l.calls.Put(c) // never queued: nobody else holds it
		return err
	}
	var err error
	select {
	case <-c.done:
		return l.answer(c)
	case <-ctx.Done():
		err = ctx.Err()
	case <-l.closing:
		// Close fails a waiting Do at once, even while the loop is still
		// busy with a handler queued ahead of this one.
		err = ErrClosed
	}
	if c.state.CompareAndSwap(callPending, callAbandoned) {
		// The loop will see callAbandoned, skip fn and recycle c.
		if err != ErrClosed {
			l.abandoned.Add(1)
		}
		return err
	}
	// The loop took it first: fn runs or ran (or the loop closed); wait
	// for the answer.
	<-c.done
	return l.answer(c)
}

func (l *Loop[S]) answer(c *call) error {
	st, pe := c.state.Load(), c.pe
	c.pe = nil
	l.calls.Put(c)
	if st == callClosed {
		return ErrClosed
	}
	if pe != nil {
		panic(pe)
	}
	return nil
}

// Post queues fn to run on the loop and returns without waiting for it.
// It waits for room while the queue is full (FIFO, behind earlier
// callers), and returns ctx.Err() if ctx ends first. Called from a handler
// of the same loop, it never waits: it returns [ErrFull] if there is no
// room. It returns [ErrClosed] once the loop is closed; fn queued before
// Close but not started never runs. A panic in fn is not recovered: it
// ends the program, as on any goroutine. It panics if ctx or fn is nil.
func (l *Loop[S]) Post(ctx context.Context, fn func(*S)) error {
	check("Post", ctx, fn == nil)
	return l.put(ctx, task[S]{fn: fn}, "sluice/loop: Post wait")
}

// PostNamed is [Loop.Post] with a name for the watchdog's reports.
func (l *Loop[S]) PostNamed(ctx context.Context, name string, fn func(*S)) error {
	check("PostNamed", ctx, fn == nil)
	return l.put(ctx, task[S]{fn: fn, label: name}, "sluice/loop: PostNamed wait")
}

// TryPost queues fn if there is room now and nobody is waiting for room,
// and returns [ErrFull] otherwise ([ErrClosed] once closed). It never
// waits. It panics if fn is nil.
func (l *Loop[S]) TryPost(fn func(*S)) error {
	if fn == nil {
		panic("loop: TryPost with nil function")
	}
	r, err := l.q.TryReserve()
	switch {
	case errors.Is(err, queue.ErrClosed):
		return ErrClosed
	case err != nil:
		l.rejected.Add(1)
		return ErrFull
	}
	if r.Send(task[S]{fn: fn}) != nil {
		return ErrClosed
	}
	return nil
}

// Close closes the loop: calls waiting for room and every later call fail
// with [ErrClosed]; handlers queued and not started never run (their Do
// callers get ErrClosed at once); offloaded work sees its ctx cancelled,
// works not started never run, and results not yet run are dropped. A
// handler that is running finishes. Close does not wait; use [Loop.Wait].
// It is idempotent and may be called from a handler.
func (l *Loop[S]) Close() {
	// closed is set before the running works are cancelled: a running
	// work that returns because of the cancel frees its worker, and the
	// works that worker takes next must find the loop closed and not run.
	if !l.closed.CompareAndSwap(false, true) {
		return
	}
	// The queue is closed before anything else: a work the cancel ends,
	// or one dropped unstarted, gives its room back, and that room must
	// not let in a caller that was waiting for it when Close was called
	// (its call would return nil and its handler never run).
	l.q.Close()
	l.cancel() // also fails every Do still waiting for its handler to start
	if l.testHookCancelled != nil {
		l.testHookCancelled()
	}
}

// Wait blocks until the loop has ended after Close: the running handler
// has returned, offloaded work has returned, and every goroutine the loop
// started has exited. It returns ctx.Err() if ctx ends first. Without
// Close it waits until ctx ends. It panics if ctx is nil.
func (l *Loop[S]) Wait(ctx context.Context) error {
	if ctx == nil {
		panic("loop: Wait with nil Context")
	}
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats is a snapshot of a loop. The handler lane has the queue's names
// (Capacity, Reserved, Queued, InUse, Waiting); the offload lane is
// prefixed.
type Stats struct {
	Capacity int64 // room for handlers queued or running, Offload results included
	Queued   int64 // handlers queued, not yet started
	Reserved int64 // room held for results of offloaded work not yet delivered
	InUse    int64 // handlers running now: 0 or 1
	Waiting  int64 // callers waiting for room
	// OldestWait is how long the caller waiting longest for room now has
	// waited, from when it began to wait; 0 when none waits.
	OldestWait time.Duration
	// Admitted counts the calls let in: Do, DoNamed, Post, PostNamed,
	// TryPost and Offload calls given room in the queue, at once or after
	// a wait. (The queue's own total, so it costs the fast path nothing.
	// A call given room whose send then found the loop closed counts too,
	// and returns ErrClosed.)
	Admitted int64
	// Cancelled counts the calls whose ctx ended while they waited: for
	// room (Do, Post, Offload), or, for a Do, for its handler to start (the
	// handler then never runs). A ctx already done on entry is not a wait
	// and is not counted.
	Cancelled int64
	// Rejected counts the calls refused at once with ErrFull: TryPost,
	// and Post, Offload or Do's siblings called from a handler with no
	// room.
	Rejected int64
	// Handled counts handlers that ran. (Not Admitted: a Do abandoned
	// before its handler started, or a handler dropped by Close, was let
	// into the queue but never ran.)
	Handled int64
	// Panicked counts handlers and offloaded works that panicked or
	// called runtime.Goexit. Only a Do handler's panic leaves the program
	// running; any other panic ends it.
	Panicked int64

	OffloadCapacity int64 // the most offloaded works that run at once
	OffloadInUse    int64 // offloaded works running now
	OffloadQueued   int64 // offloaded works admitted, waiting for a worker
	// OffloadOldestWait is how long the work waiting longest for a worker
	// has waited since Offload admitted it; 0 when none waits. Only works
	// admitted while every worker was busy are timed (the others start at
	// once), so Offload reads the clock only then.
	OffloadOldestWait time.Duration

	SlowReports int64 // watchdog reports so far
	Closed      bool  // Close has been called
}

// Stats returns a snapshot. Fields are read one after another, so while
// the loop is busy they may disagree by the handlers moving at that
// moment.
func (l *Loop[S]) Stats() Stats {
	qs := l.q.Stats()
	l.curMu.Lock()
	handled := l.curSeq
	busy := l.busy.Load()
	if busy {
		handled--
	}
	l.curMu.Unlock()
	var inUse int64
	if busy {
		inUse = 1
	}
	return Stats{
		Capacity:          int64(qs.Capacity),
		Queued:            int64(qs.Queued),
		Reserved:          int64(qs.Reserved),
		InUse:             inUse,
		Waiting:           int64(qs.Waiting),
		OldestWait:        qs.OldestWait,
		Admitted:          qs.Admitted,
		Cancelled:         qs.Cancelled + l.abandoned.Load(),
		Rejected:          l.rejected.Load(),
		Handled:           int64(handled),
		Panicked:          l.panicked.Load(),
		OffloadCapacity:   int64(l.cfg.workers),
		OffloadInUse:      l.offRunning.Load(),
		OffloadQueued:     l.offQueued.Load(),
		OffloadOldestWait: l.offWaits.oldest(),
		SlowReports:       l.slow.Load(),
		Closed:            l.closed.Load(),
	}
}
