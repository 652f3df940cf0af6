package pool

import (
	"context"
	"fmt"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/sem"
)

// Option configures a Pool. Pass options last to [New] or [Shared]; a nil
// Option panics.
type Option func(*config)

type config struct {
	cancelOnError bool
	collect       bool
	queue         int
}

// WithCancelOnError makes the first task error cancel the group's context,
// with that error as the cause. Go calls blocked at that moment return
// the context's error, and their tasks never run.
func WithCancelOnError() Option { return func(c *config) { c.cancelOnError = true } }

// WithCollectErrors makes Wait return every task error joined with
// errors.Join, in the order the tasks returned, instead of the first one.
func WithCollectErrors() Option { return func(c *config) { c.collect = true } }

// WithQueueSize sets how many admitted tasks may wait in the group's
// hand-off queue for a running worker. The default is the limit (the
// semaphore's size for [Shared]) or 64, whichever is larger, capped at
// 4096. 0 makes Go return only once its task holds a slot. It panics if n
// is negative.
//
// A submitter that finds the queue full blocks, and is woken once the
// queue is half empty; the other half must last the workers until the
// submitter runs again, or they find the queue empty and exit, and the
// next Go starts a goroutine again. That is why the default is at least
// 64: a small queue makes tiny tasks cost a goroutine start every few Go
// calls (bench/pool_test.go measures it).
func WithQueueSize(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("pool: WithQueueSize(%d): negative size", n))
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

	labels context.Context // carries the workers' pprof labels (see worker)

	mu         sync.Mutex
	queue      ring                       // admitted tasks not yet started (ring.go)
	blocked    fifo.List[waiter, *waiter] // Go calls blocked until admitted, oldest first (admit.go)
	running    int                        // workers, each holding one slot
	acquiring  fifo.List[waiter, *waiter] // Go calls waiting on the semaphore (admit.go)
	leaving    int                        // Go calls failed by Close, not yet returned
	done       bool                       // Wait has returned
	closed     bool                       // Close has been called
	idle       chan struct{}              // made by Wait; closed once nothing runs, is queued or is in Go
	free       []*waiter                  // recycled waiters (per group: channels stay in one synctest bubble)
	acqCtx     context.Context            // what Go calls wait on the semaphore with; see acquireCtxLocked
	acqCancel  context.CancelFunc         // cancels acqCtx; called by Close
	firstErr   error
	errs       []error
	panicked   *PanicError
	completed  int64
	failed     int64
	nPanicked  int64
	admitted   int64 // the totals of Stats
	cancelled  int64
	rejected   int64
	cancelSent bool

	hooks fifo.Hooks // OnWait's

	workers sync.WaitGroup // every goroutine the group started

	// goroutines counts the group's goroutines from the moment spawn
	// starts one until it gives its slot back (after which it only
	// returns), so it never exceeds the slots the group holds. Tests read
	// it: unlike runtime.NumGoroutine it counts only what the group owns,
	// and exactly.
	goroutines atomic.Int64
}

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
//
// Go and TryGo ask s for a free slot with TryAcquire before they wait, so
// a call that finds s full counts in s's Stats().Rejected (a group on
// slots of its own skips the question while its workers hold every slot).
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
	p := &Pool{sem: s, shared: shared, cfg: cfg, queue: newRing(cfg.queue)}
	p.ctx, p.cancel = context.WithCancelCause(ctx)
	// Made once here, so that starting a worker costs no allocation for
	// its labels. Derived from ctx, so a caller's own labels carry over.
	p.labels = pprof.WithLabels(ctx, pprof.Labels("sluice", "pool worker"))
	return p
}

// Context returns the group's context: the one every task receives. It is
// cancelled when the parent is, on the first error with
// [WithCancelOnError], when a task panics, and when Wait returns. Close
// does not cancel it.
func (p *Pool) Context() context.Context {
	if p == nil || p.sem == nil {
		badPool(p, "Context")
	}
	return p.ctx
}

