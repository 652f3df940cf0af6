package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice/keyed"
)

// Once is keyed.Once across replicas: it runs a function at most once at
// a time per key, cluster-wide, remembers in etcd which keys succeeded,
// and forgets a key on request. It is idempotent setup per key shared by
// every replica that creates one on the same prefix: "open the outbound
// stream to this peer, unless some replica has it open or is opening it",
// with [Once.Forget] when the stream is gone.
//
// # Keys
//
// prefix/done/=<key, path-escaped> is the success marker: written, with no
// lease, by the run that succeeded, so it outlives that replica; its value
// is that run's token. prefix/lock/=<key>/<lease>-<n> is one Do waiting or
// running: a queue of capacity 1 per key, as [Mutex]'s, under this
// replica's lease. A key nobody runs or waits for has at most its marker
// in etcd, and after Forget nothing at all.
//
// # What Do does
//
// Do takes the key (locally first, then in etcd's queue) and then decides
// at one etcd revision: a marker exists, so it returns nil without running
// fn; or none does, so it runs fn, on the caller's goroutine, with a ctx
// derived from the caller's. fn's ctx is also cancelled, with cause
// [ErrLeaseLost], once this replica can no longer prove it holds its
// lease: another replica may then be admitted in its place. On success
// the marker is written, and the key given up, in one transaction fenced
// on the run's entry ([Permit.Fence]): etcd itself refuses it once the
// lease has expired, so a run that lost its lease never records a success
// (Do returns an error matching [ErrLeaseLost] although fn returned nil).
//
// A key's decision costs one transaction when it is uncontended (a hit
// returns from it; a miss runs fn and records with a second), one more
// for a caller admitted after waiting in etcd's queue.
//
// # Invariants
//
//   - At most one run of fn per key at a time across the cluster, within
//     the package's lease bound (see the package doc): a second run can
//     start only once the first one's entry is gone, which happens while
//     it runs only if its lease expired, after its fn's ctx was done.
//     Forget never starts or allows a run.
//   - A success is remembered, cluster-wide, until Forget; a failure or a
//     panic is not: the next Do runs fn again. A success whose run Forget
//     made stale (Forget came after the run had decided to run fn) is not
//     remembered either; its caller still gets nil, as with keyed.Once.
//   - After Forget returns, every Do that decides from then on, on any
//     replica, runs fn again: Forget deletes the marker and marks the run
//     in progress (if any) stale in the same transaction.
//   - Local first: a process-local keyed.Mutex stands in front, so two
//     goroutines of one replica never both hold a key through one lease,
//     a replica has at most one entry per key in etcd, and local
//     contention costs no etcd round trip until a caller's turn comes.
//
// # Differences from keyed.Once
//
// A waiter does not share a failed run's error: when its turn comes it
// decides again, and so finds the marker (nil) or runs fn itself. So
// after a failure the callers that waited run fn one after another, in
// order, each with its own ctx, until one succeeds. A run that Forget made
// stale does not hand its nil to the callers waiting behind it: they run
// fn again (the setup is gone). Remote callers cannot get the error value
// itself anyway, only what crosses etcd.
//
// # Fairness
//
// Per key: FIFO among this replica's callers (keyed.Mutex's order), then
// FIFO by etcd create revision among the replicas. Keys are independent.
// After a success, the callers queued behind it learn it in that order,
// one transaction each. One watch per Once, on prefix/lock/, wakes only
// the caller whose turn has come.
//
// # Closing
//
// [Once.Close] fails every waiting Do, and every later one, with
// [ErrClosed]. Runs in progress go on and record their success; the last
// one to finish revokes the lease. Forget works after Close.
type Once struct {
	q      *queue
	local  keyed.Mutex[string]
	marker string // prefix/done/

	running, admitted, runs, hits, shared, failed atomic.Int64
	panicked, forgotten, fenced, forgets          atomic.Int64
}

// errMarked is how a Do learns, from the transaction that would queue it,
// that the key's success is recorded.
var errMarked = errors.New("cluster: success recorded")

