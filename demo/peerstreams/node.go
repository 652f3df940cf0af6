package peerstreams

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

var errConnClosed = errors.New("peerstreams: connection closed")

type conn struct {
	closed atomic.Bool
}

type stream struct {
	peer int
	conn *conn
}

// transport opens streams on the current connection to each peer. An open
// is a network round trip: it waits until the run lets the network answer,
// which holds a setup in progress for as long as the run needs. An open
// whose connection closed meanwhile fails.
type transport struct {
	conns   []atomic.Pointer[conn]
	opens   []atomic.Int32 // successful opens per peer, this phase
	hold    atomic.Pointer[chan struct{}]
	pending atomic.Int64 // opens in flight
	opened  atomic.Int64 // successful opens, this phase
}

func newTransport(peers int) *transport {
	t := &transport{
		conns: make([]atomic.Pointer[conn], peers),
		opens: make([]atomic.Int32, peers),
	}
	for p := range peers {
		t.connect(p)
	}
	return t
}

func (t *transport) connect(peer int)    { t.conns[peer].Store(&conn{}) }
func (t *transport) disconnect(peer int) { t.conns[peer].Load().closed.Store(true) }

func (t *transport) openStream(ctx context.Context, peer int) (*stream, error) {
	c := t.conns[peer].Load()
	t.pending.Add(1)
	defer t.pending.Add(-1)
	// The round trip between the caller's check and its register.
	if h := t.hold.Load(); h != nil {
		select {
		case <-*h:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.closed.Load() {
		return nil, errConnClosed
	}
	t.opened.Add(1)
	t.opens[peer].Add(1)
	return &stream{peer: peer, conn: c}, nil
}

// resetCounts starts a phase's counts.
func (t *transport) resetCounts() {
	t.opened.Store(0)
	for p := range t.opens {
		t.opens[p].Store(0)
	}
}

func (t *transport) doubleOpened() int {
	n := 0
	for p := range t.opens {
		if t.opens[p].Load() > 1 {
			n++
		}
	}
	return n
}

// node is what all three variants share: the transport, the registry of
// outbound streams (itself safe for concurrent use, as in the seed: the
// bug is the check-then-act across the open, not the map), and the
// tracker of setups in progress per peer.
type node struct {
	tr *transport

	mu      sync.Mutex
	out     map[int]*stream
	orphans int

	inSetup   []atomic.Int32
	maxSetups atomic.Int32
}

func (n *node) hasOutbound(peer int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out[peer] != nil
}

// register records s as peer's outbound stream. A stream it replaces is
// orphaned: open, unused, and never closed.
func (n *node) register(peer int, s *stream) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.out[peer] != nil {
		n.orphans++
	}
	n.out[peer] = s
}

// dropOutbound closes and forgets peer's stream (disconnect).
func (n *node) dropOutbound(peer int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.out, peer)
}

func (n *node) registered() (peers, orphans int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.out), n.orphans
}

// enterSetup records a setup of peer in progress and returns its end.
func (n *node) enterSetup(peer int) (leave func()) {
	c := n.inSetup[peer].Add(1)
	for {
		m := n.maxSetups.Load()
		if c <= m || n.maxSetups.CompareAndSwap(m, c) {
			break
		}
	}
	return func() { n.inSetup[peer].Add(-1) }
}

// openAndRegister is the setup itself, common to all variants.
func (n *node) openAndRegister(ctx context.Context, peer int) error {
	defer n.enterSetup(peer)()
	s, err := n.tr.openStream(ctx, peer)
	if err != nil {
		return err
	}
	n.register(peer, s)
	return nil
}

type setupNode interface {
	// setupOutbound is called by both the dial and the inbound path.
	setupOutbound(ctx context.Context, peer int) error
	// disconnect is the node's disconnect handler.
	disconnect(peer int)
	// entries counts the bookkeeping kept per peer.
	entries() int
	// racersWaiting reports whether, in phase 1, both paths of all n
	// peers have made their move: each is opening a stream (its open
	// held in the network) or waits for the other path's setup.
	racersWaiting(n int) bool
	// reconnectsWaiting reports whether all n phase-2 reconnects have
	// reached the point where they wait (for the network, or for the
	// setup in progress).
	reconnectsWaiting(n int) bool
}
