package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice/internal/panics"
	"github.com/sluice-go/sluice/run"
)

// Mode says what [Guard.Do] does when a run is in progress; the same
// modes as package run.
type Mode = run.Mode

// The modes of [Guard.Do].
const (
	Reject = run.Reject // return ErrRunning at once while any replica runs
	Join   = run.Join   // wait for the run in progress, anywhere, and share its result
	Again  = run.Again  // wait for a run that starts after this call began
)

// Guard is run.Guard across replicas: one run at a time, cluster-wide, of
// an operation that several replicas' triggers start.
//
// # Keys
//
// prefix/run exists while a run is in progress, under the running
// replica's lease; its create revision identifies the run. prefix/last
// holds the result of the last run to finish: written, with the delete of
// prefix/run, in one transaction fenced on that run's key, so a replica
// that lost its lease can never publish a result.
//
// # Modes
//
//   - [Reject]: [ErrRunning] at once while any replica runs (without a
//     round trip while this replica runs).
//   - [Join]: wait for the run in progress, wherever it runs, and get its
//     result: the error value itself on the replica that ran it, a
//     [*RunError] with its message elsewhere, [ErrRunLost] if its replica
//     lost its lease first.
//   - [Again]: wait for a run that starts after this call began. Calls
//     that wait for the same run to end all try to start the next one;
//     one wins, on some replica, and the others join it: they coalesce
//     into one trailing run.
//
// With no run in progress, every mode starts one, on the calling
// goroutine, with the caller's ctx; fn's ctx is also cancelled when this
// replica can no longer prove it holds its lease (cause [ErrLeaseLost]),
// so a run that may overlap another stops.
//
// # Fairness
//
// Waiters are not ordered: a run's result reaches all its waiters
// together, and the replica that starts a trailing run is whichever's
// transaction lands first.
type Guard struct {
	cli     *clientv3.Client
	cfg     config
	runKey  string
	lastKey string
	ls      *leaser
	bg      context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	seq     atomic.Uint64

	mu       sync.Mutex
	rev      int64
	curRun   int64 // create revision of prefix/run as last seen; 0 if none
	last     result
	waiters  map[*gwaiter]struct{}
	running  bool  // this replica runs now
	localRev int64 // the run this replica ran last, and its error
	localErr error
	closed   bool
	active   int64
	down     bool

	runs, rejected, shared, lost, panicked, wakeups int64
}

// result is prefix/last's value.
type result struct {
	Run      int64  `json:"run"`
	Failed   bool   `json:"failed,omitempty"`
	Msg      string `json:"msg,omitempty"`
	Panicked bool   `json:"panicked,omitempty"`
}

type gwaiter struct {
	since  int64 // events at or below this revision were seen by its txn
	runRev int64 // the run it waits for
	again  bool  // it waits for runRev to end, to try to start the next
	ch     chan struct{}
	endRev int64 // the revision at which its run was seen to end
	done   bool
	err    error // Join: the result
}

// NewGuard returns the Guard on prefix. It grants this replica's lease
// and loads the state of the run, bounded by ctx. A nil client, an empty
// prefix or a TTL below the cluster's minimum is an error matching
// [ErrInvalid].
func NewGuard(ctx context.Context, cli *clientv3.Client, prefix string, opts ...Option) (*Guard, error) {
	if ctx == nil {
		panic("cluster: NewGuard with nil Context")
	}
	cfg, err := buildConfig("NewGuard", opts)
	if err != nil {
		return nil, err
	}
	prefix, err = checkCommon("NewGuard", cli, prefix)
	if err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	g := &Guard{cli: cli, cfg: cfg, runKey: prefix + "/run", lastKey: prefix + "/last",
		bg: bg, stop: stop, waiters: map[*gwaiter]struct{}{}}
	g.ls = newLeaser(cli, cfg, bg, &g.wg)
	if _, err := g.ls.get(ctx); err != nil {
		g.shutdown()
		return nil, err
	}
	if err := startWatch(ctx, cli, prefix+"/", g, bg, &g.wg); err != nil {
		g.shutdown()
		return nil, err
	}
	return g, nil
}