// NewOnce returns the Once on prefix. It grants this replica's lease and
// loads the keys run or waited for now, bounded by ctx. A nil client, an
// empty prefix or a TTL below the cluster's minimum is an error matching
// [ErrInvalid].
func NewOnce(ctx context.Context, cli *clientv3.Client, prefix string, opts ...Option) (*Once, error) {
	if ctx == nil {
		panic("cluster: NewOnce with nil Context")
	}
	cfg, err := buildConfig("NewOnce", opts)
	if err != nil {
		return nil, err
	}
	prefix, err = checkCommon("NewOnce", cli, prefix)
	if err != nil {
		return nil, err
	}
	q := newQueue(cli, cfg, prefix+"/lock/", func(string) int64 { return 1 })
	if err := q.start(ctx); err != nil {
		return nil, err
	}
	return &Once{q: q, marker: prefix + "/done/"}, nil
}

func (o *Once) markerKey(key string) string { return o.marker + keyGroup(key) }

// Do runs fn for key unless its success is recorded, on any replica, and
// was not forgotten since; it waits, first in the process and then in
// etcd's queue, while another call for key decides or runs. See the
// type's doc for the rules. It returns nil if the success was recorded
// before or by the run it waited for; fn's own error; nil if fn returned
// nil and the success was recorded (or Forget came during the run); an
// error matching [ErrLeaseLost] if the lease was lost while it waited, or
// during the run although fn returned nil (nothing recorded: another
// replica may have run alongside); ctx.Err() if ctx ended while waiting (a done ctx fails at
// once); [ErrClosed]; or etcd's error for one that cannot be retried.
//
// If fn panics or calls runtime.Goexit, nothing is recorded, the key is
// given up for the next caller, and the panic goes on up this goroutine
// unchanged. fn must not call Do for the same key on the same Once: it
// would wait for itself (until its ctx ends). It panics if ctx or fn is
// nil.
func (o *Once) Do(ctx context.Context, key string, fn func(context.Context) error) error {
	if ctx == nil {
		panic("cluster: Once.Do with nil Context")
	}
	if fn == nil {
		panic("cluster: Once.Do with nil func")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := o.q.begin(); err != nil {
		return err
	}
	waited := false
	if !o.local.TryLock(key) {
		waited = true
		if err := o.local.Lock(ctx, key); err != nil {
			o.q.end()
			if errors.Is(err, keyed.ErrClosed) {
				return ErrClosed
			}
			return err
		}
	}
	marker := o.markerKey(key)
	x := &extra{
		cmps:  []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(marker), "=", 0)},
		reads: []clientv3.Op{clientv3.OpGet(marker, clientv3.WithCountOnly())},
		check: func(reads []*pb.ResponseOp) error {
			if reads[0].GetResponseRange().GetCount() > 0 {
				return errMarked
			}
			return nil
		},
	}
	p, err := o.q.acquire(ctx, keyGroup(key), 1, false, func() { o.local.Unlock(key) }, x)
	if p == nil {
		o.local.Unlock(key)
		if errors.Is(err, errMarked) {
			o.hit(waited)
			return nil
		}
		return err
	}
	mod := p.mod
	if !p.atOnce {
		// Admitted after a wait: the run before may have succeeded.
		marked, m, err := o.decide(ctx, p, marker)
		if err != nil {
			p.Release()
			return err
		}
		if marked {
			o.hit(true)
			return nil
		}
		mod = m
	}
	return o.run(ctx, p, marker, mod, fn)
}

func (o *Once) hit(waited bool) {
	o.admitted.Add(1)
	if waited {
		o.shared.Add(1)
	} else {
		o.hits.Add(1)
	}
}

// decide is the decision of a caller admitted after a wait, in one
// transaction while it holds the key: if the marker exists, give the key
// up (marked); if not, report the entry's mod revision, which a Forget
// from now on moves. It ends with ctx, or with the lease.
func (o *Once) decide(ctx context.Context, p *Permit, marker string) (marked bool, mod int64, err error) {
	b := newBackoff()
	for {
		resp, err := o.q.cli.Txn(ctx).
			If(p.Fence(), clientv3.Compare(clientv3.CreateRevision(marker), ">", 0)).
			Then(clientv3.OpDelete(p.key)).
			Else(clientv3.OpGet(p.key), clientv3.OpGet(marker, clientv3.WithCountOnly())).Commit()
		if err == nil {
			if resp.Succeeded {
				p.release(true)
				return true, 0, nil
			}
			own := resp.Responses[0].GetResponseRange().GetKvs()
			if len(own) == 1 && own[0].CreateRevision == p.token {
				return false, own[0].ModRevision, nil
			}
			if resp.Responses[1].GetResponseRange().GetCount() > 0 {
				// Our entry is gone and a success is recorded: an earlier
				// attempt of this transaction landed, or the lease ended
				// after another run succeeded. Either way: recorded.
				p.release(true)
				return true, 0, nil
			}
			return false, 0, fmt.Errorf("%w: the entry was deleted before the run began", ErrLeaseLost)
		}
		if err := giveUp(ctx, o.q.cli, p.le, err); err != nil {
			return false, 0, err
		}
		if !b.wait(ctx) {
			return false, 0, ctx.Err()
		}
	}
}

