package coldstore

import (
	"context"
	"errors"
	"sync"
)

// ErrBackpressure is returned by the naive store when its write queue is
// full (the seed's node crashed on this error).
var ErrBackpressure = errors.New("coldstore: write queue full")

// ErrStopped is returned by the naive store once its loop has stopped.
var ErrStopped = errors.New("coldstore: store stopped")

// Naive is the store as seed 004's first version built it: callers send
// requests to one dispatcher loop over bounded channels (256 each). For a
// read the loop first waits, itself, until fewer than maxReads reads are
// in flight, then spawns a handler; for a write it waits until no read is
// in flight, then writes. Neither wait can be interrupted, not even by
// Close. So the (maxReads+1)th concurrent reader parks the loop, and while
// it is parked no write, no stream and no shutdown is handled.
type Naive struct {
	b        Backend
	maxReads int
	reads    chan naiveRead
	writes   chan naiveWrite
	ctx      context.Context // the loop's; cancelled by Close
	cancel   context.CancelFunc
	loopDone chan struct{}

	mu       sync.Mutex
	inflight int           // read handlers running
	parked   bool          // the loop is blocked in waitInflight
	changed  chan struct{} // closed and replaced when inflight or parked changes
	streams  sync.WaitGroup
}

type naiveRead struct {
	ctx context.Context
	run func(context.Context)
}

type naiveWrite struct {
	ctx context.Context
	run func(context.Context) error
	res chan error
}

// NewNaive starts the dispatcher loop over b. Stop it with Close.
func NewNaive(b Backend, maxReads int) *Naive {
	if b == nil {
		panic("coldstore: NewNaive with nil Backend")
	}
	if maxReads <= 0 {
		panic("coldstore: NewNaive with a non-positive read cap")
	}
	n := &Naive{
		b: b, maxReads: maxReads,
		reads:    make(chan naiveRead, 256),
		writes:   make(chan naiveWrite, 256),
		loopDone: make(chan struct{}),
		changed:  make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	go n.loop()
	return n
}

func (n *Naive) loop() {
	defer close(n.loopDone)
	for {
		select {
		case <-n.ctx.Done():
			return
		case w := <-n.writes:
			n.waitInflight(0) // drain before the write: cannot be interrupted
			w.res <- w.run(w.ctx)
		case r := <-n.reads:
			n.waitInflight(n.maxReads - 1) // backpressure on the loop itself
			n.mu.Lock()
			n.inflight++
			n.mu.Unlock()
			go func() {
				defer n.readDone()
				r.run(r.ctx)
			}()
		}
	}
}

// waitInflight blocks until at most limit reads are in flight. It looks
// at nothing else: that is the seed's bug.
func (n *Naive) waitInflight(limit int) {
	for {
		n.mu.Lock()
		ok, ch := n.inflight <= limit, n.changed
		if n.parked != !ok {
			n.parked = !ok
			n.notifyLocked()
		}
		n.mu.Unlock()
		if ok {
			return
		}
		<-ch
	}
}

func (n *Naive) readDone() {
	n.mu.Lock()
	n.inflight--
	n.notifyLocked()
	n.mu.Unlock()
}

func (n *Naive) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// WaitParked blocks until the dispatcher loop is parked, waiting for reads
// in flight to finish, or ctx ends. It is instrumentation for the demo and
// its tests: it lets them show the wedge without guessing at timing.
func (n *Naive) WaitParked(ctx context.Context) error {
	for {
		n.mu.Lock()
		ok, ch := n.parked, n.changed
		n.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// naiveCall sends a read to the loop and waits for its result.
func naiveCall[T any](n *Naive, ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var zero T
	res := make(chan result, 1)
	req := naiveRead{ctx: ctx, run: func(ctx context.Context) {
		v, err := op(ctx)
		res <- result{v, err}
	}}
	select {
	case n.reads <- req:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-n.loopDone:
		return zero, ErrStopped
	}
	select {
	case r := <-res:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-n.loopDone:
		return zero, ErrStopped
	}
}

func (n *Naive) BlockByNumber(ctx context.Context, num uint64) (*Block, error) {
	return naiveCall(n, ctx, func(ctx context.Context) (*Block, error) { return n.b.BlockByNumber(ctx, num) })
}

func (n *Naive) BlockByHash(ctx context.Context, h Hash) (*Block, error) {
	return naiveCall(n, ctx, func(ctx context.Context) (*Block, error) { return n.b.BlockByHash(ctx, h) })
}

func (n *Naive) GetLogs(ctx context.Context, f Filter) ([]Log, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	return naiveCall(n, ctx, func(ctx context.Context) ([]Log, error) { return n.b.Logs(ctx, f) })
}

// StreamLogs goes through the loop like a read, and its setup (resolving
// the head with a backend call, taking the snapshot) runs in the read
// handler, holding an in-flight slot: the seed's stream setup flaw.
func (n *Naive) StreamLogs(ctx context.Context, f Filter) (*LogStream, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	return naiveCall(n, ctx, func(ctx context.Context) (*LogStream, error) {
		if f.To == Latest {
			head, err := n.b.Latest(ctx)
			if err != nil {
				return nil, err
			}
			f.To = head
		}
		ch := make(chan Log)
		s := &LogStream{C: ch}
		n.streams.Add(1)
		go func() {
			defer n.streams.Done()
			defer close(ch)
			pctx, cancel := context.WithCancel(ctx)
			defer context.AfterFunc(n.ctx, cancel)()
			defer cancel()
			s.err = produce(pctx, n.b, f, ch)
		}()
		return s, nil
	})
}

func (n *Naive) write(ctx context.Context, run func(context.Context) error) error {
	w := naiveWrite{ctx: ctx, run: run, res: make(chan error, 1)}
	select {
	case n.writes <- w:
	default:
		return ErrBackpressure
	}
	select {
	case err := <-w.res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.loopDone:
		return ErrStopped
	}
}

func (n *Naive) AppendBlocks(ctx context.Context, blocks []Block) error {
	return n.write(ctx, func(ctx context.Context) error { return n.b.Append(ctx, blocks) })
}

func (n *Naive) TruncateAbove(ctx context.Context, num uint64) error {
	return n.write(ctx, func(ctx context.Context) error { return n.b.TruncateAbove(ctx, num) })
}

// Close cancels the loop and waits for it, its read handlers and its
// streams to finish, or for ctx to end. The loop only notices the cancel
// between requests, so Close hangs while the loop is parked in a wait.
func (n *Naive) Close(ctx context.Context) error {
	n.cancel()
	select {
	case <-n.loopDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		n.mu.Lock()
		idle, ch := n.inflight == 0, n.changed
		n.mu.Unlock()
		if idle {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n.streams.Wait()
	return nil
}

// Wait blocks until the loop, every read handler and every stream have
// finished. Use it after a Close that timed out, once whatever parked the
// loop has been released, so no goroutine is left behind.
func (n *Naive) Wait() {
	<-n.loopDone
	for {
		n.mu.Lock()
		idle, ch := n.inflight == 0, n.changed
		n.mu.Unlock()
		if idle {
			break
		}
		<-ch
	}
	n.streams.Wait()
}
