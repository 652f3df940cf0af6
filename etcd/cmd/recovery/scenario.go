package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice/etcd/cluster"
	"github.com/sluice-go/sluice/run"
	"github.com/sluice-go/sluice/sem"
)

// Config sizes the scenario.
type Config struct {
	Replicas int // validator replicas (default 3)
	Limit    int // the seed's maxConcurrentValidations (default 10)
	Backlog  int // missed inferences per replica's recovery (default 100)
	Live     int // live sampled validations per replica (default 30)
	// Guard bounds each wait for the scenario to reach a state (default
	// 60 s): a liveness bound, not a speed check.
	Guard time.Duration
}

func (c Config) withDefaults() Config {
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.Limit <= 0 {
		c.Limit = 10
	}
	if c.Backlog <= 0 {
		c.Backlog = 100
	}
	if c.Live <= 0 {
		c.Live = 30
	}
	if c.Guard <= 0 {
		c.Guard = time.Minute
	}
	return c
}

// Report is what one variant measured.
type Report struct {
	Variant         string
	PeakAtNode      int // most validations inside the shared ML node at once
	OverlappingRuns int // most recovery runs at once, over all replicas
	Rejected        int // triggers refused because a recovery was running
	Validated       int // validations the node answered
	Elapsed         time.Duration
}

// gauge counts what is inside something now and the most ever.
type gauge struct{ now, peak, total atomic.Int64 }

func (g *gauge) enter() {
	v := g.now.Add(1)
	g.total.Add(1)
	for p := g.peak.Load(); v > p && !g.peak.CompareAndSwap(p, v); p = g.peak.Load() {
	}
}
func (g *gauge) leave() { g.now.Add(-1) }

// mlNode is the one ML node every replica replays against. It holds the
// first validations until the harness has seen the scenario's peak, so
// the figures are forced by construction, not by timing.
type mlNode struct {
	in   gauge
	hold chan struct{}
	once sync.Once
}

func newNode() *mlNode { return &mlNode{hold: make(chan struct{})} }

func (n *mlNode) release() { n.once.Do(func() { close(n.hold) }) }

func (n *mlNode) validate(ctx context.Context) error {
	n.in.enter()
	defer n.in.leave()
	select {
	case <-n.hold:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slots and guard are what a replica uses: a process-local sem and
// run.Guard (naive) or their cluster-wide counterparts (sluice).
type slots interface {
	take(ctx context.Context) (release func(), err error)
	waiting() int64
}

type guard interface {
	do(ctx context.Context, fn func(context.Context) error) error
}

type localSlots struct{ s *sem.Semaphore }

func (l localSlots) take(ctx context.Context) (func(), error) {
	if err := l.s.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	return func() { l.s.Release(1) }, nil
}
func (l localSlots) waiting() int64 { return l.s.Stats().Waiting }

type localGuard struct{ g *run.Guard }

func (l localGuard) do(ctx context.Context, fn func(context.Context) error) error {
	return l.g.Do(ctx, run.Reject, fn)
}

type clusterSlots struct{ s *cluster.Semaphore }

func (c clusterSlots) take(ctx context.Context) (func(), error) {
	p, err := c.s.Acquire(ctx, 1)
	if err != nil {
		return nil, err
	}
	return func() { p.Release() }, nil
}
func (c clusterSlots) waiting() int64 {
	st := c.s.Stats()
	return st.Waiting + st.LocalWaiting
}

type clusterGuard struct{ g *cluster.Guard }

func (c clusterGuard) do(ctx context.Context, fn func(context.Context) error) error {
	return c.g.Do(ctx, cluster.Reject, fn)
}

type replica struct {
	slots slots
	guard guard
}

// RunNaive runs the scenario with the seed's in-process fix on every
// replica: a sem.New(Limit) and a run.Guard each.
func RunNaive(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	rs := make([]replica, cfg.Replicas)
	for i := range rs {
		rs[i] = replica{localSlots{sem.New(int64(cfg.Limit))}, localGuard{new(run.Guard)}}
	}
	return scenario(ctx, cfg, "naive", rs, cfg.Replicas*cfg.Limit)
}

// RunSluice runs the scenario with sluice/etcd: one cluster.Semaphore of
// Limit and one cluster.Guard, shared by every replica, each replica with
// its own etcd client (as separate processes would have).
func RunSluice(ctx context.Context, cfg Config, endpoints []string, prefix string) (Report, error) {
	cfg = cfg.withDefaults()
	rs := make([]replica, cfg.Replicas)
	for i := range rs {
		cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Logger: quietZap()})
		if err != nil {
			return Report{}, err
		}
		defer cli.Close()
		s, err := cluster.NewSemaphore(ctx, cli, prefix+"/slots", int64(cfg.Limit))
		if err != nil {
			return Report{}, err
		}
		defer s.Close()
		g, err := cluster.NewGuard(ctx, cli, prefix+"/recovery")
		if err != nil {
			return Report{}, err
		}
		defer g.Close()
		rs[i] = replica{clusterSlots{s}, clusterGuard{g}}
	}
	return scenario(ctx, cfg, "sluice", rs, cfg.Limit)
}

