package gate

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/panics"
)

// States of a readCall. Exactly one of the caller (running -> abandoned)
// and the gate's goroutine (running -> finished) wins the CAS; the winner
// decides who reports the outcome.
const (
	callRunning uint32 = iota
	callFinished
	callAbandoned
)

// readCall is one Read whose fn runs on a gate-owned goroutine.
type readCall struct {
	ctx    context.Context // fn's ctx: the caller's ctx plus the read deadline
	cancel context.CancelFunc
	fn     func(context.Context) error
	start  time.Time
	state  atomic.Uint32
	// done is closed by the goroutine once err/pe are set (finished
	// only). Close also sends one value on it (buffered) to wake the
	// caller: a receive with ok == false means finished, ok == true means
	// closed. Close sends only while the call is in its shard, and the
	// goroutine leaves the shard before closing done, so the send can
	// never hit a closed channel.
	done  chan struct{}
	err   error
	pe    *PanicError // fn panicked or called runtime.Goexit
	shard *callShard
	prev  *readCall // shard list links, under shard.mu
	next  *readCall

	// Set by the caller before it abandons the call (read by the goroutine
	// after its CAS fails, which orders them).
	byClose bool
	reason  error
}

// Running reads are kept in shards so that Close can wake their callers.
// A single shared channel (a gate-wide "closing" channel in every caller's
// select) was measured to cost about a quarter of Read's time on 2 cores,
// more on more: every select locks every channel it waits on, and all
// callers contended on that one. With
// shards each caller selects only on its own channels, and registering
// takes a lock that few others touch.
const callShards = 16

type callShard struct {
	mu   sync.Mutex
	head *readCall
	_    [48]byte // keep shards on separate cache lines
}

// register adds c to a shard, or reports false if the gate is closed.
// Close sets g.closed before it walks the shards, under each shard's lock,
// so a call either is seen by Close or sees closed here.
func (g *Gate) register(c *readCall) bool {
	sh := &g.shards[rand.Uint32()%callShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if g.closed.Load() {
		return false
	}
	c.shard = sh
	c.next = sh.head
	if sh.head != nil {
		sh.head.prev = c
	}
	sh.head = c
	return true
}

func (g *Gate) unregister(c *readCall) {
	sh := c.shard
	sh.mu.Lock()
	if c.prev == nil {
		sh.head = c.next
	} else {
		c.prev.next = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	sh.mu.Unlock()
}

// kickAll wakes the caller of every registered read (Close).
func (g *Gate) kickAll() {
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		for c := sh.head; c != nil; c = c.next {
			select {
			case c.done <- struct{}{}:
			default:
			}
		}
		sh.mu.Unlock()
	}
}

// Read runs fn as a read: it waits for one of the read permits
// (FIFO, behind any waiting write), then runs fn on a goroutine the gate
// owns and waits for it, and returns fn's error.
//
// The read's deadline is the read deadline ([WithReadDeadline]) from the
// call, or ctx's deadline if sooner; it bounds the wait and fn. fn's ctx
// ends at the deadline. When the deadline passes, Read returns a [*DeadlineError]
// (matches [ErrDeadline] and [context.DeadlineExceeded]) at once, even if
// fn ignores its ctx; when ctx is cancelled it returns ctx.Err(); when the
// gate is closed it returns [ErrClosed] and cancels fn's ctx. In all three
// cases a fn still running keeps its permit until it returns (so no write
// overlaps it), counts in [Stats].ReadOverdue, and is reported to the
// hook (Overdue, then Late when it returns), except after Close.
// If fn itself returns a deadline error after the deadline passed, Read
// returns a *DeadlineError too.
//
// When Read returns fn's result, fn's permit is already back. A panic in
// fn releases the permit and re-panics on the caller's goroutine with a
// [*PanicError] holding the value and fn's stack; if fn calls
// runtime.Goexit, Read returns such a *PanicError, with Goexit set. Name
// the operation for errors, panics and events with [Op]. Read panics if
// ctx or fn is nil.
//
// Read costs a goroutine and a timer per call; see [Gate.ReadInline] for
// hot paths.
func (g *Gate) Read(ctx context.Context, fn func(context.Context) error) error {
	check(ctx, "Read", fn)
	if g.closed.Load() {
		return ErrClosed
	}
	start := time.Now()
	rctx, cancel := context.WithDeadline(ctx, start.Add(g.deadline))
	if isDone(rctx) || !g.readers.TryAcquire(1) {
		waited, err := g.wait(rctx, g.readers, 1, &g.readLane, "sluice/gate: Read wait", nil, cancel)
		if err != nil {
			err = g.waitFailed(ctx, rctx, err, start, "read", waited, &g.readCancelled)
			cancel()
			return err
		}
	}
	c := &readCall{ctx: rctx, cancel: cancel, fn: fn, start: start, done: make(chan struct{}, 1)}
	if !g.register(c) {
		g.readers.Release(1)
		g.signalIdle()
		cancel()
		return ErrClosed
	}
	g.goroutines.Add(1)
	go g.runRead(c)

	var reason error
	select {
	case _, kicked := <-c.done:
		if !kicked {
			return g.readResult(ctx, c)
		}
		reason = ErrClosed
		c.byClose = true
	case <-rctx.Done():
		if errors.Is(rctx.Err(), context.DeadlineExceeded) {
			reason = newDeadlineError(rctx, start, "read", false)
		} else {
			reason = ctx.Err()
		}
	}
	c.reason = reason
	// Count it overdue before the CAS, so the goroutine's decrement (which
	// it does only after seeing our CAS) never runs ahead of it.
	g.overdue.Add(1)
	if !c.state.CompareAndSwap(callRunning, callAbandoned) {
		// fn finished while we were giving up: its result wins.
		g.overdue.Add(-1)
		for range c.done { // skip a Close kick; end when closed
		}
		return g.readResult(ctx, c)
	}
	if c.byClose {
		cancel() // fn's ctx ends at Close
	} else {
		if errors.Is(reason, ErrDeadline) {
			g.timedOut.Add(1)
		} else {
			g.readCancelled.Add(1)
		}
		g.hook(Event{Kind: Overdue, Lane: "read", Op: OpName(ctx), Started: start,
			Elapsed: time.Since(start), Limit: limitOf(rctx, start), Err: reason})
	}
	return reason
}

func limitOf(ctx context.Context, start time.Time) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(start)
	}
	return 0
}

