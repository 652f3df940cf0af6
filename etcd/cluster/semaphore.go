package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice/sem"
)

// Semaphore is a weighted semaphore shared by every replica that creates
// one on the same etcd prefix: sem's contract, cluster-wide.
//
// # Keys
//
// prefix/capacity holds the capacity (written by the first replica;
// every later one must agree). prefix/q/<lease>-<n> is one Acquire: its
// value is the weight, its lease this replica's, its create revision its
// place in the queue.
//
// # Admission and fairness
//
// Strict FIFO across every replica, by create revision: an entry is
// admitted iff the weights of the entries created before it, plus its
// own, fit in the capacity. A waiter that does not fit blocks every
// waiter behind it, on every replica, so a large request is never
// starved. A retried put keeps its key and so its place. [TryAcquire]
// never jumps the queue: it fails while anyone waits.
//
// Local first: a process-local sem.Semaphore of the same capacity stands
// in front. A caller first takes its weight there (FIFO among this
// process's callers), then queues in etcd; so local contention never
// costs an etcd round trip, and this replica never has more than the
// capacity queued or held in etcd. The order is: FIFO within the process
// up to the local gate, then FIFO by etcd revision across replicas.
//
// # Wake-ups
//
// One watch per Semaphore, on prefix/q/, keeps a mirror of the queue; on
// each event the watch goroutine applies the admission rule and wakes
// only this replica's waiters that it admits (Stats.Wakeups counts every
// wake-up, also those for a lost lease or Close).
//
// # Invariants
//
//   - At every etcd revision the admitted entries' weights sum to at most
//     the capacity, and an Acquire returns a Permit only once its entry is
//     admitted. See the package doc for the exact bound on holders that
//     believe they hold.
//   - A waiter whose ctx ends returns ctx.Err(), holds nothing, and its
//     key is deleted at once (the waiters behind it are then admitted by
//     the same rule); if the delete fails, the janitor retries it until it
//     succeeds or the lease ends.
//   - A Permit gives its permits back exactly once.
//   - Close fails every waiter and later call with [ErrClosed]; permits
//     held stay held (their lease kept alive) until released, and the last
//     release revokes the lease and stops the Semaphore's goroutines.
type Semaphore struct {
	q        *queue
	local    *sem.Semaphore
	capacity int64
	rejected int64
}

// NewSemaphore returns the Semaphore of capacity permits on prefix. The
// first replica stores the capacity in etcd; a replica that passes a
// different one gets an error matching [ErrCapacityMismatch]. It grants
// this replica's lease and loads the queue, bounded by ctx. Bad input (a
// nil client, an empty prefix, a capacity that is not positive, a TTL
// below the cluster's minimum) is an error matching [ErrInvalid].
func NewSemaphore(ctx context.Context, cli *clientv3.Client, prefix string, capacity int64, opts ...Option) (*Semaphore, error) {
	if ctx == nil {
		panic("cluster: NewSemaphore with nil Context")
	}
	cfg, err := buildConfig("NewSemaphore", opts)
	if err != nil {
		return nil, err
	}
	prefix, err = checkCommon("NewSemaphore", cli, prefix)
	if err != nil {
		return nil, err
	}
	if capacity <= 0 {
		return nil, fmt.Errorf("%w: NewSemaphore: capacity %d is not positive", ErrInvalid, capacity)
	}
	if capacity > sem.MaxSize {
		return nil, fmt.Errorf("%w: NewSemaphore: capacity %d exceeds %d", ErrInvalid, capacity, int64(sem.MaxSize))
	}
	capKey := prefix + "/capacity"
	capStr := strconv.FormatInt(capacity, 10)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(capKey), "=", 0)).
		Then(clientv3.OpPut(capKey, capStr)).
		Else(clientv3.OpGet(capKey)).Commit()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cluster: NewSemaphore: store capacity: %w", err)
	}
	mismatch := func(kvs []*mvccpb.KeyValue) error {
		if len(kvs) == 0 {
			return fmt.Errorf("%w: %s was deleted", ErrCapacityMismatch, capKey)
		}
		if got := string(kvs[0].Value); got != capStr {
			return fmt.Errorf("%w: %s is %s, this replica was given %s", ErrCapacityMismatch, capKey, got, capStr)
		}
		return nil
	}
	if !resp.Succeeded {
		if err := mismatch(resp.Responses[0].GetResponseRange().Kvs); err != nil {
			return nil, err
		}
	}
	q := newQueue(cli, cfg, prefix+"/q/", func(string) int64 { return capacity })
	q.cmps = []clientv3.Cmp{clientv3.Compare(clientv3.Value(capKey), "=", capStr)}
	q.elseOps = []clientv3.Op{clientv3.OpGet(capKey)}
	q.onElse = func(resps []*pb.ResponseOp) error { return mismatch(resps[0].GetResponseRange().Kvs) }
	if err := q.start(ctx); err != nil {
		return nil, err
	}
	return &Semaphore{q: q, local: sem.New(capacity), capacity: capacity}, nil
}