// scenario fires recovery on every replica (replica 0 first, the others
// once it runs: the three trigger paths) while every replica also runs
// live validations, all against one ML node. The node holds the first
// validations until expect are inside it and every other worker waits
// for a slot; then it answers everything.
func scenario(ctx context.Context, cfg Config, variant string, rs []replica, expect int) (Report, error) {
	start := time.Now()
	node := newNode()
	defer node.release()
	var runs gauge
	var rejected atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	report := func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			select {
			case errc <- err:
			default:
			}
		}
	}
	// work runs n validations on a replica with Limit workers.
	work := func(ctx context.Context, r replica, n int) error {
		items := make(chan int)
		var ww sync.WaitGroup
		var first error
		var mu sync.Mutex
		for range cfg.Limit {
			ww.Add(1)
			go func() {
				defer ww.Done()
				for range items {
					release, err := r.slots.take(ctx)
					if err == nil {
						err = node.validate(ctx)
						release()
					}
					if err != nil {
						mu.Lock()
						first = cmp(first, err)
						mu.Unlock()
					}
				}
			}()
		}
		for i := range n {
			select {
			case items <- i:
			case <-ctx.Done():
			}
		}
		close(items)
		ww.Wait()
		return first
	}
	recovery := func(r replica) {
		defer wg.Done()
		err := r.guard.do(ctx, func(ctx context.Context) error {
			runs.enter()
			defer runs.leave()
			return work(ctx, r, cfg.Backlog)
		})
		if errors.Is(err, run.ErrRunning) {
			rejected.Add(1)
			return
		}
		report(err)
	}
	workers := 0
	for _, r := range rs {
		wg.Add(1)
		workers += cfg.Limit
		go func() { defer wg.Done(); report(work(ctx, r, cfg.Live)) }()
	}
	wg.Add(1)
	go recovery(rs[0])
	if err := waitUntil(ctx, cfg.Guard, "the first recovery to start", func() bool { return runs.now.Load() == 1 }); err != nil {
		return Report{}, err
	}
	for _, r := range rs[1:] {
		wg.Add(1)
		go recovery(r)
	}
	started := 1 + len(rs) - 1 // runs or rejections to wait for
	recoveryWorkers := func() int { return int(runs.now.Load()) * cfg.Limit }
	err := waitUntil(ctx, cfg.Guard, fmt.Sprintf("%d validations at the node and every other worker waiting", expect), func() bool {
		if int(runs.now.Load()+rejected.Load()) < started {
			return false
		}
		var waiting int64
		for _, r := range rs {
			waiting += r.slots.waiting()
		}
		return int(node.in.now.Load()) == expect && int(waiting) == workers+recoveryWorkers()-expect
	})
	node.release()
	wg.Wait()
	if err != nil {
		return Report{}, err
	}
	select {
	case err := <-errc:
		return Report{}, err
	default:
	}
	return Report{
		Variant: variant, PeakAtNode: int(node.in.peak.Load()), OverlappingRuns: int(runs.peak.Load()),
		Rejected: int(rejected.Load()), Validated: int(node.in.total.Load()), Elapsed: time.Since(start),
	}, nil
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// waitUntil polls cond (the figures have no event of their own) until it
// holds, ctx ends, or the guard passes.
func waitUntil(ctx context.Context, guard time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("recovery: waited %v for %s", guard, what)
		}
	}
	return nil
}