// Go admits fn to the group, blocking while the group has no free slot
// and its hand-off queue is full. It returns nil once fn is admitted (fn
// will run). A Go call that finds no worker running and no free slot
// waits on the semaphore itself, in its FIFO order (see package sem);
// others wait in the group's own line, in arrival order, for a worker to
// admit them. It returns [ErrClosed] once Close has been called (also when
// Close is called while Go waits), the context's error if the group's
// context ends first, sem.ErrClosed if the shared semaphore is closed, and
// [ErrDone] after Wait has returned; then fn never runs. It panics if fn
// is nil.
func (p *Pool) Go(fn Task) error {
	if p == nil || p.sem == nil {
		badPool(p, "Go")
	}
	if fn == nil {
		panic("pool: Go with nil func")
	}
	done := p.ctx.Done()
	p.mu.Lock()
	// Closed before done: a Go that races with a shutdown (Close, then
	// Wait) sees ErrClosed whether or not Wait has returned yet.
	if p.closed {
		p.rejected++
		p.mu.Unlock()
		return ErrClosed
	}
	if p.done {
		p.rejected++
		p.mu.Unlock()
		return ErrDone
	}
	select {
	case <-done:
		p.rejected++
		p.mu.Unlock()
		return p.ctx.Err()
	default:
	}
	if p.admitLocked(fn) {
		return nil // admitLocked unlocked
	}
	return p.goWait(fn, done)
}

// goWait is Go for a call that has to wait: in the blocked list, or on the
// semaphore. Apart from Go, so that Go's fast path carries no defer, reads
// no clock and starts no trace region. Called with mu held; returns with
// it released.
func (p *Pool) goWait(fn Task, done <-chan struct{}) error {
	if trace.IsEnabled() {
		defer trace.StartRegion(p.ctx, regionGo).End()
	}
	start := fifo.Now()
	if p.running == 0 {
		// No worker will ever look at the queue: wait on the semaphore
		// ourselves, in its FIFO order.
		w := p.getWaiterLocked(fn)
		w.start = start
		p.acquiring.PushBack(w)
		return p.acquireCounted(w)
	}
	return p.waitAdmission(fn, done, start)
}

// regionGo is the runtime/trace region around a Go call that waits.
const regionGo = "sluice/pool: Go wait"

// TryGo admits fn if it can without blocking (a slot is free, or there is
// room in the hand-off queue behind running workers) and reports whether
// it did. It returns false once the group's context has ended, Close has
// been called or Wait has returned. It panics if fn is nil.
func (p *Pool) TryGo(fn Task) bool {
	if p == nil || p.sem == nil {
		badPool(p, "TryGo")
	}
	if fn == nil {
		panic("pool: TryGo with nil func")
	}
	p.mu.Lock()
	if p.closed || p.done || p.ctx.Err() != nil {
		p.rejected++
		p.mu.Unlock()
		return false
	}
	if p.admitLocked(fn) {
		return true
	}
	p.rejected++
	p.mu.Unlock()
	return false
}

// Close stops the group admitting work. Every Go call waiting to be
// admitted (blocked behind a full queue, or waiting on the semaphore for a
// slot) returns [ErrClosed] at once, holding nothing, and so does every
// later Go call; TryGo returns false. Tasks already admitted, running or
// in the hand-off queue, still run to the end on the slots the group
// holds, and see the group's context as it is: Close does not cancel it
// (cancel the parent for that).
//
// Close does not wait. Call [Pool.Wait] for the tasks' results: Wait, made
// before, during or after Close, returns once the admitted tasks have
// returned and the Go calls Close failed have returned, with the same
// result it would have had without Close (Close adds no error of its
// own). After Close, Go returns ErrClosed even once Wait has returned.
//
// With [Shared], Close concerns this group only: it does not close the
// semaphore, and other groups on it carry on. This group's Go calls that
// wait on the semaphore leave its FIFO (the waiters behind them move up),
// and its workers give their slots back as the admitted tasks finish.
//
// Close is idempotent, and safe to call concurrently with every method,
// from any goroutine, including from inside a task.
func (p *Pool) Close() {
	if p == nil || p.sem == nil {
		badPool(p, "Close")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.failBlockedLocked()
	cancel := p.acqCancel
	p.mu.Unlock()
	if cancel != nil {
		// The Go calls waiting on the semaphore wake up, see closed and
		// return ErrClosed (acquireCounted). Outside mu, as every cancel.
		cancel()
	}
}

// Wait blocks until every admitted task has returned and every Go call in
// progress has finished, then finishes the group: it cancels the group's
// context and makes later Go calls fail with [ErrDone] ([ErrClosed] if
// Close was called). It returns the first task error (every error joined,
// with [WithCollectErrors]); if a task panicked it panics with a
// *[PanicError] instead. Wait may be called more than once; each call
// returns (or panics with) the same result. See [Pool.Close] for how the
// two go together.
//
// Wait itself is not cancellable: cancel the group's parent context (or
// Close the group) to make blocked Go calls return early; Close lets the
// admitted tasks run on, cancelling the parent makes them see a cancelled
// context. A task must not call Wait on its own group: Wait would wait
// for that task.
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
	err, pe := p.resultLocked()
	p.mu.Unlock()
	// The last workers may still be giving their slots back.
	p.workers.Wait()
	p.cancel(context.Canceled)
	if pe != nil {
		panic(pe)
	}
	return err
}

