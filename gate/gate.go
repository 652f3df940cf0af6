// Package gate is admission control for one shared resource that serves
// short reads, exclusive writes and long-lived streams: a storage task, a
// database handle, a cache being rebuilt.
//
// It is seed 004's storage task done right once. That task wedged four
// ways: the 65th reader blocked the loop that also received writes; one
// stuck reader stalled the writer's drain (and shutdown with it); two
// overlapping backpressure mechanisms; stream setup holding a read permit
// across unbounded waits, blocking the drain. A [Gate] has three lanes:
//
//   - Reads ([Gate.Read], [Gate.ReadInline]): up to Config.Readers at once,
//     each under a deadline (Read enforces it; ReadInline passes it through
//     ctx).
//   - Writes ([Gate.Write]): exclusive. A write waits until the reads in
//     flight drain; reads that arrive while it waits queue behind it.
//   - Streams ([Gate.Stream]): long-lived producers in their own lane
//     (Config.Streams). A stream never takes or waits for a read permit and
//     never delays a write: the backend is expected to give a stream a
//     snapshot.
//
// # Invariants
//
//   - At most Config.Readers reads hold a permit at once, and no read holds
//     one while a write runs (a write holds all Readers permits).
//   - A read holds its permit until its fn has returned, even when its
//     caller has already got control back at the deadline. So no write ever
//     overlaps a read that is still running; such a read is counted in
//     [Stats].ReadsOverdue and reported through Config.Hook.
//   - Streams hold only stream slots; reads and writes never wait for them.
//
// # Fairness
//
// Reads and writes share one strict FIFO queue (a [sem.Semaphore] of size
// Readers: a read takes 1 permit, a write takes all of them). A waiting
// write therefore blocks every read that arrives after it, and is served
// before them: writes are never starved by a stream of readers. Reads that
// arrived before a waiting write are admitted before it. Streams have their
// own FIFO queue of Config.Streams slots.
//
// # Deadlines
//
// Every [Gate.Read] has a deadline: Config.ReadDeadline (default 5 s) from
// the call, or the ctx's own deadline if that comes first. It covers both
// the wait for a permit and fn. fn's ctx ends at the deadline. [Gate.Read] runs
// fn on a goroutine the gate owns, so its caller gets an error matching
// [ErrDeadline] (and [context.DeadlineExceeded]) at the deadline even if fn
// ignores its ctx; fn keeps its permit until it returns.
//
// [Gate.ReadInline] is the inline mode, for hot paths whose fn honours its
// ctx: fn runs on the caller's goroutine with the caller's ctx unchanged,
// so the deadline reaches fn through that ctx only (give it one). The read
// deadline still bounds the wait for a permit. Uncontended it costs two
// atomic operations (about 1.3-2.5x an RWMutex read lock when all cores
// hammer it); Read costs a goroutine and a timer per call (about 0.5-2 µs).
//
// The wait for a stream slot is bounded by the read deadline; a running
// stream's ctx ends after Config.StreamLifetime (default 60 s) or at the
// ctx's own deadline, whichever comes first.
//
// Writes have no deadline of their own. A write's wait ends on its ctx or
// on Close; its fn runs on the caller's goroutine under the caller's ctx.
// A write abandoned half way would leave its caller not knowing whether it
// happened, so the gate never returns from a write while its fn runs; give
// ctx a deadline to bound the wait.
//
// # Errors, panics and Close
//
// Errors are [ErrClosed], [*DeadlineError] (matches [ErrDeadline] and
// [context.DeadlineExceeded]), the caller's ctx error (context.Canceled),
// or whatever fn returned.
//
// A panic in fn gives back every permit fn held and then reaches the
// caller. In [Gate.Read] fn runs on the gate's goroutine, so the caller's
// goroutine re-panics with a [*PanicError] that carries the original value
// and stack. In [Gate.ReadInline] and [Gate.Write] fn runs on the caller's
// goroutine and the panic simply propagates. A panic that has no caller to
// reach (a stream, or a read whose caller already returned) is reported
// through Config.Hook as a [Panicked] event.
//
// [Gate.Close] fails every waiter in every lane at once with [ErrClosed]
// and every later call too. Callers of running [Gate.Read] calls get
// ErrClosed at once and their fn's ctx is cancelled; running streams see
// their ctx cancelled; running inline reads and writes are left to finish.
// [Gate.Wait] waits until every admitted fn, overdue ones included, has
// returned.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/sem"
)

