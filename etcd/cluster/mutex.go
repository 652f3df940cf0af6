package cluster

import (
	"context"
	"errors"
	"net/url"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice/keyed"
)

// Mutex is a set of locks, one per key, shared by every replica that
// creates one on the same etcd prefix: keyed.Mutex's contract,
// cluster-wide.
//
// # Keys
//
// prefix/keys/=<key, path-escaped>/<lease>-<n> is one Lock: its create
// revision is its place in that key's queue. The holder is the oldest
// entry (a queue of capacity 1). Unlock deletes the entry, so nothing is
// left in etcd for a key nobody holds or waits for.
//
// # Local first
//
// A process-local keyed.Mutex stands in front: a caller first locks the
// key in the process, then queues in etcd. So two goroutines of one
// replica never both "hold" a key through the same lease (etcd's own
// concurrency.Mutex allows that on a shared Session), local contention
// never costs a round trip, and a replica has at most one entry per key
// in etcd.
//
// # Fairness
//
// Per key: FIFO among this replica's callers (keyed.Mutex's order), then
// FIFO by etcd revision among the replicas. Keys are independent. One
// watch per Mutex, on prefix/keys/, wakes only the caller its event hands
// a key to.
//
// # Invariants
//
// As for [Semaphore], with capacity 1 per key: see the package doc for
// the bound, and [Permit.Fence] to make etcd writes safe regardless.
type Mutex struct {
	q     *queue
	local keyed.Mutex[string]
}

// NewMutex returns the Mutex on prefix. It grants this replica's lease
// and loads the keys held now, bounded by ctx. A nil client, an empty
// prefix or a TTL below the cluster's minimum is an error matching
// [ErrInvalid].
func NewMutex(ctx context.Context, cli *clientv3.Client, prefix string, opts ...Option) (*Mutex, error) {
	if ctx == nil {
		panic("cluster: NewMutex with nil Context")
	}
	cfg, err := buildConfig("NewMutex", opts)
	if err != nil {
		return nil, err
	}
	prefix, err = checkCommon("NewMutex", cli, prefix)
	if err != nil {
		return nil, err
	}
	q := newQueue(cli, cfg, prefix+"/keys/", func(string) int64 { return 1 })
	if err := q.start(ctx); err != nil {
		return nil, err
	}
	return &Mutex{q: q}, nil
}

func keyGroup(key string) string { return "=" + url.PathEscape(key) }

// Lock waits until the caller holds key across the cluster and returns
// the hold as a *Permit: release it to unlock. Errors as for
// [Semaphore.Acquire].
func (m *Mutex) Lock(ctx context.Context, key string) (*Permit, error) {
	return m.lock(ctx, key, false)
}

// TryLock takes key if no replica holds or waits for it, and returns nil,
// nil if not; it makes one or two round trips, bounded by ctx.
func (m *Mutex) TryLock(ctx context.Context, key string) (*Permit, error) {
	return m.lock(ctx, key, true)
}

func (m *Mutex) lock(ctx context.Context, key string, try bool) (*Permit, error) {
	if ctx == nil {
		panic("cluster: Mutex.Lock with nil Context")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.q.begin(); err != nil {
		return nil, err
	}
	if try {
		if !m.local.TryLock(key) {
			m.q.mu.Lock()
			m.q.rejected++
			m.q.mu.Unlock()
			m.q.end()
			return nil, nil
		}
	} else if err := m.local.Lock(ctx, key); err != nil {
		m.q.end()
		if errors.Is(err, keyed.ErrClosed) {
			return nil, ErrClosed
		}
		return nil, err
	}
	p, err := m.q.acquire(ctx, keyGroup(key), 1, try, func() { m.local.Unlock(key) }, nil)
	if p == nil {
		m.local.Unlock(key)
	}
	return p, err
}

// Close fails every waiting Lock, and every later one, with [ErrClosed].
// Keys held stay held until released; the last release revokes the lease.
// Close is idempotent.
func (m *Mutex) Close() {
	m.local.Close()
	m.q.close()
}

// MutexStats is a snapshot of a Mutex. The figures without "Cluster" are
// this replica's own.
type MutexStats struct {
	Keys           int64 // keys this replica holds
	Waiting        int64 // this replica's callers waiting in etcd's queues
	LocalWaiting   int64 // this replica's callers waiting for a local holder
	ClusterKeys    int64 // keys held cluster-wide, as the watch last saw
	ClusterWaiting int64 // entries waiting cluster-wide, as the watch last saw
	Admitted       int64 // total: holds granted
	Contended      int64 // total: of those, after waiting in etcd's queue
	Cancelled      int64 // total: waits in etcd's queue ended by the caller's ctx
	Rejected       int64 // total: TryLock calls that returned nil
	Wakeups        int64 // total: waiting callers woken by the watch or Close
	LeasesLost     int64
	Closed         bool
}

// Stats returns a snapshot.
func (m *Mutex) Stats() MutexStats {
	qs := m.q.stats()
	ls := m.local.Stats()
	return MutexStats{
		Keys: qs.InUse, Waiting: qs.Waiting, LocalWaiting: ls.Waiting,
		ClusterKeys: qs.ClusterInUse, ClusterWaiting: qs.ClusterWaiting,
		Admitted: qs.Admitted, Contended: qs.Contended, Cancelled: qs.Cancelled, Rejected: qs.Rejected,
		Wakeups: qs.Wakeups, LeasesLost: qs.LeasesLost, Closed: qs.Closed,
	}
}
