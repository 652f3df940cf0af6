// Package loop provides a single-owner loop: one goroutine owns a state
// value and runs handlers on it one at a time, so the state needs no lock;
// blocking work goes off the loop through [Offload], and a watchdog names
// any handler that blocks the loop anyway.
//
// Use it for an actor, a dispatcher, or any select loop that owns state and
// serves requests one at a time. Seed 003 is what goes wrong without it: a
// scoring pipeline's event loop called blocking HTTP helpers, so one slow
// call stalled every other task, and nothing said which call it was. With
// a Loop, blocking work is written as
//
//	loop.Offload(l, ctx, fetch, func(s *State, res Result, err error) { ... })
//
// and runs on a bounded set of workers; its result comes back onto the
// loop as a handler. A handler that blocks anyway is reported, with its
// name and the loop goroutine's stack, once it has run longer than a
// threshold.
//
// [Cache] is the seed's other fix: a cache that stores only results a
// validation function accepts, with one fetch per key at a time.
//
// # Invariants
//
//   - Handlers run one at a time, on the loop's goroutine, in the order
//     they were queued (FIFO). The state is only ever touched by them.
//   - Everything waiting to run is held in a [queue.Queue] of fixed size:
//     a flood of Do and Post calls waits for room (FIFO, ctx-aware) or
//     fails with [ErrFull] (TryPost, and calls from a handler, which must
//     not wait for their own loop); memory never grows with the flood.
//     Do and Post callers waiting for room are admitted in arrival order,
//     and each queues its handler before the next is admitted, so their
//     handlers run in arrival order however fast room frees up.
//   - Offloaded work holds room in that queue for its result from the
//     moment it is admitted, so delivering the result never fails for
//     lack of room. At most the configured number of works run at once;
//     the rest wait in FIFO order.
//   - Nothing waits for its own loop: from a handler, Post and Offload
//     fail with [ErrFull] instead of waiting for room, and Do (which would
//     wait for itself) panics.
//   - [Loop.Close] fails every waiting and later call with [ErrClosed];
//     handlers queued but not started never run (a Do waiting for one
//     gets ErrClosed); offloaded work sees its ctx cancelled and its
//     result is dropped. A handler already running finishes. [Loop.Wait]
//     returns once every goroutine the loop started has exited.
//   - A handler's panic reaches its Do caller (as a *[PanicError]) and the
//     loop goes on; with nobody waiting (Post, Offload results) it ends
//     the program, as on any goroutine. A handler that calls
//     runtime.Goexit ends the loop goroutine, so the loop closes.
package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/queue"
)

// ErrClosed is returned by every call made after, or waiting at the time
// of, [Loop.Close].
var ErrClosed = errors.New("loop: closed")

// ErrFull is returned by TryPost when the queue has no room now, and by
// Post and Offload when they are called from a handler of the same loop
// and the queue is full: waiting there would wait for the loop itself.
var ErrFull = errors.New("loop: queue full")

// Defaults.
const (
	DefaultQueueSize     = 256
	DefaultWorkers       = 16
	DefaultSlowThreshold = 100 * time.Millisecond // asyncio's slow-callback threshold
)

// Slow is the watchdog's report on a handler that has run longer than the
// threshold (reported at most a quarter threshold late). A handler that
// keeps running is reported again each time its running time doubles (at
// 1, 2, 4, ... times the threshold).
type Slow struct {
	// Name is the handler's name: the one given to DoNamed or PostNamed,
	// otherwise its function and source position (for an Offload result,
	// the then function's).
	Name string
	// Running is how long the handler has run so far, at least: the
	// watchdog times a handler from when it first sees it running, which
	// is when it starts on an idle loop and at most a quarter threshold
	// after it starts on a busy one.
	Running time.Duration
	// Stack is the loop goroutine's stack when the report was made: it
	// shows the call the handler is blocked in.
	Stack string
	// Report counts the reports on this handler: 1, 2, 3...
	Report int
}

// Option configures a Loop. Options panic on bad values.
type Option func(*config)

type config struct {
	queueSize int
	workers   int
	slow      time.Duration
	onSlow    func(Slow)
}

// WithQueueSize sets how many handlers may be queued or running at once,
// results of offloaded work in flight included (default
// [DefaultQueueSize]). It panics if n is not positive.
func WithQueueSize(n int) Option {
	if n <= 0 {
		panic(fmt.Sprintf("loop: WithQueueSize(%d): size must be positive", n))
	}
	return func(c *config) { c.queueSize = n }
}