// Defaults for the zero fields of a [Config].
const (
	DefaultReaders        = 64
	DefaultStreams        = 8
	DefaultReadDeadline   = 5 * time.Second
	DefaultStreamLifetime = 60 * time.Second
)

// Config configures a [Gate]. A zero field takes its default; a negative
// one makes [New] panic.
type Config struct {
	// Readers is how many reads may hold a permit at once (default 64).
	// A write takes all of them.
	Readers int
	// Streams is how many streams may run at once (default 8).
	Streams int
	// ReadDeadline bounds each read, wait included, from the call (default
	// 5 s); a ctx deadline that comes sooner wins. It also bounds the wait
	// for a stream slot.
	ReadDeadline time.Duration
	// StreamLifetime caps how long a stream's ctx lives once it is admitted
	// (default 60 s); a ctx deadline that comes sooner wins.
	StreamLifetime time.Duration
	// Hook receives the events the gate cannot return to anyone: a read
	// whose caller got control back while fn still runs, that read's fn
	// returning at last, and panics with no caller to reach. It is called
	// synchronously (on the caller's goroutine for Overdue, on the gate's
	// for the others) and must be quick. Nil logs each event with
	// slog.Default().
	Hook func(Event)
}

// ErrClosed is returned by every call that was waiting when the gate was
// closed, and by every call after.
var ErrClosed = errors.New("gate: closed")

// Gate is read / write / stream admission over one resource. Create it
// with [New]; the zero value is not usable. A Gate is safe for concurrent
// use. See the package doc for its invariants, fairness and errors.
type Gate struct {
	readers   *sem.Semaphore // reads take 1, a write takes size
	streams   *sem.Semaphore // one slot per running stream
	size      int64
	deadline  time.Duration
	lifetime  time.Duration
	hook      func(Event)
	closeCtx  context.Context // done once Close is called
	closeFn   context.CancelFunc
	closed    atomic.Bool
	closeOnce sync.Once

	writesWaiting atomic.Int64
	writeActive   atomic.Bool
	overdue       atomic.Int64 // reads whose caller returned while fn runs
	deadlinesHit  atomic.Int64
	goroutines    atomic.Int64 // gate-owned goroutines still running
	shards        [callShards]callShard

	// Wait support. A finishing call signals only while someone waits
	// (idleWaiters > 0), so the common path costs one uncontended load.
	idleWaiters atomic.Int64
	idleMu      sync.Mutex
	idleCh      chan struct{} // closed and replaced on every signal
}

// New returns a gate configured by cfg. It panics, naming the field, if a
// size or duration in cfg is negative, or a size exceeds [sem.MaxSize].
func New(cfg Config) *Gate {
	if cfg.Readers < 0 {
		panic(fmt.Sprintf("gate: New: Config.Readers is %d; it must be positive (0 means %d)", cfg.Readers, DefaultReaders))
	}
	if cfg.Streams < 0 {
		panic(fmt.Sprintf("gate: New: Config.Streams is %d; it must be positive (0 means %d)", cfg.Streams, DefaultStreams))
	}
	if cfg.ReadDeadline < 0 {
		panic(fmt.Sprintf("gate: New: Config.ReadDeadline is %v; it must be positive (0 means %v)", cfg.ReadDeadline, DefaultReadDeadline))
	}
	if cfg.StreamLifetime < 0 {
		panic(fmt.Sprintf("gate: New: Config.StreamLifetime is %v; it must be positive (0 means %v)", cfg.StreamLifetime, DefaultStreamLifetime))
	}
	if int64(cfg.Readers) > sem.MaxSize {
		panic(fmt.Sprintf("gate: New: Config.Readers is %d; it must be at most %d", cfg.Readers, int64(sem.MaxSize)))
	}
	if int64(cfg.Streams) > sem.MaxSize {
		panic(fmt.Sprintf("gate: New: Config.Streams is %d; it must be at most %d", cfg.Streams, int64(sem.MaxSize)))
	}
	if cfg.Readers == 0 {
		cfg.Readers = DefaultReaders
	}
	if cfg.Streams == 0 {
		cfg.Streams = DefaultStreams
	}
	if cfg.ReadDeadline == 0 {
		cfg.ReadDeadline = DefaultReadDeadline
	}
	if cfg.StreamLifetime == 0 {
		cfg.StreamLifetime = DefaultStreamLifetime
	}
	if cfg.Hook == nil {
		cfg.Hook = logEvent
	}
	g := &Gate{
		readers:  sem.New(int64(cfg.Readers)),
		streams:  sem.New(int64(cfg.Streams)),
		size:     int64(cfg.Readers),
		deadline: cfg.ReadDeadline,
		lifetime: cfg.StreamLifetime,
		hook:     cfg.Hook,
		idleCh:   make(chan struct{}),
	}
	g.closeCtx, g.closeFn = context.WithCancel(context.Background())
	return g
}