// readResult returns a finished call's outcome to its caller: fn's
// panic, re-panicked here; a runtime.Goexit, as an error; or fn's error.
// fn's own cancellation error, after the caller's ctx (ctx) was
// cancelled, counts in ReadCancelled as the caller's own cancellation
// does: whichever side saw it first, the caller gets ctx's error back.
func (g *Gate) readResult(ctx context.Context, c *readCall) error {
	if c.pe != nil {
		if c.pe.Goexit {
			return c.pe
		}
		panic(c.pe)
	}
	if c.err != nil && errors.Is(c.err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
		g.readCancelled.Add(1)
	}
	return g.normalize(c.ctx, c.start, c.err)
}

// normalize turns fn's own deadline error into the gate's when the read's
// deadline has passed, so the caller sees the same error whichever side
// noticed the deadline first.
func (g *Gate) normalize(rctx context.Context, start time.Time, err error) error {
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrDeadline) {
		return err
	}
	if !errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return err
	}
	g.timedOut.Add(1)
	return newDeadlineError(rctx, start, "read", false)
}

// runRead runs on the gate's goroutine. It gives the permit back before
// telling the caller, so a caller that gets fn's result finds the permit
// already free.
func (g *Gate) runRead(c *readCall) {
	// Run calls finishRead itself, from its Goexit hook while the
	// goroutine unwinds, when fn calls runtime.Goexit (which cannot be
	// stopped); otherwise it returns, and we call it.
	goexited := func(pe *PanicError) { c.pe = pe; g.finishRead(c) }
	if pe := panics.Run("gate: read", func() { c.err = c.fn(c.ctx) }, goexited); pe != nil {
		c.pe = pe
	}
	g.finishRead(c)
}

func (g *Gate) finishRead(c *readCall) {
	if c.pe != nil {
		g.readPanicked.Add(1)
		c.pe.Op = opLabel("read", OpName(c.ctx))
	}
	g.unregister(c)
	if c.state.CompareAndSwap(callRunning, callFinished) {
		g.readers.Release(1)
		close(c.done)
		c.cancel()
	} else {
		// The caller has returned: nobody waits for c.done. No longer
		// overdue once the permit is back, so Stats never shows a free
		// permit still held by an overdue read.
		g.overdue.Add(-1)
		g.readers.Release(1)
		c.cancel()
		elapsed := time.Since(c.start)
		switch {
		case c.pe != nil && c.byClose:
			g.hook(Event{Kind: Panicked, Lane: "read", Op: OpName(c.ctx), Started: c.start,
				Elapsed: elapsed, Err: c.pe})
		case c.pe != nil:
			g.hook(Event{Kind: Panicked, Lane: "read", Op: OpName(c.ctx), Started: c.start,
				Elapsed: elapsed, Limit: limitOf(c.ctx, c.start), Err: c.pe})
		case !c.byClose:
			g.hook(Event{Kind: Late, Lane: "read", Op: OpName(c.ctx), Started: c.start,
				Elapsed: elapsed, Limit: limitOf(c.ctx, c.start), Err: c.err})
		}
	}
	g.goroutineDone()
}