// run calls fn under p and records its success.
func (o *Once) run(ctx context.Context, p *Permit, marker string, mod int64, fn func(context.Context) error) error {
	o.admitted.Add(1)
	o.running.Add(1)
	runCtx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(p.Context(), func() { cancel(context.Cause(p.Context())) })
	returned := false
	defer func() {
		stop()
		cancel(nil)
		o.running.Add(-1)
		if !returned {
			// fn panicked or called runtime.Goexit, which go on from
			// here: give the key up for the next caller.
			o.runs.Add(1)
			o.panicked.Add(1)
			p.Release()
		}
	}()
	err := fn(runCtx)
	returned = true
	o.runs.Add(1)
	stop()
	if err != nil {
		o.failed.Add(1)
		p.Release()
		return err
	}
	return o.record(p, marker, mod)
}

// record writes the marker and deletes the run's entry, in one
// transaction fenced on the entry (it exists, with its create revision)
// and on its mod revision (no Forget since the run began).
func (o *Once) record(p *Permit, marker string, mod int64) error {
	tok := strconv.FormatInt(p.token, 10)
	ctx, cancel := context.WithTimeout(context.Background(), o.q.cfg.opTimeout)
	defer cancel()
	b := newBackoff()
	for {
		resp, err := o.q.cli.Txn(ctx).
			If(p.Fence(), clientv3.Compare(clientv3.ModRevision(p.key), "=", mod)).
			Then(clientv3.OpPut(marker, tok), clientv3.OpDelete(p.key)).
			Else(clientv3.OpGet(p.key), clientv3.OpGet(marker)).Commit()
		if err == nil {
			if resp.Succeeded {
				p.release(true)
				return nil
			}
			own := resp.Responses[0].GetResponseRange().GetKvs()
			mk := resp.Responses[1].GetResponseRange().GetKvs()
			switch {
			case len(own) == 1 && own[0].CreateRevision == p.token:
				// Forget came during the run: fn's nil, not remembered.
				o.forgotten.Add(1)
				p.Release()
				return nil
			case len(own) == 0 && len(mk) == 1 && string(mk[0].Value) == tok:
				// An earlier attempt landed; its answer was lost.
				p.release(true)
				return nil
			}
			o.fenced.Add(1)
			p.Release()
			return fmt.Errorf("%w: during the run; its success was not recorded, and another replica may have run alongside", ErrLeaseLost)
		}
		if err := giveUp(ctx, o.q.cli, p.le, err); err != nil || !b.wait(ctx) {
			p.Release()
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("cluster: Once: fn succeeded, but etcd did not confirm the record (it may or may not have landed): %w", err)
		}
	}
}