// Do runs fn under the guard: at once, on this goroutine with ctx, if no
// replica runs; otherwise as mode says. It returns fn's result, the
// result of the run it waited for, [ErrRunning], [ErrRunLost], ctx.Err()
// if ctx ended while waiting, or [ErrClosed]. If fn returns nil but this
// replica lost its lease during the run, Do returns an error matching
// [ErrLeaseLost]: another replica may have run alongside.
//
// If fn panics or calls runtime.Goexit, the waiters get an error matching
// [ErrPanicked], the guard is free again, and the panic goes on up this
// goroutine. It panics if ctx or fn is nil or mode is not one of the three.
func (g *Guard) Do(ctx context.Context, mode Mode, fn func(context.Context) error) error {
	if ctx == nil {
		panic("cluster: Guard.Do with nil Context")
	}
	if fn == nil {
		panic("cluster: Guard.Do with nil func")
	}
	if mode != Reject && mode != Join && mode != Again {
		panic(fmt.Sprintf("cluster: Guard.Do with invalid %v", mode))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return ErrClosed
	case mode == Reject && g.running:
		g.rejected++
		g.mu.Unlock()
		return ErrRunning
	}
	g.active++
	g.mu.Unlock()
	defer g.end()

	var (
		began int64 // Again: the revision of the call's first transaction
		after int64 // Again: the revision at which the run it waited out ended
	)
	for {
		le, err := g.ls.get(ctx)
		if err != nil {
			return err
		}
		mine, cur, rev, res, err := g.take(ctx, le, after)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			g.ls.lose(le, fmt.Errorf("%w: etcd no longer has the lease", ErrLeaseLost))
			continue
		}
		if err != nil {
			return err
		}
		if mine {
			return g.execute(ctx, le, cur, fn)
		}
		if res != nil {
			// Again: a run that started after the waited-out one ended
			// has finished too: its result is this call's.
			g.mu.Lock()
			g.shared++
			err := g.resultErr(*res)
			g.mu.Unlock()
			return err
		}
		if began == 0 {
			began = rev
		}
		switch {
		case mode == Reject:
			g.mu.Lock()
			g.rejected++
			g.mu.Unlock()
			return ErrRunning
		case mode == Join || cur > began:
			// Join, or Again with a run that started after the call began.
			return g.wait(ctx, &gwaiter{since: rev, runRev: cur})
		}
		// Again, and the run in progress started before this call: wait
		// for it to end, then try to start the next one.
		w := &gwaiter{since: rev, runRev: cur, again: true}
		if err := g.wait(ctx, w); err != nil {
			return err
		}
		after = w.endRev
	}
}

// take tries to create prefix/run under le. It reports whether this call
// now runs, the run in progress (its create revision) and the revision of
// the transaction. With after > 0 (an Again call that waited for a run to
// end at that revision), it does not start a run if prefix/last changed
// since: a run that started after that one ended has finished, and its
// result is returned instead. It retries errors that may be transient; a
// retry that finds the key it put itself takes it.
func (g *Guard) take(ctx context.Context, le *lease, after int64) (mine bool, cur, rev int64, res *result, err error) {
	id := fmt.Sprintf("%016x-%x", int64(le.id), g.seq.Add(1))
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(g.runKey), "=", 0)}
	if after > 0 {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(g.lastKey), "<", after+1))
	}
	b := newBackoff()
	for {
		resp, err := g.cli.Txn(ctx).If(cmps...).
			Then(clientv3.OpPut(g.runKey, id, clientv3.WithLease(le.id))).
			Else(clientv3.OpGet(g.runKey), clientv3.OpGet(g.lastKey)).Commit()
		if err == nil {
			rev = resp.Header.Revision
			if resp.Succeeded {
				return true, rev, rev, nil, nil
			}
			if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
				return string(kvs[0].Value) == id, kvs[0].CreateRevision, rev, nil, nil
			}
			// No run in progress, and prefix/last is newer than after.
			var r result
			if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
				json.Unmarshal(kvs[0].Value, &r)
			}
			return false, 0, rev, &r, nil
		}
		if err := giveUp(ctx, g.cli, le, err); err != nil {
			return false, 0, 0, nil, err
		}
		if !b.wait(ctx) {
			return false, 0, 0, nil, ctx.Err()
		}
	}
}