func check(method string, ctx context.Context, fn func(context.Context) error) {
	if ctx == nil {
		panic("gate: " + method + " with nil Context")
	}
	if fn == nil {
		panic("gate: " + method + " with nil fn")
	}
}

// Write runs fn with exclusive access: no read and no other write runs
// while fn does. Streams are not affected. It waits until every read in
// flight (overdue ones included) has returned; reads that arrive while it
// waits queue behind it. The wait ends early with ctx.Err() when ctx ends,
// or with [ErrClosed] when the gate is closed; then Write holds nothing
// and fn has not run. Otherwise it returns fn's error.
//
// fn runs on the caller's goroutine with ctx; the gate adds no deadline
// and never returns while fn runs. A panic in fn releases the write and
// propagates. Close does not cancel a running write. Write panics if ctx
// or fn is nil.
func (g *Gate) Write(ctx context.Context, fn func(context.Context) error) error {
	check("Write", ctx, fn)
	if g.closed.Load() {
		return ErrClosed
	}
	g.writesWaiting.Add(1)
	err := g.readers.Acquire(ctx, g.size)
	g.writesWaiting.Add(-1)
	if err != nil {
		g.signalIdle() // see waitFailed
		if errors.Is(err, sem.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	g.writeActive.Store(true)
	defer g.endWrite()
	return fn(ctx)
}

func (g *Gate) endWrite() {
	g.writeActive.Store(false)
	g.readers.Release(g.size)
	g.signalIdle()
}

// Stream admits a long-lived producer and starts fn on a goroutine the
// gate owns, then returns nil; or returns why fn was not admitted.
//
// Admission waits for a free stream slot, in FIFO order, for at most the
// read deadline (Config.ReadDeadline or ctx's sooner deadline); on expiry
// it returns a [*DeadlineError]. It returns ctx.Err() if ctx ends first and
// [ErrClosed] if the gate is closed. A stream never takes or waits for a
// read permit and never delays a write.
//
// fn's ctx derives from ctx and ends after Config.StreamLifetime (or ctx's
// sooner deadline), when ctx ends, or when the gate is closed. The slot is
// held until fn returns. fn's error is dropped: deliver results and errors
// through your own channel. A panic in fn is recovered, frees the slot and
// is reported through Config.Hook. Stream panics if ctx or fn is nil.
func (g *Gate) Stream(ctx context.Context, fn func(context.Context) error) error {
	check("Stream", ctx, fn)
	if g.closed.Load() {
		return ErrClosed
	}
	start := time.Now()
	setup, cancelSetup := context.WithDeadline(ctx, start.Add(g.deadline))
	err := g.streams.Acquire(setup, 1)
	if err != nil {
		err = g.waitFailed(ctx, setup, err, start, "stream")
		cancelSetup()
		return err
	}
	cancelSetup()
	admitted := time.Now()
	sctx, cancel := context.WithDeadline(ctx, admitted.Add(g.lifetime))
	stop := context.AfterFunc(g.closeCtx, cancel)
	g.goroutines.Add(1)
	go g.runStream(sctx, cancel, stop, fn, admitted)
	return nil
}

func (g *Gate) runStream(ctx context.Context, cancel context.CancelFunc, stop func() bool, fn func(context.Context) error, started time.Time) {
	returned := false
	defer func() {
		if !returned {
			// recover is called directly by this deferred function, so it
			// stops a panic in fn; a runtime.Goexit leaves it nil.
			if r := recover(); r != nil {
				g.hook(Event{Kind: Panicked, Lane: "stream", Op: OpName(ctx), Started: started,
					Elapsed: time.Since(started), Err: newPanicError(OpName(ctx), r)})
			}
		}
		stop()
		cancel()
		g.streams.Release(1)
		g.goroutineDone()
	}()
	_ = fn(ctx)
	returned = true
}

// waitFailed turns the error of a failed permit wait into the gate's:
// ErrClosed, a *DeadlineError when the wait's own ctx (wctx, carrying the
// deadline) expired, or ctx's error.
//
// It also wakes Wait: a wait that is granted permits just as its ctx ends
// gives them back inside the semaphore, and a Wait that saw them held for
// that instant must look again.
func (g *Gate) waitFailed(ctx, wctx context.Context, err error, start time.Time, lane string) error {
	g.signalIdle()
	if errors.Is(err, sem.ErrClosed) {
		return ErrClosed
	}
	if errors.Is(wctx.Err(), context.DeadlineExceeded) {
		g.deadlinesHit.Add(1)
		return newDeadlineError(wctx, start, lane, true)
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if g.closed.Load() {
		// Defensive: a wait that ended for any other reason once the
		// gate is closed reports the close.
		return ErrClosed
	}
	return err
}

// Close fails every waiter in every lane, and every later call, with
// [ErrClosed]. Callers of running [Gate.Read] calls return ErrClosed at
// once and their fn's ctx is cancelled (fn keeps its permit until it
// returns); running streams see their ctx cancelled; running inline reads
// and writes finish. Close does not wait: use [Gate.Wait] for that.
// Close is idempotent.
func (g *Gate) Close() {
	g.closeOnce.Do(func() {
		g.closed.Store(true)
		// Fail the waiters before cancelling running work: a read that
		// returns because of the cancel must not hand its permit to a
		// waiter that is about to be failed.
		g.readers.Close()
		g.streams.Close()
		g.kickAll()
		g.closeFn()
	})
}

// Wait blocks until every admitted fn (reads, overdue ones included,
// writes and streams) has returned, or ctx ends (then it returns
// ctx.Err()). Work admitted while Wait runs is waited for too; call Close
// first for a clean shutdown. Wait panics if ctx is nil.
func (g *Gate) Wait(ctx context.Context) error {
	if ctx == nil {
		panic("gate: Wait with nil Context")
	}
	// Register before checking, so a finishing call either is seen by the
	// check or sees idleWaiters > 0 and signals (the atomics are
	// sequentially consistent).
	g.idleWaiters.Add(1)
	defer g.idleWaiters.Add(-1)
	for {
		g.idleMu.Lock()
		ch := g.idleCh
		g.idleMu.Unlock()
		if g.idle() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// idle reports whether no fn is running: reads, inline reads and writes
// hold read permits while fn runs, streams hold slots, and gate-owned
// goroutines are counted until their very end.
func (g *Gate) idle() bool {
	return g.goroutines.Load() == 0 && g.readers.Stats().InUse == 0 && g.streams.Stats().InUse == 0
}

func (g *Gate) signalIdle() {
	if g.idleWaiters.Load() == 0 {
		return
	}
	g.idleMu.Lock()
	close(g.idleCh)
	g.idleCh = make(chan struct{})
	g.idleMu.Unlock()
}

func (g *Gate) goroutineDone() {
	g.goroutines.Add(-1)
	g.signalIdle()
}

// Stats is a snapshot of a gate.
type Stats struct {
	Readers        int64 // read permits in all (Config.Readers)
	ReadsInFlight  int64 // reads holding a permit, overdue ones included
	ReadsOverdue   int64 // reads whose caller already returned while fn still runs
	ReadsWaiting   int64 // reads queued for a permit
	WritesWaiting  int64 // writes queued (waiting for the drain or for another write)
	WriteActive    bool  // a write's fn is running
	Streams        int64 // stream slots in all (Config.Streams)
	StreamsActive  int64 // streams admitted whose fn has not returned
	StreamsWaiting int64 // streams queued for a slot
	DeadlinesHit   int64 // reads and stream admissions that ended in a deadline error, ever
	Closed         bool
}

// Stats returns a snapshot. The fields are read one after another without
// a common lock, so while calls are moving they may be momentarily
// inconsistent with each other (for an instant, a write that has just been
// admitted may count as Readers reads in flight); when the gate is quiet
// they are exact.
func (g *Gate) Stats() Stats {
	rs := g.readers.Stats()
	ss := g.streams.Stats()
	active := g.writeActive.Load()
	ww := g.writesWaiting.Load()
	inFlight := rs.InUse
	if active {
		inFlight -= g.size
	}
	return Stats{
		Readers:        g.size,
		ReadsInFlight:  max(inFlight, 0),
		ReadsOverdue:   g.overdue.Load(),
		ReadsWaiting:   max(rs.Waiters-ww, 0),
		WritesWaiting:  ww,
		WriteActive:    active,
		Streams:        ss.Size,
		StreamsActive:  ss.InUse,
		StreamsWaiting: ss.Waiters,
		DeadlinesHit:   g.deadlinesHit.Load(),
		Closed:         g.closed.Load(),
	}
}

// opKey is the context key for Op.
type opKey struct{}

// Op returns a copy of ctx that names the operation, for the gate's
// deadline errors and Hook events: g.Read(gate.Op(ctx, "GetLogs"), fn).
func Op(ctx context.Context, name string) context.Context {
	if ctx == nil {
		panic("gate: Op with nil Context")
	}
	return context.WithValue(ctx, opKey{}, name)
}

// OpName returns the name set with [Op] on ctx or a parent, or "" if none.
// It panics if ctx is nil.
func OpName(ctx context.Context) string {
	if ctx == nil {
		panic("gate: OpName with nil Context")
	}
	s, _ := ctx.Value(opKey{}).(string)
	return s
}

// EventKind says what an [Event] reports.
type EventKind int

const (
	// Overdue: a read's caller got control back (deadline, cancellation)
	// while its fn still runs. fn keeps its permit until it returns.
	// Reads abandoned by Close are counted in Stats but not reported.
	Overdue EventKind = iota + 1
	// Late: the fn of an overdue read has returned; its permit is back.
	Late
	// Panicked: a fn panicked and no caller can receive it (a stream, or
	// a read whose caller already returned). Err is a *PanicError.
	Panicked
)

func (k EventKind) String() string {
	switch k {
	case Overdue:
		return "overdue"
	case Late:
		return "late"
	case Panicked:
		return "panicked"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is what the gate reports through Config.Hook.
type Event struct {
	Kind    EventKind
	Lane    string        // "read" or "stream"
	Op      string        // the name set with Op, or ""
	Started time.Time     // when the call was made (a stream: when it was admitted)
	Elapsed time.Duration // from Started to the event
	Limit   time.Duration // the deadline the call had, from Started (0 if none applies)
	// Err is why the caller returned (Overdue), fn's error (Late), or a
	// *PanicError (Panicked).
	Err error
}

func logEvent(e Event) {
	op := e.Op
	if op == "" {
		op = "unnamed"
	}
	switch e.Kind {
	case Overdue:
		slog.Default().Warn("gate: "+e.Lane+" overdue: caller returned, fn still running and holding its permit",
			"op", op, "elapsed", e.Elapsed, "limit", e.Limit, "err", e.Err)
	case Late:
		slog.Default().Warn("gate: overdue "+e.Lane+" returned; permit released",
			"op", op, "elapsed", e.Elapsed, "limit", e.Limit, "err", e.Err)
	default:
		slog.Default().Error("gate: "+e.Lane+" panicked with no caller to receive it",
			"op", op, "elapsed", e.Elapsed, "err", e.Err)
	}
}