// WithWorkers sets how many offloaded works may run at once (default
// [DefaultWorkers]). It panics if n is not positive.
func WithWorkers(n int) Option {
	if n <= 0 {
		panic(fmt.Sprintf("loop: WithWorkers(%d): worker count must be positive", n))
	}
	return func(c *config) { c.workers = n }
}

// WithSlowThreshold sets how long a handler may run before the watchdog
// reports it (default [DefaultSlowThreshold]). It panics if d is not
// positive.
func WithSlowThreshold(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("loop: WithSlowThreshold(%v): threshold must be positive", d))
	}
	return func(c *config) { c.slow = d }
}

// WithSlowHook sets the function the watchdog calls with each report. It
// runs on the watchdog's goroutine, never on the loop's. The default logs
// a warning with [slog.Default]. It panics if fn is nil.
func WithSlowHook(fn func(Slow)) Option {
	if fn == nil {
		panic("loop: WithSlowHook(nil): hook must not be nil")
	}
	return func(c *config) { c.onSlow = fn }
}

func logSlow(s Slow) {
	slog.Default().Warn("loop: slow handler blocks the loop",
		"handler", s.Name, "running", s.Running, "report", s.Report, "stack", s.Stack)
}

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
	curMu    sync.Mutex
	cur      task[S]
	curSeq   uint64 // handlers started so far
	wdParked bool   // the watchdog waits on kick for the next handler
	busy     atomic.Bool
	kick     chan struct{} // buffered(1)
	stopWD   chan struct{} // closed by the loop goroutine as it ends
	gid      atomic.Uint64 // the loop goroutine's id, for stacks
	callPC   uintptr       // return address in (*Loop).call, see onLoop
	goexited bool          // a handler called runtime.Goexit; loop goroutine only

	// Offloaded work.
	jobsMu     sync.Mutex
	jobs       []*job[S] // admitted, waiting for a worker, FIFO
	jobsClosed bool      // set by Close: no new jobs, no new workers
	alive      int       // worker goroutines
	offloading int       // works running now

	wg   sync.WaitGroup // workers and watchdog; Add only under jobsMu before jobsClosed (or in New)
	done chan struct{}  // closed when every goroutine of the loop has exited

	calls sync.Pool // *call, per loop so channels never cross synctest bubbles
	slow  atomic.Uint64

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
	state    atomic.Int32
	done     chan struct{} // buffered(1): the loop's answer
	panicVal any
	stack    []byte
}

const (
	callPending int32 = iota
	callRunning
	callAbandoned
	callRan
	callClosed
)

type job[S any] struct {
	ctx  context.Context
	work func(context.Context) func(*S)
	r    queue.Reservation[task[S]]
	then any // for the label
}

// New starts a loop that owns state and returns it. It starts two
// goroutines (the loop and its watchdog); offload workers start when work
// arrives and exit when there is none. Close the loop and Wait for it to
// end them.
//
// Inside a testing/synctest bubble, create the loop in the bubble that
// uses it.
func New[S any](state S, opts ...Option) *Loop[S] {
	cfg := config{
		queueSize: DefaultQueueSize,
		workers:   DefaultWorkers,
		slow:      DefaultSlowThreshold,
		onSlow:    logSlow,
	}
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

// run is the loop goroutine.
func (l *Loop[S]) run(started chan struct{}) {
	l.gid.Store(goid())
	l.call(func(*S) {
		// Record the return address into call, which every handler has
		// below it on the stack; see onLoop.
		var pcs [1]uintptr
		runtime.Callers(2, pcs[:])
		l.callPC = pcs[0]
	}, false)
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
// the watchdog, waits for the workers, and marks the loop done.
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
			t.c.panicVal = errGoexit
			t.c.state.Store(callRan)
			t.c.done <- struct{}{}
		}
	}()
	// For Post and Offload results nobody waits, so a panic is not
	// recovered; it ends the program like a panic on any goroutine.
	p, stack := l.call(t.fn, t.c != nil)
	returned = true

	l.busy.Store(false)
	it.Done() // before answering, so the caller's next Do finds room
	if t.c != nil {
		t.c.panicVal, t.c.stack = p, stack
		t.c.state.Store(callRan)
		t.c.done <- struct{}{}
	}
}

