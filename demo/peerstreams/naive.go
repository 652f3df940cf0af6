package peerstreams

import (
	"context"
	"sync"
	"sync/atomic"
)

// RunNaive runs the node as the seed's code was before the fix.
func RunNaive(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	return run(ctx, cfg, func(n *node) setupNode { return &naiveNode{node: n} })
}

// RunSeedFix runs the node with the seed's fix: a per-peer lock from a
// map, deleted on disconnect.
func RunSeedFix(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	return run(ctx, cfg, func(n *node) setupNode { return &seedFixNode{node: n, locks: map[int]*sync.Mutex{}} })
}

// naiveNode: check, open, register. No lock.
type naiveNode struct{ *node }

func (n *naiveNode) setupOutbound(ctx context.Context, peer int) error {
	if n.hasOutbound(peer) {
		return nil
	}
	return n.openAndRegister(ctx, peer)
}

func (n *naiveNode) disconnect(peer int) { n.dropOutbound(peer) }
func (n *naiveNode) entries() int        { return 0 }

// Nothing stops the second path: both pass the check and open.
func (n *naiveNode) racersWaiting(k int) bool { return n.tr.pending.Load() >= int64(2*k) }
func (n *naiveNode) reconnectsWaiting(k int) bool {
	return n.tr.pending.Load() >= int64(2*k)
}

// seedFixNode: the seed's fix, a per-peer lock around check-and-open,
// deleted on disconnect.
type seedFixNode struct {
	*node
	locksMu sync.Mutex
	locks   map[int]*sync.Mutex
	waiting atomic.Int64 // callers at or in l.Lock()
}

func (n *seedFixNode) setupOutbound(ctx context.Context, peer int) error {
	n.locksMu.Lock()
	l := n.locks[peer]
	if l == nil {
		l = new(sync.Mutex)
		n.locks[peer] = l
	}
	n.locksMu.Unlock()
	n.waiting.Add(1)
	l.Lock()
	n.waiting.Add(-1)
	defer l.Unlock()
	if n.hasOutbound(peer) {
		return nil
	}
	return n.openAndRegister(ctx, peer)
}

func (n *seedFixNode) disconnect(peer int) {
	n.locksMu.Lock()
	delete(n.locks, peer) // "lock entries are cleared on disconnect"
	n.locksMu.Unlock()
	n.dropOutbound(peer)
}

func (n *seedFixNode) entries() int {
	n.locksMu.Lock()
	defer n.locksMu.Unlock()
	return len(n.locks)
}

// One path holds the lock and opens; the other is at the lock. (It may
// not be parked in Lock yet, but once it has counted itself it can only
// take the lock after the holder registered, so the outcome is the same.)
func (n *seedFixNode) racersWaiting(k int) bool {
	return n.tr.pending.Load() >= int64(k) && n.waiting.Load() >= int64(k)
}

func (n *seedFixNode) reconnectsWaiting(k int) bool {
	return n.tr.pending.Load() >= int64(2*k)
}
