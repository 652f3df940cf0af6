// Package peerstreams replays seed 001: a p2p node opens one outbound
// stream per peer, from two paths that race.
//
// The dial path opens the stream after the handshake; the inbound path
// opens it when the peer's own stream arrives. Both check "does this peer
// have an outbound stream?", then open one, then register it. Opening is a
// network round trip, so both can pass the check before either registers,
// and one stream is orphaned. The seed first hid this behind a 100 ms
// sleep, then fixed it with a per-peer lock deleted on disconnect; deleting
// a lock while a setup holds it lets a reconnect start a second setup
// beside the first.
//
// Three nodes run the same two phases over a fake transport (node.go):
//
//   - naive (naive.go): check, open, register; no lock (the code before
//     the fix). Every peer gets two streams and one is orphaned.
//   - seed fix (naive.go): the same under a per-peer lock from a map,
//     deleted on disconnect (the seed's fix). No orphans, but a reconnect
//     runs its setup beside the one in flight; its figures are reported
//     beside the naive node's.
//   - sluice (sluice.go): the setup is a [keyed.Once] per peer and
//     disconnect calls Forget. One stream per peer, never two setups of a
//     peer at once, and the entries follow the connected peers.
//
// Phase 1: the dial and inbound paths race for every peer: the network
// answers only once both paths of every peer have made their move (each
// is opening a stream, or waits for the other's setup), the window a
// round trip leaves open. Phase 2: for every peer a setup is in flight
// (its open held in the network) when the peer disconnects and
// reconnects, and the reconnect starts its own setup.
//
// Both phases wait for states (how many opens are in flight, how many
// callers wait), never for the scheduler, so every run gives the same
// figures: the naive node orphans one stream for every peer.
package peerstreams

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/demo"
)

// Config sizes a run.
type Config struct {
	Peers int // peers in each phase; default 10,000
	// Registry, when not nil, gets the sluice node's keyed.Once as
	// "peerstreams/stream setup". It changes no figure.
	Registry *debug.Registry
}

func (c Config) withDefaults() Config {
	if c.Peers <= 0 {
		c.Peers = 10_000
	}
	return c
}

// Report is what one variant measured.
type Report struct {
	Peers int

	// Phase 1: dial and inbound paths race.
	Opened       int // streams opened
	Orphans      int // streams opened and then lost: registered over, never used, never closed
	DoubleOpened int // peers for which more than one stream was opened
	Registered   int // peers with a registered stream at the end of the phase
	Phase1Max    int // most setups of one peer in progress at once

	// Phase 2: a reconnect races a disconnect during setup.
	Phase2Max        int // most setups of one peer in progress at once
	ReconnectOrphans int // orphaned streams in phase 2
	Reconnected      int // peers with a registered stream at the end of phase 2

	// Bookkeeping entries the node keeps for its peers (locks, Once
	// entries; 0 for the naive node, which keeps none).
	EntriesAfterSetup      int // end of phase 1, nobody disconnected yet
	EntriesAfterDisconnect int // every peer disconnected
	EntriesAfterReconnect  int // end of phase 2
	EntriesAtEnd           int // every peer disconnected again

	Elapsed time.Duration
}