// call runs fn. If catch is set (a Do caller waits), a panic is recovered
// and returned, so that it can reach the caller; otherwise it is re-raised
// (the deferred call runs on top of the panicking frames, so the crash
// still shows where it happened). A runtime.Goexit is noted and goes on.
// Every handler runs from here, so the return address of the fn call is
// on the stack of anything a handler calls (see onLoop).
//
//go:noinline
func (l *Loop[S]) call(fn func(*S), catch bool) (p any, stack []byte) {
	normal := false
	defer func() {
		if normal {
			return
		}
		r := recover()
		if r == nil { // Goexit: since Go 1.21, panic(nil) recovers non-nil
			l.goexited = true
			return
		}
		if !catch {
			panic(r)
		}
		p, stack = r, debug.Stack()
	}()
	fn(&l.state)
	normal = true
	return nil, nil
}

var errGoexit = errors.New("loop: handler called runtime.Goexit; the loop is closed")

// PanicError is what Do panics with, on the caller's goroutine, when its
// handler panicked on the loop. The loop itself goes on.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the loop goroutine's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("loop: handler panicked: %v\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
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
		return r, fmt.Errorf("%w (called from a handler, which cannot wait for its own loop)", ErrFull)
	}
	r, err = l.q.Reserve(ctx)
	if errors.Is(err, queue.ErrClosed) {
		err = ErrClosed
	}
	return r, err
}

// put queues t, waiting for room like reserve (never from the loop
// goroutine).
func (l *Loop[S]) put(ctx context.Context, t task[S]) error {
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
		return fmt.Errorf("%w (called from a handler, which cannot wait for its own loop)", ErrFull)
	}
	// Put, not Reserve then Send: a waiting Put queues t before the next
	// waiting caller is admitted, which is what keeps waiting Do and Post
	// callers in FIFO order when room frees up back to back.
	err = l.q.Put(ctx, t)
	if errors.Is(err, queue.ErrClosed) {
		err = ErrClosed
	}
	return err
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
// callers, like [Loop.Post]. Do returns nil once fn has run. If ctx ends before fn starts,
// fn never runs and Do returns ctx.Err(); once fn has started, Do waits
// for it to finish (so fn never runs behind its caller's back) and returns
// nil. It returns [ErrClosed] at once if the loop is closed before fn
// starts. If fn panics, Do panics with a *[PanicError] on the caller's
// goroutine and the loop goes on. If fn calls runtime.Goexit, the loop
// closes and Do panics with a *PanicError whose Value is an error saying
// so.
//
// Called from a handler of the same loop, Do would wait for itself: it
// panics instead. It panics if ctx or fn is nil.
func (l *Loop[S]) Do(ctx context.Context, fn func(*S)) error {
	check("Do", ctx, fn == nil)
	return l.do(ctx, task[S]{fn: fn}, "Do")
}

// DoNamed is [Loop.Do] with a name for the watchdog's reports.
func (l *Loop[S]) DoNamed(ctx context.Context, name string, fn func(*S)) error {
	check("DoNamed", ctx, fn == nil)
	return l.do(ctx, task[S]{fn: fn, label: name}, "DoNamed")
}

func (l *Loop[S]) do(ctx context.Context, t task[S], op string) error {
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
	if err := l.put(ctx, t); err != nil {
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
		return err
	}
	// The loop took it first: fn runs or ran (or the loop closed); wait
	// for the answer.
	<-c.done
	return l.answer(c)
}

func (l *Loop[S]) answer(c *call) error {
	st, p, stack := c.state.Load(), c.panicVal, c.stack
	c.panicVal, c.stack = nil, nil
	l.calls.Put(c)
	if st == callClosed {
		return ErrClosed
	}
	if p != nil {
		panic(&PanicError{Value: p, Stack: stack})
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
	return l.put(ctx, task[S]{fn: fn})
}

// PostNamed is [Loop.Post] with a name for the watchdog's reports.
func (l *Loop[S]) PostNamed(ctx context.Context, name string, fn func(*S)) error {
	check("PostNamed", ctx, fn == nil)
	return l.put(ctx, task[S]{fn: fn, label: name})
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
		return ErrFull
	}
	if r.Send(task[S]{fn: fn}) != nil {
		return ErrClosed
	}
	return nil
}

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
// runs, then never runs. A panic in work or then is not recovered. It
// panics if l, ctx, work or then is nil.
//
// work must not wait for room in the same loop (Do, Post, Offload): the
// room its own result holds comes back only after work returns, so when
// the queue is full of such rooms that wait lasts until work's ctx ends.
// Return what the loop needs and use it in then, or use TryPost.
func Offload[S, R any](l *Loop[S], ctx context.Context, work func(context.Context) (R, error), then func(*S, R, error)) error {
	if l == nil {
		panic("loop: Offload with nil Loop")
	}
	check("Offload", ctx, false)
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
	j := &job[S]{
		ctx: ctx,
		work: func(ctx context.Context) func(*S) {
			res, err := work(ctx)
			return func(s *S) { then(s, res, err) }
		},
		r:    r,
		then: then,
	}
	l.jobsMu.Lock()
	if l.jobsClosed {
		l.jobsMu.Unlock()
		r.Cancel()
		return ErrClosed
	}
	l.jobs = append(l.jobs, j)
	if l.alive < l.cfg.workers {
		l.alive++
		l.wg.Add(1) // under jobsMu and before jobsClosed: never races wg.Wait
		go l.worker()
	}
	l.jobsMu.Unlock()
	return nil
}

