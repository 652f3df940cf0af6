package coldstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/gate"
)

// Config sizes a scenario run. Zero fields take the defaults.
type Config struct {
	Readers int // the read cap (default 64, the seed's)
	Reads   int // concurrent reads in the capacity phase (default 256)
	// Guard is how long a call may take before it counts as wedged, and
	// how long Close may take (default 500 ms).
	Guard time.Duration
	// Deadline is the sluice store's read deadline in the stuck-readers
	// phase (default 100 ms; the seed's is 5 s, shortened so the demo is
	// quick). The close phase uses the 5 s default, so what returns the
	// callers there is Close, not the deadline.
	Deadline time.Duration
	// Registry, when not nil, gets the sluice store's gate of each phase,
	// with its events (overdue reads, late results): "coldstore/gate
	// (capacity)", "coldstore/gate (stuck readers)" and "coldstore/gate
	// (close)". It changes no figure.
	Registry *debug.Registry
}

func (c Config) withDefaults() Config {
	if c.Readers <= 0 {
		c.Readers = 64
	}
	if c.Reads <= 0 {
		c.Reads = 256
	}
	if c.Guard <= 0 {
		c.Guard = 500 * time.Millisecond
	}
	if c.Deadline <= 0 {
		c.Deadline = 100 * time.Millisecond
	}
	return c
}

// Report is what one variant did in the three phases.
type Report struct {
	Variant string

	// Capacity: Reads concurrent reads, above the cap, then one write.
	Reads          int
	ReadsCompleted int  // reads that returned without error
	PeakInBackend  int  // most reads inside the backend at once
	WriteAfter     bool // the write after the reads completed within Guard

	// Stuck readers: Readers reads parked in the backend, one more
	// arriving, then a write and a stream.
	Parked         int
	WriteCompleted bool // the write completed within Guard
	WriteTime      time.Duration
	StreamStarted  bool // the stream started within Guard
	StreamTime     time.Duration
	StreamLogs     int // logs the stream delivered
	DeadlineReads  int // parked reads that returned ErrDeadline

	// Close: Readers reads parked, one more waiting, then Close.
	CloseReturned   bool // Close returned within Guard
	CloseTime       time.Duration
	CallersReturned int // of Readers+1, returned within Guard of Close
	CallersClosed   int // of those, with ErrClosed or their ctx error

	Overdue int64 // reads still overdue at the end (sluice: Stats)
}

// RunNaive runs the three phases against the naive store.
func RunNaive(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	return run(ctx, cfg, demo.Naive, func(b Backend, _ time.Duration) (Store, func()) {
		n := NewNaive(b, cfg.Readers)
		return n, n.Wait
	})
}

// RunSluice runs the three phases against the gate-based store.
func RunSluice(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	phases := []string{"coldstore/gate (capacity)", "coldstore/gate (stuck readers)", "coldstore/gate (close)"}
	var regErr error
	r, err := run(ctx, cfg, demo.Sluice, func(b Backend, deadline time.Duration) (Store, func()) {
		hook := func(gate.Event) {}
		name := phases[0] // run makes one store per phase, in this order
		phases = phases[1:]
		if cfg.Registry != nil {
			hook = cfg.Registry.GateHook(name)
		}
		opts := []gate.Option{gate.WithReaders(cfg.Readers), gate.WithHook(hook)}
		if deadline > 0 { // 0: the gate's default
			opts = append(opts, gate.WithReadDeadline(deadline))
		}
		c := NewCold(b, opts...)
		regErr = errors.Join(regErr, demo.Register(cfg.Registry, name, c.g))
		return c, func() { _ = c.g.Wait(context.Background()) }
	})
	if err == nil {
		err = regErr
	}
	return r, err
}

// newStore makes a store over b; wait blocks until everything it started
// has finished (after Close and after the backend is released).
type newStore func(b Backend, readDeadline time.Duration) (s Store, wait func())

func run(ctx context.Context, cfg Config, variant string, mk newStore) (Report, error) {
	r := Report{Variant: variant, Reads: cfg.Reads, Parked: cfg.Readers}
	if err := capacity(ctx, cfg, mk, &r); err != nil {
		return r, err
	}
	if err := stuck(ctx, cfg, mk, &r); err != nil {
		return r, err
	}
	if err := closing(ctx, cfg, mk, &r); err != nil {
		return r, err
	}
	return r, nil
}

