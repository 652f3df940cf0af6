package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/internal/panics"
	"github.com/sluice-go/sluice/sem"
)

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

	writeInUse atomic.Int64 // 1 while a write's fn runs
	overdue    atomic.Int64 // reads whose caller returned while fn runs
	timedOut   atomic.Int64
	goroutines atomic.Int64 // gate-owned goroutines still running
	shards     [callShards]callShard

	// The lanes' waiters and totals (see observe.go). Reads are not
	// counted here: ReadAdmitted is derived from the read semaphore's own
	// total, which costs the fast path nothing (see readAdmitted);
	// readHigh is the most it has reported.
	readLane, writeLane, streamLane lane
	readHigh                        atomic.Int64
	writeAdmitted, streamAdmitted   atomic.Int64
	readCancelled, writeCancelled   atomic.Int64
	streamCancelled                 atomic.Int64
	readPanicked, writePanicked     atomic.Int64
	streamPanicked                  atomic.Int64
	hooks                           fifo.Hooks // OnWait's; loaded only by callers that waited

	// Wait support. A finishing call signals only while someone waits
	// (idleWaiters > 0), so the common path costs one uncontended load.
	idleWaiters atomic.Int64
	idleMu      sync.Mutex
	idleCh      chan struct{} // closed and replaced on every signal
}

// New returns a gate configured by opts; without options it has
// [DefaultReaders] read permits, [DefaultStreams] stream slots, a
// [DefaultReadDeadline] and a [DefaultStreamLifetime], and logs its events
// with [slog.Default]. It panics if an option is nil.
func New(opts ...Option) *Gate {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			panic("gate: New with a nil Option")
		}
		o(&cfg)
	}
	hook := cfg.hook
	if hook == nil {
		lg := cfg.logger
		hook = func(e Event) { logEvent(lg, e) }
	}
	g := &Gate{
		readers:  sem.New(int64(cfg.readers)),
		streams:  sem.New(int64(cfg.streams)),
		size:     int64(cfg.readers),
		deadline: cfg.readDeadline,
		lifetime: cfg.streamLifetime,
		hook:     hook,
		idleCh:   make(chan struct{}),
	}
	g.closeCtx, g.closeFn = context.WithCancel(context.Background())
	return g
}

func check(ctx context.Context, method string, fn func(context.Context) error) {
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
	check(ctx, "Write", fn)
	if g.closed.Load() {
		return ErrClosed
	}
	if !isDone(ctx) && g.readers.TryAcquire(g.size) {
		g.writeAdmitted.Add(1) // right after: see readAdmitted
	} else {
		waited, err := g.wait(ctx, g.readers, g.size, &g.writeLane, "sluice/gate: Write wait", &g.writeAdmitted, nil)
		if err != nil {
			g.signalIdle() // see waitFailed
			if errors.Is(err, sem.ErrClosed) {
				return ErrClosed
			}
			if waited {
				g.writeCancelled.Add(1) // ctx ended: the write has no deadline of its own
			}
			return err
		}
	}
	g.writeInUse.Store(1)
	normal := false
	defer g.endWrite(&normal)
	err := fn(ctx)
	normal = true
	return err
}

// endWrite gives the write's permits back; normal is false when fn
// panicked or called runtime.Goexit.
func (g *Gate) endWrite(normal *bool) {
	if !*normal {
		g.writePanicked.Add(1)
	}
	g.writeInUse.Store(0)
	g.readers.Release(g.size)
	g.signalIdle()
}