// Scenario runs the naive node (with the seed fix's figures beside it) and
// the sluice node.
func Scenario() demo.Scenario {
	return demo.Scenario{
		Name:    "peerstreams",
		Seed:    "001",
		Summary: "two paths check-then-open a peer's stream and orphan one; keyed.Once opens exactly one, and Forget never lets a reconnect run beside a setup",
		Run: func(ctx context.Context, opt demo.Options) ([]demo.Result, error) {
			cfg := Config{Registry: opt.Registry}.withDefaults() // only the sluice node registers
			naive, err := RunNaive(ctx, cfg)
			if err != nil {
				return nil, err
			}
			fix, err := RunSeedFix(ctx, cfg)
			if err != nil {
				return nil, err
			}
			sl, err := RunSluice(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return []demo.Result{naiveResult(naive, fix), sluiceResult(sl)}, nil
		},
	}
}

func naiveResult(r, fix Report) demo.Result {
	res := demo.Result{
		Scenario: "peerstreams",
		Variant:  demo.Naive,
		Metrics: []demo.Metric{
			demo.M("peers", r.Peers),
			demo.M("streams opened", r.Opened),
			demo.M("orphaned streams", r.Orphans),
			demo.M("peers opened twice", r.DoubleOpened),
			demo.M("setups of one peer at once", max(r.Phase1Max, r.Phase2Max)),
			demo.M("seed fix: orphaned streams", fix.Orphans),
			demo.M("seed fix: reconnect setups at once", fix.Phase2Max),
			demo.M("elapsed", r.Elapsed.Round(time.Millisecond)),
		},
	}
	res.OK = r.Orphans > 0
	if res.OK {
		res.Verdict = fmt.Sprintf("%d streams orphaned: both paths passed the check before either registered", r.Orphans)
		if fix.Phase2Max > 1 {
			res.Verdict += fmt.Sprintf("; with the seed's lock fix a reconnect still ran %d setups at once", fix.Phase2Max)
		}
	} else {
		res.Verdict = "the race did not show: no orphaned stream"
	}
	return res
}

func sluiceResult(r Report) demo.Result {
	res := demo.Result{
		Scenario: "peerstreams",
		Variant:  demo.Sluice,
		Metrics: []demo.Metric{
			demo.M("peers", r.Peers),
			demo.M("streams opened", r.Opened),
			demo.M("orphaned streams", r.Orphans+r.ReconnectOrphans),
			demo.M("setups of one peer at once", max(r.Phase1Max, r.Phase2Max)),
			demo.M("entries after setup", r.EntriesAfterSetup),
			demo.M("after disconnect", r.EntriesAfterDisconnect),
			demo.M("after reconnect", r.EntriesAfterReconnect),
			demo.M("at end", r.EntriesAtEnd),
			demo.M("elapsed", r.Elapsed.Round(time.Millisecond)),
		},
	}
	var failed []string
	check := func(ok bool, what string) {
		if !ok {
			failed = append(failed, what)
		}
	}
	check(r.Orphans == 0 && r.ReconnectOrphans == 0, "orphaned streams")
	check(r.Opened == r.Peers && r.DoubleOpened == 0, "not exactly one stream per peer")
	check(r.Registered == r.Peers && r.Reconnected == r.Peers, "a peer without a stream")
	check(r.Phase1Max == 1 && r.Phase2Max == 1, "two setups of one peer at once")
	check(r.EntriesAfterSetup == r.Peers && r.EntriesAfterDisconnect == 0 &&
		r.EntriesAfterReconnect == r.Peers && r.EntriesAtEnd == 0, "entries did not follow the connected peers")
	res.OK = len(failed) == 0
	if res.OK {
		res.Verdict = "one stream per peer, never two setups of a peer at once, entries freed on disconnect"
	} else {
		res.Verdict = fmt.Sprintf("failed: %v", failed)
	}
	return res
}

func run(ctx context.Context, cfg Config, mk func(*node) setupNode) (Report, error) {
	start := time.Now()
	peers := cfg.Peers
	tr := newTransport(peers)
	base := &node{tr: tr, out: map[int]*stream{}, inSetup: make([]atomic.Int32, peers)}
	n := mk(base)
	rep := Report{Peers: peers}

	// Phase 1: for every peer the dial path (after the handshake) and the
	// inbound path (the peer's stream arrived) both set up the outbound
	// stream. The network answers once both paths of every peer have made
	// their move: that is the race window of a round trip, opened wide
	// and on purpose, so the outcome does not depend on the scheduler.
	hold1 := make(chan struct{})
	tr.hold.Store(&hold1)
	var wg sync.WaitGroup
	for p := range peers {
		wg.Add(2)
		go func() { defer wg.Done(); _ = n.setupOutbound(ctx, p) }() // dial
		go func() { defer wg.Done(); _ = n.setupOutbound(ctx, p) }() // inbound
	}
	err := waitUntil(ctx, func() bool { return n.racersWaiting(peers) })
	tr.hold.Store(nil)
	close(hold1)
	wg.Wait()
	if err != nil {
		return rep, fmt.Errorf("peerstreams: waiting for both paths: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	rep.Opened = int(tr.opened.Load())
	rep.DoubleOpened = tr.doubleOpened()
	rep.Registered, rep.Orphans = base.registered()
	rep.Phase1Max = int(base.maxSetups.Load())
	rep.EntriesAfterSetup = n.entries()

	for p := range peers {
		tr.disconnect(p)
		n.disconnect(p)
		tr.connect(p)
	}
	rep.EntriesAfterDisconnect = n.entries()

	// Phase 2: a setup is in flight for every peer, its open held in the
	// network, when the peer disconnects and reconnects; the reconnect
	// sets up again. Only then does the network answer: the first open
	// fails (its connection closed), the reconnect's succeeds.
	tr.resetCounts()
	base.maxSetups.Store(0)
	_, orphansBefore := base.registered()
	hold := make(chan struct{})
	tr.hold.Store(&hold)
	released := false
	release := func() {
		if !released {
			released = true
			tr.hold.Store(nil)
			close(hold)
		}
	}
	defer release()
	for p := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.setupOutbound(ctx, p) }()
	}
	if err := waitUntil(ctx, func() bool { return tr.pending.Load() >= int64(peers) }); err != nil {
		release()
		wg.Wait()
		return rep, fmt.Errorf("peerstreams: waiting for the first setups: %w", err)
	}
	for p := range peers {
		tr.disconnect(p)
		n.disconnect(p)
		tr.connect(p)
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.setupOutbound(ctx, p) }() // reconnect
	}
	if err := waitUntil(ctx, func() bool { return n.reconnectsWaiting(peers) }); err != nil {
		release()
		wg.Wait()
		return rep, fmt.Errorf("peerstreams: waiting for the reconnects: %w", err)
	}
	release()
	wg.Wait()
	var orphansAfter int
	rep.Reconnected, orphansAfter = base.registered()
	rep.ReconnectOrphans = orphansAfter - orphansBefore
	rep.Phase2Max = int(base.maxSetups.Load())
	rep.EntriesAfterReconnect = n.entries()

	for p := range peers {
		tr.disconnect(p)
		n.disconnect(p)
	}
	rep.EntriesAtEnd = n.entries()
	rep.Elapsed = time.Since(start)
	return rep, ctx.Err()
}

// waitUntil re-checks cond on a short ticker until it holds or ctx ends.
// It is used for states that have no event of their own (how many calls
// are blocked somewhere); it blocks on the ticker, never sleeps.
func waitUntil(ctx context.Context, cond func() bool) error {
	if cond() {
		return nil
	}
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