// worker runs admitted jobs until there are none left, then exits.
func (l *Loop[S]) worker() {
	exited := false
	defer func() {
		if !exited {
			// work called runtime.Goexit and took this goroutine with it:
			// hand the remaining jobs to a new worker.
			l.jobsMu.Lock()
			if len(l.jobs) > 0 && !l.jobsClosed {
				l.wg.Add(1)
				go l.worker()
			} else {
				l.alive--
			}
			l.jobsMu.Unlock()
		}
		l.wg.Done()
	}()
	for {
		l.jobsMu.Lock()
		if len(l.jobs) == 0 {
			l.alive--
			l.jobsMu.Unlock()
			exited = true
			return
		}
		j := l.jobs[0]
		l.jobs[0] = nil
		l.jobs = l.jobs[1:]
		l.offloading++
		l.jobsMu.Unlock()
		l.runJob(j)
	}
}

// runJob runs one job's work and delivers its result onto the loop.
func (l *Loop[S]) runJob(j *job[S]) {
	ctx, cancel := context.WithCancel(j.ctx)
	stop := context.AfterFunc(l.life, cancel)
	var then func(*S)
	defer func() {
		stop()
		cancel()
		l.jobsMu.Lock()
		l.offloading--
		l.jobsMu.Unlock()
		if then == nil {
			j.r.Cancel() // work did not return (Goexit): give the room back
			return
		}
		// Never fails for lack of room: j.r has held it since admission.
		// After Close it fails and the result is dropped.
		_ = j.r.Send(task[S]{fn: then, label: j.then})
	}()
	then = j.work(ctx)
}

// Close closes the loop: calls waiting for room and every later call fail
// with [ErrClosed]; handlers queued and not started never run (their Do
// callers get ErrClosed at once); offloaded work sees its ctx cancelled,
// works not started never run, and results not yet run are dropped. A
// handler that is running finishes. Close does not wait; use [Loop.Wait].
// It is idempotent and may be called from a handler.
func (l *Loop[S]) Close() {
	if !l.closed.CompareAndSwap(false, true) {
		return
	}
	// Take the works not started before cancelling the running ones: a
	// running work that returns because of the cancel frees its worker,
	// which must then find no queued work to start.
	l.jobsMu.Lock()
	l.jobsClosed = true
	pending := l.jobs
	l.jobs = nil
	l.jobsMu.Unlock()
	l.cancel() // also fails every Do still waiting for its handler to start
	if l.testHookCancelled != nil {
		l.testHookCancelled()
	}
	for _, j := range pending {
		j.r.Cancel()
	}
	l.q.Close()
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

// Stats is a snapshot of a loop.
type Stats struct {
	QueueSize     int    // room for handlers queued or running, Offload results included
	Queued        int    // handlers queued, not yet started
	Reserved      int    // room held for results of offloaded work not yet delivered
	Waiting       int    // callers waiting for room
	Running       bool   // a handler is running now
	Handled       uint64 // handlers run so far
	Workers       int    // the most offloaded works that run at once
	Offloading    int    // offloaded works running now
	OffloadQueued int    // offloaded works admitted, waiting for a worker
	SlowReports   uint64 // watchdog reports so far
	Closed        bool
}

// Stats returns a snapshot. Fields are read one after another, so while
// the loop is busy they may disagree by the handlers moving at that
// moment.
func (l *Loop[S]) Stats() Stats {
	qs := l.q.Stats()
	l.curMu.Lock()
	handled := l.curSeq
	if l.busy.Load() {
		handled--
	}
	l.curMu.Unlock()
	l.jobsMu.Lock()
	offloading, waiting := l.offloading, len(l.jobs)
	l.jobsMu.Unlock()
	return Stats{
		QueueSize:     qs.Capacity,
		Queued:        qs.Queued,
		Reserved:      qs.Reserved,
		Waiting:       qs.Waiting,
		Running:       l.busy.Load(),
		Handled:       handled,
		Workers:       l.cfg.workers,
		Offloading:    offloading,
		OffloadQueued: waiting,
		SlowReports:   l.slow.Load(),
		Closed:        l.closed.Load(),
	}
}

// watchdog reports handlers that run longer than the threshold.
//
// The loop reads no clock; the watchdog times handlers by sight. While the
// loop is busy it looks every quarter threshold (or sooner, when a report
// is due) and notes when it first saw each handler. A handler it still
// sees one threshold after that has run at least the threshold, and at
// most a quarter threshold more: that is when it is reported. When the
// loop has been idle for a whole look, the watchdog parks until the loop
// kicks it as the next handler starts (then it sees that handler start),
// so an idle loop costs nothing and a busy one about four wake-ups per
// threshold.
func (l *Loop[S]) watchdog() {
	defer l.wg.Done()
	slow := l.cfg.slow
	tick := max(slow/4, 1)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		seen  uint64        // curSeq at the previous look
		first time.Time     // when handler `seen` was first seen
		next  time.Duration // report handler `seen` when it has run this long
		count int           // reports on handler `seen` so far
	)
	for {
		l.curMu.Lock()
		busy, seq := l.busy.Load(), l.curSeq
		if !busy && seq == seen {
			l.wdParked = true
			l.curMu.Unlock()
			select {
			case <-l.kick:
				continue
			case <-l.stopWD:
				return
			}
		}
		l.curMu.Unlock()
		now := time.Now()
		if seq != seen {
			seen, first, next, count = seq, now, slow, 0
		}
		wait := tick
		if busy {
			running := now.Sub(first)
			if running >= next {
				if l.report(seq, running, count+1) {
					count++
				}
				// Next report once the running time has doubled past now
				// (saturating: a handler stuck for centuries goes quiet).
				for running >= next && next < math.MaxInt64/2 {
					next *= 2
				}
				if running >= next {
					next = math.MaxInt64
				}
			}
			wait = min(next-running, tick)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-l.stopWD:
			timer.Stop()
			return
		}
	}
}