const chainLen = 64

func newBackend() (*Mem, Hash) {
	blocks := MakeChain(1, chainLen, 2, 2, "0xgenesis")
	return NewMem(blocks), blocks[len(blocks)-1].Hash
}

// capacity: Reads concurrent reads against a backend that holds them
// until Readers are inside, then lets all through; then one write.
func capacity(ctx context.Context, cfg Config, mk newStore, r *Report) error {
	mem, head := newBackend()
	h := newHold()
	cb := &countingBackend{Backend: &GatedBackend{Backend: mem, Reads: h}}
	s, wait := mk(cb, 0)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range cfg.Reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if readOne(ctx, s, i) == nil {
				ok.Add(1)
			}
		}()
	}
	if err := h.waitEntered(ctx, min(cfg.Readers, cfg.Reads)); err != nil {
		h.open()
		wg.Wait()
		return fmt.Errorf("coldstore: capacity phase: %w", err)
	}
	h.open()
	wg.Wait()
	r.ReadsCompleted = int(ok.Load())
	r.PeakInBackend = int(cb.peak.Load())
	wctx, cancel := context.WithTimeout(ctx, cfg.Guard)
	r.WriteAfter = s.AppendBlocks(wctx, MakeChain(chainLen+1, 1, 1, 1, head)) == nil
	cancel()
	_ = s.Close(ctx)
	wait()
	return nil
}

// readOne does the i-th read of a mix: by number, by hash, GetLogs.
func readOne(ctx context.Context, s Store, i int) error {
	n := uint64(1 + i%chainLen)
	switch i % 3 {
	case 0:
		_, err := s.BlockByNumber(ctx, n)
		return err
	case 1:
		b, err := s.BlockByNumber(ctx, n)
		if err != nil {
			return err
		}
		_ = b
		_, err = s.BlockByHash(ctx, blockHash(n, parentOf(n)))
		return err
	default:
		_, err := s.GetLogs(ctx, Filter{From: n, To: n + 3, Addresses: ChainAddresses[:2], Limit: 100})
		return err
	}
}

// parentOf returns the parent hash of block n in newBackend's chain.
func parentOf(n uint64) Hash {
	p := Hash("0xgenesis")
	for k := uint64(1); k < n; k++ {
		p = blockHash(k, p)
	}
	return p
}

// stuck: Readers reads park in the backend (which honours ctx), one more
// arrives; then a write and a stream, each given Guard.
func stuck(ctx context.Context, cfg Config, mk newStore, r *Report) error {
	mem, head := newBackend()
	h := newHold()
	s, wait := mk(&GatedBackend{Backend: mem, Reads: h}, cfg.Deadline)
	results := make(chan error, cfg.Readers+1)
	if err := parkReaders(ctx, s, h, cfg.Readers, results); err != nil {
		return fmt.Errorf("coldstore: stuck phase: %w", err)
	}
	go func() {
		_, err := s.GetLogs(ctx, Filter{From: 1, To: Latest})
		results <- err
	}()
	if err := waitQueued(ctx, s); err != nil {
		h.open()
		return fmt.Errorf("coldstore: stuck phase: %w", err)
	}

	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		wctx, cancel := context.WithTimeout(ctx, cfg.Guard)
		defer cancel()
		if s.AppendBlocks(wctx, MakeChain(chainLen+1, 1, 1, 1, head)) == nil {
			r.WriteCompleted, r.WriteTime = true, time.Since(start)
		}
	}()
	go func() {
		defer wg.Done()
		sctx, cancel := context.WithTimeout(ctx, cfg.Guard)
		defer cancel()
		st, err := s.StreamLogs(sctx, Filter{From: 1, To: chainLen})
		if err != nil {
			return
		}
		r.StreamStarted, r.StreamTime = true, time.Since(start)
		for range st.C {
			r.StreamLogs++
		}
	}()
	wg.Wait()
	h.open() // unwedge whatever is still parked
	for range cfg.Readers + 1 {
		if errors.Is(<-results, gate.ErrDeadline) {
			r.DeadlineReads++
		}
	}
	if c, ok := s.(*Cold); ok {
		r.Overdue = c.Stats().ReadOverdue
	}
	_ = s.Close(ctx)
	wait()
	return nil
}