// Stats is a snapshot of a group, in the vocabulary every sluice package
// uses (see the README's Conventions). The totals count since New and
// never go down.
type Stats struct {
	Capacity int64 // slots: the limit, or the shared semaphore's size
	InUse    int64 // workers, each holding one slot
	Waiting  int64 // Go calls waiting to be admitted
	Queued   int64 // admitted tasks waiting in the hand-off queue

	// Admitted counts the tasks admitted: Go calls that returned nil and
	// TryGo calls that returned true, at once or after a wait. A task is
	// counted when it is admitted (a worker takes it or moves it into the
	// queue), a moment before its Go call returns.
	Admitted int64
	// Cancelled counts the Go calls that waited (in the group's line or on
	// the semaphore) and returned the context's error because the group's
	// context ended first.
	Cancelled int64
	// Rejected counts the calls refused at once: TryGo returning false,
	// and Go returning ErrClosed, ErrDone or the context's error without
	// waiting. (Go calls failed by Close, or by a closed shared semaphore,
	// while they waited count in no total.)
	Rejected int64

	Completed int64 // tasks that returned, panicked or called runtime.Goexit
	Failed    int64 // tasks that returned an error
	Panicked  int64 // tasks that panicked or called runtime.Goexit

	// OldestWait is how long the longest-waiting current Go call has
	// waited, measured from when it began to wait (a call moved from the
	// group's line to the semaphore keeps its start); 0 when none waits.
	OldestWait time.Duration

	Done   bool // Wait has returned
	Closed bool // Close has been called
}

// Stats returns a snapshot, read under the group's lock. With [Shared],
// InUse counts this group's slots only; the semaphore's Stats count every
// group's. While Go calls wait, it reads the clock.
func (p *Pool) Stats() Stats {
	if p == nil || p.sem == nil {
		badPool(p, "Stats")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var oldest time.Duration
	if w := p.oldestLocked(); w != nil {
		oldest = fifo.Since(w.start)
	}
	return Stats{
		Capacity:   p.sem.Size(),
		InUse:      int64(p.running),
		Waiting:    int64(p.blocked.Len() + p.acquiring.Len()),
		Queued:     int64(p.queue.len()),
		Admitted:   p.admitted,
		Cancelled:  p.cancelled,
		Rejected:   p.rejected,
		Completed:  p.completed,
		Failed:     p.failed,
		Panicked:   p.nPanicked,
		OldestWait: oldest,
		Done:       p.done,
		Closed:     p.closed,
	}
}

// OnWait adds fn to the functions called with each waiting Go call's
// wait, and returns a function that removes it again (idempotent).
//
// fn is called for every Go call that had to wait (in the group's line,
// or on the semaphore for a slot) and was then admitted; never for a task
// admitted at once, for TryGo, or for a call that returned an error. It
// runs on that Go call's goroutine, once the task is admitted and before
// Go returns, with the time since the call began to wait. It must be quick
// (it delays that caller, not the task) and must not panic (Go would
// panic with the task admitted). Several hooks may be added; they run in
// the order added.
//
// OnWait and stop are safe to call at any time, from any goroutine,
// concurrently with Go; a call admitted as stop runs may still call fn
// once. Only Go calls that wait load the hook list. It panics if fn is
// nil.
func (p *Pool) OnWait(fn func(wait time.Duration)) (stop func()) {
	if p == nil || p.sem == nil {
		badPool(p, "OnWait")
	}
	if fn == nil {
		panic("pool: OnWait with nil func")
	}
	return p.hooks.Add(fn)
}