// execute runs fn as the run runRev and publishes its result.
func (g *Guard) execute(ctx context.Context, le *lease, runRev int64, fn func(context.Context) error) error {
	g.mu.Lock()
	g.running = true
	g.runs++
	g.mu.Unlock()
	runCtx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(le.ctx, func() { cancel(context.Cause(le.ctx)) })
	var err error
	finish := func(res result, local error) error {
		stop()
		cancel(nil)
		g.mu.Lock()
		// Before publishing: this replica's waiters, woken by the watch,
		// get the error value itself.
		g.localRev, g.localErr = runRev, local
		if res.Panicked {
			g.panicked++
		}
		g.mu.Unlock()
		published := g.publish(le, runRev, res)
		g.mu.Lock()
		g.running = false
		g.mu.Unlock()
		if !published && local == nil {
			return fmt.Errorf("%w: during the run; another replica may have run alongside", ErrLeaseLost)
		}
		return local
	}
	pe := panics.Run("cluster: Guard fn", func() { err = fn(runCtx) }, func(pe *PanicError) {
		finish(result{Run: runRev, Failed: true, Msg: pe.Error(), Panicked: true}, fmt.Errorf("%w: %w", ErrPanicked, pe))
	})
	if pe != nil {
		finish(result{Run: runRev, Failed: true, Msg: pe.Error(), Panicked: true}, fmt.Errorf("%w: %w", ErrPanicked, pe))
		panic(pe.Value)
	}
	res := result{Run: runRev}
	if err != nil {
		res.Failed, res.Msg = true, err.Error()
	}
	return finish(res, err)
}

// publish writes res to prefix/last and deletes prefix/run, fenced on the
// run's key, retrying while the lease lives. It reports whether it did.
func (g *Guard) publish(le *lease, runRev int64, res result) bool {
	v, _ := json.Marshal(res)
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.opTimeout)
	defer cancel()
	b := newBackoff()
	for {
		resp, err := g.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(g.runKey), "=", runRev)).
			Then(clientv3.OpPut(g.lastKey, string(v)), clientv3.OpDelete(g.runKey)).
			Commit()
		if err == nil {
			return resp.Succeeded
		}
		if giveUp(ctx, g.cli, le, err) != nil || !b.wait(ctx) {
			return false
		}
	}
}

// wait waits for w's condition, registered with the watch.
func (g *Guard) wait(ctx context.Context, w *gwaiter) error {
	w.ch = make(chan struct{})
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.waiters[w] = struct{}{}
	if g.rev >= w.since {
		g.checkLocked(w)
	}
	g.mu.Unlock()
	select {
	case <-w.ch:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.waiters, w)
	if !w.done {
		return ctx.Err()
	}
	if !w.again && w.err != ErrClosed && !errors.Is(w.err, ErrRunLost) {
		g.shared++
	}
	return w.err
}

// checkLocked settles w from the mirror's state, which is at or past
// w.since: has its run ended?
func (g *Guard) checkLocked(w *gwaiter) {
	if g.curRun == w.runRev {
		return
	}
	if g.last.Run == w.runRev {
		g.settleLocked(w, g.resultErr(g.last), g.rev)
	} else {
		g.settleLocked(w, ErrRunLost, g.rev)
	}
}

func (g *Guard) settleLocked(w *gwaiter, err error, rev int64) {
	if w.done {
		return
	}
	w.done = true
	w.endRev = rev
	if w.again {
		err = nil // its run ended: go and try to start the next
	} else if errors.Is(err, ErrRunLost) {
		g.lost++
	}
	w.err = err
	g.wakeups++
	close(w.ch)
}