// closing: Readers reads park in the backend (which would hold them until
// their ctx ends), one more waits; then Close, given Guard.
func closing(ctx context.Context, cfg Config, mk newStore, r *Report) error {
	mem, _ := newBackend()
	h := newHold()
	s, wait := mk(&GatedBackend{Backend: mem, Reads: h}, 0)
	results := make(chan error, cfg.Readers+1)
	if err := parkReaders(ctx, s, h, cfg.Readers, results); err != nil {
		return fmt.Errorf("coldstore: close phase: %w", err)
	}
	go func() {
		_, err := s.BlockByNumber(ctx, 1)
		results <- err
	}()
	if err := waitQueued(ctx, s); err != nil {
		h.open()
		return fmt.Errorf("coldstore: close phase: %w", err)
	}

	start := time.Now()
	closed := make(chan time.Duration, 1) // how long Close took; -1 if it gave up
	go func() {
		cctx, cancel := context.WithTimeout(ctx, cfg.Guard)
		defer cancel()
		if s.Close(cctx) != nil {
			closed <- -1
			return
		}
		closed <- time.Since(start)
	}()
	guard := time.NewTimer(cfg.Guard)
	defer guard.Stop()
	returned := 0
collect:
	for returned < cfg.Readers+1 {
		select {
		case err := <-results:
			returned++
			if errors.Is(err, gate.ErrClosed) || errors.Is(err, ErrStopped) || errors.Is(err, context.Canceled) {
				r.CallersClosed++
			}
		case <-guard.C:
			break collect
		}
	}
	r.CallersReturned = returned
	if d := <-closed; d >= 0 {
		r.CloseReturned, r.CloseTime = true, d
	}
	h.open() // let the stuck backend calls return, so nothing is left behind
	for ; returned < cfg.Readers+1; returned++ {
		<-results
	}
	wait()
	if c, ok := s.(*Cold); ok {
		r.Overdue = c.Stats().ReadOverdue
	}
	return nil
}