// Forget deletes key's success marker, so that the next Do for key, on
// any replica, runs fn again: call it when what fn set up is gone. If a
// run is in progress, on any replica, it goes on (Forget never starts a
// run or lets one start beside it), but its success will not be
// remembered: the marker's delete and the mark that makes the run stale
// are one transaction. Forget of a key never run does nothing. It returns
// nil once done, ctx.Err() if ctx ended first, or etcd's error for one
// that cannot be retried. Forget works after Close. It panics if ctx is
// nil.
func (o *Once) Forget(ctx context.Context, key string) error {
	if ctx == nil {
		panic("cluster: Once.Forget with nil Context")
	}
	gp := o.q.groupPrefix(keyGroup(key))
	marker := o.markerKey(key)
	cli := o.q.cli
	b := newBackoff()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := cli.Ctx().Err(); err != nil {
			// A closed client's calls can take the retry policy's
			// backoff to fail: say so at once.
			return fmt.Errorf("cluster: etcd client closed: %w", err)
		}
		resp, err := cli.Get(ctx, gp, clientv3.WithPrefix(),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
		if err == nil {
			// The holder, if any, is the oldest entry. Mark it stale by a
			// put that keeps its value and lease and moves its mod
			// revision. Entries behind it decide after it, so they see
			// the marker gone. With no holder, require that none came.
			var cmp clientv3.Cmp
			ops := []clientv3.Op{clientv3.OpDelete(marker)}
			if len(resp.Kvs) > 0 {
				h := resp.Kvs[0]
				cmp = clientv3.Compare(clientv3.CreateRevision(string(h.Key)), "=", h.CreateRevision)
				ops = append(ops, clientv3.OpPut(string(h.Key), string(h.Value), clientv3.WithIgnoreLease()))
			} else {
				cmp = clientv3.Compare(clientv3.CreateRevision(gp), "=", 0).WithPrefix()
			}
			var tr *clientv3.TxnResponse
			tr, err = cli.Txn(ctx).If(cmp).Then(ops...).Commit()
			if err == nil {
				if tr.Succeeded {
					o.forgets.Add(1)
					return nil
				}
				continue // the holder changed: look again
			}
		}
		if err := giveUp(ctx, cli, nil, err); err != nil {
			return err
		}
		if !b.wait(ctx) {
			return ctx.Err()
		}
	}
}

// Close fails every waiting Do, and every later one, with [ErrClosed].
// Runs in progress go on, and record their success; the last one to
// finish revokes the lease. Close is idempotent.
func (o *Once) Close() {
	o.local.Close()
	o.q.close()
}

// OnceStats is a snapshot of a Once. The figures without "Cluster" are
// this replica's own.
type OnceStats struct {
	Running        int64 // keys whose fn runs on this replica now
	Waiting        int64 // this replica's callers waiting in etcd's queues
	LocalWaiting   int64 // this replica's callers waiting behind a local caller of the same key
	ClusterKeys    int64 // keys held (deciding or running) cluster-wide, as the watch last saw
	ClusterWaiting int64 // entries waiting cluster-wide, as the watch last saw
	// Admitted counts the Do calls let through to an answer: those that
	// ran fn (counted as fn starts) and those that found the success
	// recorded (Hits + Shared).
	// Not those that returned ctx.Err(), ErrClosed or an etcd error
	// before deciding.
	Admitted  int64
	Runs      int64 // total: calls of fn on this replica that returned or panicked
	Hits      int64 // total: Do calls that found the success recorded, without waiting
	Shared    int64 // total: Do calls that found it after waiting behind another call
	Failed    int64 // total: runs whose fn returned an error (not remembered)
	Panicked  int64 // total: runs whose fn panicked or called runtime.Goexit
	Forgotten int64 // total: successful runs not remembered because Forget came during the run
	Fenced    int64 // total: successful runs whose record the fence refused: the lease was lost
	Forgets   int64 // total: Forget calls that returned nil
	Contended int64 // total: callers admitted in etcd's queue after a wait
	Cancelled int64 // total: waits in etcd's queue ended by the caller's ctx
	Wakeups   int64 // total: waiting callers woken by the watch or Close
	// LeasesLost counts the leases this replica could no longer prove it
	// held.
	LeasesLost int64
	Closed     bool
}

// Stats returns a snapshot.
func (o *Once) Stats() OnceStats {
	qs := o.q.stats()
	ls := o.local.Stats()
	st := OnceStats{
		Running: o.running.Load(), Waiting: qs.Waiting, LocalWaiting: ls.Waiting,
		ClusterKeys: qs.ClusterInUse, ClusterWaiting: qs.ClusterWaiting,
		Runs: o.runs.Load(), Hits: o.hits.Load(), Shared: o.shared.Load(),
		Failed: o.failed.Load(), Panicked: o.panicked.Load(), Forgotten: o.forgotten.Load(),
		Fenced: o.fenced.Load(), Forgets: o.forgets.Load(),
		Contended: qs.Contended, Cancelled: qs.Cancelled, Wakeups: qs.Wakeups,
		LeasesLost: qs.LeasesLost, Closed: qs.Closed,
	}
	st.Admitted = o.admitted.Load()
	return st
}