// report reports handler seq if it is still running, and says whether it
// did.
func (l *Loop[S]) report(seq uint64, running time.Duration, n int) bool {
	l.curMu.Lock()
	if !l.busy.Load() || l.curSeq != seq {
		l.curMu.Unlock()
		return false
	}
	t := l.cur
	l.curMu.Unlock()
	var name string
	switch lb := t.label.(type) {
	case string:
		name = lb
	case nil:
		name = funcName(t.fn)
	default:
		name = funcName(lb)
	}
	stack := goroutineStack(l.gid.Load())
	l.slow.Add(1)
	l.cfg.onSlow(Slow{Name: name, Running: running, Stack: stack, Report: n})
	return true
}

// funcName names a function by its symbol and source position, e.g.
// "main.score.func2 (score.go:41)".
func funcName(fn any) string {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "?"
	}
	f := runtime.FuncForPC(v.Pointer())
	if f == nil {
		return "?"
	}
	file, line := f.FileLine(f.Entry())
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	return fmt.Sprintf("%s (%s:%d)", f.Name(), file, line)
}

// goid returns the calling goroutine's id, read from the first line of its
// stack trace ("goroutine 18 [running]:"). The runtime offers no cheaper
// way; the loop reads it once, at start, and otherwise only on paths that
// are about to fail or wait.
func goid() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		id, err := strconv.ParseUint(s[:i], 10, 64)
		if err == nil {
			return id
		}
	}
	return 0
}

// onLoop reports whether the caller runs on the loop goroutine, that is,
// inside one of its handlers.
//
// Reading the goroutine id costs a stack trace (microseconds), so first a
// cheap test: a handler's stack holds the return address of the fn call
// in (*Loop).call, recorded at start. If the caller's stack has no such
// frame it is not in a handler of any Loop of this shape. If it has one,
// the goroutine id says whether the handler is this loop's. A stack too
// deep to search goes straight to the id.
func (l *Loop[S]) onLoop() bool {
	id := l.gid.Load()
	if id == 0 {
		return false
	}
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	if n < len(pcs) {
		found := false
		for _, pc := range pcs[:n] {
			if pc == l.callPC {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return goid() == id
}

// goroutineStack returns the stack of goroutine id. Go has no call that
// dumps another goroutine's stack, so this dumps all of them
// (runtime.Stack with all=true, which briefly stops the world) and keeps
// the one whose header names id. The watchdog only does this for a handler
// that is already slow.
func goroutineStack(id uint64) string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	head := "goroutine " + strconv.FormatUint(id, 10) + " ["
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, head) {
			return g
		}
	}
	return "(loop goroutine not found)"
}