func checkCommon(what string, cli *clientv3.Client, prefix string) (string, error) {
	if cli == nil {
		return "", fmt.Errorf("%w: %s: nil etcd client", ErrInvalid, what)
	}
	p := strings.TrimRight(prefix, "/")
	if p == "" {
		return "", fmt.Errorf("%w: %s: empty prefix %q", ErrInvalid, what, prefix)
	}
	return p, nil
}

// Capacity returns the number of permits cluster-wide.
func (s *Semaphore) Capacity() int64 { return s.capacity }

// Acquire waits until n permits are held by the caller, cluster-wide, and
// returns them as an owned *Permit. It returns ctx.Err() if ctx ends first
// (a done ctx fails at once), [ErrClosed] once the Semaphore is closed, an
// error matching [ErrLeaseLost] if the lease its entry was under is lost
// while it waits, an error matching [ErrTooLarge] for n above the
// capacity, [ErrInvalid] for n < 1, and etcd's error for one that cannot
// be retried. An unreachable cluster makes it wait until ctx ends or the
// lease is lost, whichever is first: never longer.
func (s *Semaphore) Acquire(ctx context.Context, n int64) (*Permit, error) {
	return s.acquire(ctx, n, false)
}

// TryAcquire takes n permits if they are free cluster-wide and nobody
// waits before it; it returns nil, nil if not. It never waits for other
// holders, but it does make one round trip to etcd (two when it must
// withdraw), bounded by ctx.
func (s *Semaphore) TryAcquire(ctx context.Context, n int64) (*Permit, error) {
	return s.acquire(ctx, n, true)
}

func (s *Semaphore) acquire(ctx context.Context, n int64, try bool) (*Permit, error) {
	if ctx == nil {
		panic("cluster: Semaphore.Acquire with nil Context")
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: Acquire(%d): weight must be positive", ErrInvalid, n)
	}
	if n > s.capacity {
		return nil, fmt.Errorf("%w: asked for %d of %d", ErrTooLarge, n, s.capacity)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.q.begin(); err != nil {
		return nil, err
	}
	if try {
		if !s.local.TryAcquire(n) {
			s.q.mu.Lock()
			s.rejected++
			s.q.mu.Unlock()
			s.q.end()
			return nil, nil
		}
	} else if err := s.local.Acquire(ctx, n); err != nil {
		s.q.end()
		if errors.Is(err, sem.ErrClosed) {
			return nil, ErrClosed
		}
		return nil, err
	}
	p, err := s.q.acquire(ctx, "", n, try, func() { s.local.Release(n) }, nil)
	if p == nil {
		s.local.Release(n)
	}
	return p, err
}

// Close fails every waiting Acquire, and every later one, with
// [ErrClosed]. Permits held stay held until released; the last release
// revokes the lease. Close is idempotent.
func (s *Semaphore) Close() {
	s.local.Close()
	s.q.close()
}

// Stats is a snapshot of a Semaphore, in sluice's vocabulary. The figures
// without "Cluster" are this replica's own.
type Stats struct {
	Capacity       int64 // permits cluster-wide
	InUse          int64 // permits held by this replica's Permits
	Waiting        int64 // this replica's callers waiting in etcd's queue
	LocalWaiting   int64 // this replica's callers waiting at the local gate
	ClusterInUse   int64 // permits admitted cluster-wide, as the watch last saw
	ClusterWaiting int64 // entries waiting cluster-wide, as the watch last saw
	Admitted       int64 // total: Permits returned
	Contended      int64 // total: of those, admitted after waiting in etcd's queue
	Cancelled      int64 // total: waits in etcd's queue ended by the caller's ctx
	Rejected       int64 // total: TryAcquire calls that returned nil
	Wakeups        int64 // total: waiting callers woken by the watch or Close
	LeasesLost     int64 // total: leases this replica could no longer prove it held
	Closed         bool
}

// Stats returns a snapshot. Wakeups/Contended is the wake-ups per
// admission after a wait: 1 when every wake-up admits.
func (s *Semaphore) Stats() Stats {
	qs := s.q.stats()
	ls := s.local.Stats()
	s.q.mu.Lock()
	rej := s.rejected
	s.q.mu.Unlock()
	return Stats{
		Capacity: s.capacity, InUse: qs.InUse, Waiting: qs.Waiting, LocalWaiting: ls.Waiting,
		ClusterInUse: qs.ClusterInUse, ClusterWaiting: qs.ClusterWaiting,
		Admitted: qs.Admitted, Contended: qs.Contended, Cancelled: qs.Cancelled,
		Rejected: qs.Rejected + rej, Wakeups: qs.Wakeups, LeasesLost: qs.LeasesLost, Closed: qs.Closed,
	}
}