// resultErr turns a published result into what a waiter returns: the
// error value itself if this replica ran it.
func (g *Guard) resultErr(r result) error {
	if r.Run == g.localRev {
		return g.localErr
	}
	switch {
	case !r.Failed:
		return nil
	case r.Panicked:
		return fmt.Errorf("%w: %w", ErrPanicked, &RunError{Msg: r.Msg})
	}
	return &RunError{Msg: r.Msg}
}

func (g *Guard) reset(kvs []*mvccpb.KeyValue, rev int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.curRun = 0
	for _, kv := range kvs {
		switch string(kv.Key) {
		case g.runKey:
			g.curRun = kv.CreateRevision
		case g.lastKey:
			json.Unmarshal(kv.Value, &g.last)
		}
	}
	g.rev = rev
	for w := range g.waiters {
		if w.since <= rev {
			g.checkLocked(w)
		}
	}
}

func (g *Guard) apply(evs []*clientv3.Event, rev int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ev := range evs {
		r := ev.Kv.ModRevision
		switch key := string(ev.Kv.Key); {
		case key == g.lastKey && ev.Type == clientv3.EventTypePut:
			var res result
			if json.Unmarshal(ev.Kv.Value, &res) == nil {
				g.last = res
				for w := range g.waiters {
					if r > w.since && res.Run == w.runRev {
						g.settleLocked(w, g.resultErr(res), r)
					}
				}
			}
		case key == g.runKey && ev.Type == clientv3.EventTypePut:
			g.curRun = ev.Kv.CreateRevision
		case key == g.runKey && ev.Type == clientv3.EventTypeDelete:
			ended := g.curRun
			if ev.PrevKv != nil {
				ended = ev.PrevKv.CreateRevision
			}
			g.curRun = 0
			for w := range g.waiters {
				if r > w.since && w.runRev == ended {
					// No result in this revision before the delete: its
					// replica's lease ended.
					g.settleLocked(w, ErrRunLost, r)
				}
			}
		}
	}
	g.rev = rev
}

func (g *Guard) fail(err error) {
	g.mu.Lock()
	for w := range g.waiters {
		if !w.done {
			w.done, w.again, w.err = true, false, err
			close(w.ch)
		}
	}
	g.mu.Unlock()
}

func (g *Guard) end() {
	g.mu.Lock()
	g.active--
	last := g.closed && g.active == 0 && !g.down
	if last {
		g.down = true
	}
	g.mu.Unlock()
	if last {
		g.shutdown()
	}
}

func (g *Guard) shutdown() {
	g.stop()
	g.ls.shutdown()
	g.wg.Wait()
}

// Close fails every waiting Do, and every later one, with [ErrClosed]. A
// run in progress goes on, and the call running it gets its result; the
// last call to leave revokes the lease. Close is idempotent.
func (g *Guard) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	for w := range g.waiters {
		if !w.done {
			w.done, w.again, w.err = true, false, ErrClosed
			close(w.ch)
		}
	}
	last := g.active == 0 && !g.down
	if last {
		g.down = true
	}
	g.mu.Unlock()
	if last {
		g.shutdown()
	}
}

// GuardStats is a snapshot of a Guard.
type GuardStats struct {
	Running        bool  // this replica runs now
	ClusterRunning bool  // a run is in progress on some replica, as the watch last saw
	Waiting        int64 // this replica's calls waiting
	Runs           int64 // total: runs this replica started
	Rejected       int64 // total: calls that got ErrRunning
	Shared         int64 // total: calls that got the result of a run another call ran
	Lost           int64 // total: calls that got ErrRunLost
	Panicked       int64 // total: runs whose fn panicked or called runtime.Goexit
	Wakeups        int64 // total: waiting calls woken by the watch
	LeasesLost     int64
	Closed         bool
}

// Stats returns a snapshot.
func (g *Guard) Stats() GuardStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GuardStats{
		Running: g.running, ClusterRunning: g.curRun != 0, Waiting: int64(len(g.waiters)),
		Runs: g.runs, Rejected: g.rejected, Shared: g.shared, Lost: g.lost, Panicked: g.panicked,
		Wakeups: g.wakeups, LeasesLost: g.ls.lost.Load(), Closed: g.closed,
	}
}