// Stream admits a long-lived producer and starts fn on a goroutine the
// gate owns, then returns nil; or returns why fn was not admitted.
//
// Admission waits for a free stream slot, in FIFO order, for at most the
// read deadline ([WithReadDeadline], or ctx's sooner deadline); on expiry
// it returns a [*DeadlineError]. It returns ctx.Err() if ctx ends first and
// [ErrClosed] if the gate is closed. A stream never takes or waits for a
// read permit and never delays a write.
//
// fn's ctx derives from ctx and ends after the stream lifetime
// ([WithStreamLifetime], or ctx's sooner deadline), when ctx ends, or when
// the gate is closed. The slot is held until fn returns. fn's error is
// dropped: deliver results and errors through your own channel. A panic in
// fn (or a runtime.Goexit) is recovered, frees the slot and is reported to
// the hook as a [Panicked] event. Stream panics if ctx or fn is nil.
func (g *Gate) Stream(ctx context.Context, fn func(context.Context) error) error {
	check(ctx, "Stream", fn)
	if g.closed.Load() {
		return ErrClosed
	}
	start := time.Now()
	setup, cancelSetup := context.WithDeadline(ctx, start.Add(g.deadline))
	if !isDone(setup) && g.streams.TryAcquire(1) {
		g.streamAdmitted.Add(1)
	} else {
		waited, err := g.wait(setup, g.streams, 1, &g.streamLane, "sluice/gate: Stream wait", &g.streamAdmitted, cancelSetup)
		if err != nil {
			err = g.waitFailed(ctx, setup, err, start, "stream", waited, &g.streamCancelled)
			cancelSetup()
			return err
		}
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
	// end runs once fn is over: after Run returns, or from Run's Goexit
	// hook while the goroutine unwinds (a Goexit cannot be stopped).
	end := func(pe *PanicError) {
		if pe != nil {
			g.streamPanicked.Add(1)
			name := OpName(ctx)
			pe.Op = opLabel("stream", name)
			g.hook(Event{Kind: Panicked, Lane: "stream", Op: name, Started: started,
				Elapsed: time.Since(started), Err: pe})
		}
		stop()
		cancel()
		g.streams.Release(1)
		g.goroutineDone()
	}
	end(panics.Run("gate: stream", func() { _ = fn(ctx) }, end))
}

// opLabel is a PanicError's Op: the gate, the lane, and the name set
// with Op, if any (gate: read "fetch").
func opLabel(lane, name string) string {
	if name == "" {
		return "gate: " + lane
	}
	return "gate: " + lane + " " + strconv.Quote(name)
}

// waitFailed turns the error of a failed permit wait into the gate's:
// ErrClosed, a *DeadlineError when the wait's own ctx (wctx, carrying the
// deadline) expired, or ctx's error. A wait that had begun (waited) and
// ended with ctx's error counts in cancelled.
//
// It also wakes Wait: a wait that is granted permits just as its ctx ends
// gives them back inside the semaphore, and a Wait that saw them held for
// that instant must look again.
func (g *Gate) waitFailed(ctx, wctx context.Context, err error, start time.Time, lane string, waited bool, cancelled *atomic.Int64) error {
	g.signalIdle()
	if errors.Is(err, sem.ErrClosed) {
		return ErrClosed
	}
	if errors.Is(wctx.Err(), context.DeadlineExceeded) {
		g.timedOut.Add(1)
		return newDeadlineError(wctx, start, lane, true)
	}
	if cerr := ctx.Err(); cerr != nil {
		if waited {
			cancelled.Add(1)
		}
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

// Stats is a snapshot of a gate, by lane.
//
// The lanes: Read counts [Gate.Read] and [Gate.ReadInline] calls, Write
// [Gate.Write], Stream [Gate.Stream]. Waiting and OldestWait count a call
// from when its permit or slot was not free at once (it started to wait)
// until its wait ends. No lane refuses a call at once (there is no Try),
// so the gate has no Rejected figures; calls refused by Close are not
// counted anywhere.
type Stats struct {
	ReadCapacity int64 // read permits in all ([WithReaders])
	ReadInUse    int64 // reads holding a permit, overdue ones included
	ReadOverdue  int64 // reads whose caller already returned while fn still runs
	ReadWaiting  int64 // reads waiting for a permit
	// ReadOldestWait is how long the read waiting longest now has waited;
	// 0 when none waits. Likewise WriteOldestWait, StreamOldestWait.
	ReadOldestWait time.Duration
	// ReadAdmitted counts reads let in (given a permit), at once or after
	// a wait. It is the read semaphore's own total less the writes, so
	// reads pay nothing for it; a snapshot taken as a write is being let
	// in may count that write as a read, and the figure then stays one
	// ahead until the next read is let in (it never goes down).
	ReadAdmitted int64
	// ReadCancelled counts reads whose caller got its ctx's cancellation
	// back: while waiting for a permit, or (Read only) while fn ran, fn
	// then running on as overdue. A ctx deadline ends a read as TimedOut.
	ReadCancelled int64
	// ReadPanicked counts read fns that panicked or called
	// runtime.Goexit (Read and ReadInline).
	ReadPanicked int64

	WriteInUse      int64 // 1 while a write's fn runs, else 0
	WriteWaiting    int64 // writes waiting (for the drain or for another write)
	WriteOldestWait time.Duration
	WriteAdmitted   int64 // writes let in, at once or after a wait
	// WriteCancelled counts writes whose wait ended because ctx ended
	// (cancelled or past its deadline: a write has no deadline of its own).
	WriteCancelled int64
	WritePanicked  int64 // write fns that panicked or called runtime.Goexit

	StreamCapacity   int64 // stream slots in all ([WithStreams])
	StreamInUse      int64 // streams admitted whose fn has not returned
	StreamWaiting    int64 // streams waiting for a slot
	StreamOldestWait time.Duration
	StreamAdmitted   int64 // streams let in (given a slot)
	StreamCancelled  int64 // streams whose wait for a slot ended because ctx was cancelled
	StreamPanicked   int64 // stream fns that panicked or called runtime.Goexit

	// TimedOut counts reads and stream admissions that ended in a
	// deadline error (the gate's deadline, or ctx's sooner one).
	TimedOut int64
	Closed   bool // Close has been called
}

// Stats returns a snapshot. The fields are read one after another without
// a common lock, so while calls are moving they may be momentarily
// inconsistent with each other (for an instant, a write that has just been
// admitted may count as ReadCapacity reads in use); when the gate is
// quiet they are exact. The totals are atomic loads; the waiting figures
// take each lane's short lock.
func (g *Gate) Stats() Stats {
	rs := g.readers.Stats()
	ss := g.streams.Stats()
	writing := g.writeInUse.Load()
	inUse := rs.InUse - writing*g.size
	rw, ro := g.readLane.figures()
	ww, wo := g.writeLane.figures()
	sw, so := g.streamLane.figures()
	return Stats{
		ReadCapacity:     g.size,
		ReadInUse:        max(inUse, 0),
		ReadOverdue:      g.overdue.Load(),
		ReadWaiting:      rw,
		ReadOldestWait:   ro,
		ReadAdmitted:     g.readAdmitted(rs.Admitted),
		ReadCancelled:    g.readCancelled.Load(),
		ReadPanicked:     g.readPanicked.Load(),
		WriteInUse:       writing,
		WriteWaiting:     ww,
		WriteOldestWait:  wo,
		WriteAdmitted:    g.writeAdmitted.Load(),
		WriteCancelled:   g.writeCancelled.Load(),
		WritePanicked:    g.writePanicked.Load(),
		StreamCapacity:   ss.Capacity,
		StreamInUse:      ss.InUse,
		StreamWaiting:    sw,
		StreamOldestWait: so,
		StreamAdmitted:   g.streamAdmitted.Load(),
		StreamCancelled:  g.streamCancelled.Load(),
		StreamPanicked:   g.streamPanicked.Load(),
		TimedOut:         g.timedOut.Load(),
		Closed:           g.closed.Load(),
	}
}

// opKey is the context key for Op.
type opKey struct{}

// Op returns a copy of ctx that names the operation, for the gate's
// deadline errors, panics and hook events: g.Read(gate.Op(ctx, "GetLogs"), fn).
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
	// Panicked: a fn panicked or called runtime.Goexit and no caller can
	// receive it (a stream, or a read whose caller already returned). Err
	// is a *PanicError.
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

// Event is what the gate reports to its hook ([WithHook]).
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

// logEvent is the default hook: it logs e with lg.
func logEvent(lg *slog.Logger, e Event) {
	op := e.Op
	if op == "" {
		op = "unnamed"
	}
	switch e.Kind {
	case Overdue:
		lg.Warn("gate: "+e.Lane+" overdue: caller returned, fn still running and holding its permit",
			"op", op, "elapsed", e.Elapsed, "limit", e.Limit, "err", e.Err)
	case Late:
		lg.Warn("gate: overdue "+e.Lane+" returned; permit released",
			"op", op, "elapsed", e.Elapsed, "limit", e.Limit, "err", e.Err)
	default:
		lg.Error("gate: "+e.Lane+" panicked with no caller to receive it",
			"op", op, "elapsed", e.Elapsed, "err", e.Err)
	}
}