// waitQueued waits until the read above the cap is waiting: for the naive
// store, until it has parked the loop; for the gate, until Stats shows it
// queued. The gate offers no event for that, so it is polled on a ticker
// (as conctest.WaitFor does), never slept for.
func waitQueued(ctx context.Context, s Store) error {
	switch s := s.(type) {
	case *Naive:
		return s.WaitParked(ctx)
	case *Cold:
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for s.Stats().ReadWaiting == 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// countingBackend records the most reads inside the backend at once.
type countingBackend struct {
	Backend
	cur, peak atomic.Int64
}

func (c *countingBackend) enter() func() {
	n := c.cur.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return func() { c.cur.Add(-1) }
}

func (c *countingBackend) BlockByNumber(ctx context.Context, n uint64) (*Block, error) {
	defer c.enter()()
	return c.Backend.BlockByNumber(ctx, n)
}

func (c *countingBackend) BlockByHash(ctx context.Context, h Hash) (*Block, error) {
	defer c.enter()()
	return c.Backend.BlockByHash(ctx, h)
}

func (c *countingBackend) Logs(ctx context.Context, f Filter) ([]Log, error) {
	defer c.enter()()
	return c.Backend.Logs(ctx, f)
}

// hold is the demo's CallGate: calls block until open, counting entries.
type hold struct {
	mu      sync.Mutex
	entered int
	isOpen  bool
	release chan struct{}
	changed chan struct{}
}

// parkReaders starts n reads of s, whose backend parks every read in h,
// and waits until all n are parked. Each read's result goes to results.
// If they do not all park, it opens h (so nothing stays stuck) and
// returns the error.
func parkReaders(ctx context.Context, s Store, h *hold, n int, results chan<- error) error {
	for i := range n {
		go func() {
			_, err := s.BlockByNumber(ctx, uint64(1+i%chainLen))
			results <- err
		}()
	}
	if err := h.waitEntered(ctx, n); err != nil {
		h.open()
		return err
	}
	return nil
}

func newHold() *hold { return &hold{release: make(chan struct{}), changed: make(chan struct{})} }

func (h *hold) Pass(ctx context.Context) error {
	h.mu.Lock()
	h.entered++
	close(h.changed)
	h.changed = make(chan struct{})
	rel := h.release
	h.mu.Unlock()
	select {
	case <-rel:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hold) open() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.isOpen {
		h.isOpen = true
		close(h.release)
	}
}

func (h *hold) waitEntered(ctx context.Context, n int) error {
	for {
		h.mu.Lock()
		ok, ch := h.entered >= n, h.changed
		h.mu.Unlock()
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

// Scenario is seed 004 as `sluice demo coldstore` runs it.
func Scenario() demo.Scenario {
	return demo.Scenario{
		Name: "coldstore",
		Seed: "004",
		Summary: "a cold-storage task: the 65th reader wedges the dispatcher loop (no write, stream or shutdown " +
			"until a reader finishes); gate admits reads, drains for writes cancellably, keeps streams apart",
		Run: func(ctx context.Context, opt demo.Options) ([]demo.Result, error) {
			cfg := Config{}
			n, err := RunNaive(ctx, cfg)
			if err != nil {
				return nil, err
			}
			s, err := RunSluice(ctx, Config{Registry: opt.Registry})
			if err != nil {
				return nil, err
			}
			return []demo.Result{result(n, cfg.withDefaults()), result(s, cfg.withDefaults())}, nil
		},
	}
}

func result(r Report, cfg Config) demo.Result {
	res := demo.Result{
		Scenario: "coldstore",
		Variant:  r.Variant,
		Metrics: []demo.Metric{
			demo.M("reads completed", fmt.Sprintf("%d/%d", r.ReadsCompleted, r.Reads)),
			demo.M("peak reads in backend", r.PeakInBackend),
			demo.M("write after reads", yesNo(r.WriteAfter)),
			demo.M("write with 64 readers stuck", done(r.WriteCompleted, r.WriteTime, cfg.Guard)),
			demo.M("stream with 64 readers stuck", done(r.StreamStarted, r.StreamTime, cfg.Guard)),
			demo.M("stuck reads ended by deadline", r.DeadlineReads),
			demo.M("close", done(r.CloseReturned, r.CloseTime, cfg.Guard)),
			demo.M("callers back after close", fmt.Sprintf("%d/%d", r.CallersReturned, r.Parked+1)),
			demo.M("overdue reads", r.Overdue),
		},
	}
	if r.Variant == demo.Naive {
		var shown []string
		if !r.WriteCompleted {
			shown = append(shown, "write wedged")
		}
		if !r.StreamStarted {
			shown = append(shown, "stream wedged")
		}
		if !r.CloseReturned {
			shown = append(shown, "close hung")
		}
		res.OK = len(shown) > 0
		if res.OK {
			res.Verdict = fmt.Sprintf("the 65th reader parked the loop: %v", strings.Join(shown, ", "))
		} else {
			res.Verdict = "no wedge shown"
		}
		return res
	}
	var failed []string
	if r.ReadsCompleted != r.Reads || !r.WriteAfter || r.PeakInBackend > cfg.Readers {
		failed = append(failed, "capacity")
	}
	if !r.WriteCompleted {
		failed = append(failed, "write behind stuck readers")
	}
	if !r.StreamStarted || r.StreamLogs == 0 {
		failed = append(failed, "stream isolation")
	}
	if !r.CloseReturned || r.CallersReturned != r.Parked+1 || r.CallersClosed != r.Parked+1 {
		failed = append(failed, "close")
	}
	res.OK = len(failed) == 0
	if res.OK {
		res.Verdict = "all checks passed: cap held, write and stream served past stuck readers, close immediate"
	} else {
		res.Verdict = "failed: " + strings.Join(failed, ", ")
	}
	return res
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func done(ok bool, d time.Duration, guard time.Duration) string {
	if !ok {
		return fmt.Sprintf("not within %v", guard)
	}
	return fmt.Sprintf("in %v", d.Round(time.Millisecond))
}