// ReadInline is the inline mode of [Gate.Read], for hot paths whose fn
// always honours its ctx. It admits the read exactly as Read does (same
// permits, same FIFO queue behind waiting writes) but runs fn on the
// caller's goroutine, with the caller's ctx unchanged: the deadline reaches
// fn through that ctx only. So ReadInline cannot return before fn does,
// adds no deadline of its own to fn, and never counts a read as overdue;
// give ctx a deadline. The gate's read deadline ([WithReadDeadline], or
// ctx's if sooner) bounds only the wait for a permit, when there is one to
// wait for: then ReadInline returns a [*DeadlineError].
//
// It returns ctx.Err() if ctx is already done, [ErrClosed] if the gate is
// closed (Close does not reach a running fn), or fn's error. A panic in fn
// releases the permit and propagates unchanged. ReadInline panics if ctx or
// fn is nil.
//
// Why no deadline of its own: making one costs a clock read and a context
// allocation per call, which is several times the whole admission (see
// the bench module); callers on hot paths already carry a deadline.
func (g *Gate) ReadInline(ctx context.Context, fn func(context.Context) error) error {
	if ctx == nil || fn == nil {
		check(ctx, "ReadInline", fn)
	}
	if d := ctx.Done(); d != nil {
		select {
		case <-d:
			return ctx.Err()
		default:
		}
	}
	// Fast path: a free permit and nobody queued (TryAcquire never jumps
	// the FIFO queue, and fails once the gate is closed).
	if !g.readers.TryAcquire(1) {
		if err := g.waitInline(ctx); err != nil {
			return err
		}
	}
	normal := false
	defer g.endInline(&normal)
	err := fn(ctx)
	normal = true
	return err
}

// waitInline is ReadInline's slow path: wait for a permit under the read
// deadline.
func (g *Gate) waitInline(ctx context.Context) error {
	if g.closed.Load() {
		return ErrClosed
	}
	start := time.Now()
	wctx := ctx
	if dl, ok := ctx.Deadline(); !ok || dl.After(start.Add(g.deadline)) {
		// Only when ctx's own deadline is later: a timer per wait is what
		// most of the slow path costs.
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, start.Add(g.deadline))
		defer cancel()
	}
	if waited, err := g.wait(wctx, g.readers, 1, &g.readLane, "sluice/gate: ReadInline wait", nil, nil); err != nil {
		return g.waitFailed(ctx, wctx, err, start, "read", waited, &g.readCancelled)
	}
	return nil
}

// endInline gives an inline read's permit back; normal is false when fn
// panicked or called runtime.Goexit.
func (g *Gate) endInline(normal *bool) {
	if !*normal {
		g.readPanicked.Add(1)
	}
	g.readers.Release(1)
	if g.idleWaiters.Load() != 0 {
		g.signalIdle()
	}
}

// ReadValue runs fn as a [Gate.Read] on g and returns fn's value. Prefer it
// to assigning a captured variable inside fn: when Read returns at the
// deadline, fn may still be running, and would write that variable while
// the caller reads it. ReadValue hands the value over only when fn's own
// result reached the caller; on any error it returns the zero value.
// ReadValue panics if ctx, g or fn is nil.
func ReadValue[T any](ctx context.Context, g *Gate, fn func(context.Context) (T, error)) (T, error) {
	switch {
	case ctx == nil:
		panic("gate: ReadValue with nil Context")
	case g == nil:
		panic("gate: ReadValue with nil *Gate")
	case fn == nil:
		panic("gate: ReadValue with nil fn")
	}
	var v T
	err := g.Read(ctx, func(ctx context.Context) error {
		r, err := fn(ctx)
		if err == nil {
			v = r // read by the caller only after Read returned nil, i.e. after fn's result was delivered
		}
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}
