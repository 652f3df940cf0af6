package peerstreams

import (
	"context"

	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/keyed"
)

// RunSluice runs the node with its setup in a keyed.Once.
func RunSluice(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	var regErr error
	r, err := run(ctx, cfg, func(n *node) setupNode {
		sn := &sluiceNode{node: n}
		regErr = demo.Register(cfg.Registry, "peerstreams/stream setup", &sn.once)
		return sn
	})
	if err == nil {
		err = regErr
	}
	return r, err
}

// sluiceNode: the setup runs in a keyed.Once; disconnect forgets the peer.
type sluiceNode struct {
	*node
	once keyed.Once[int]
}

func (n *sluiceNode) setupOutbound(ctx context.Context, peer int) error {
	return n.once.Do(ctx, peer, func(ctx context.Context) error {
		return n.openAndRegister(ctx, peer)
	})
}

func (n *sluiceNode) disconnect(peer int) {
	n.dropOutbound(peer)
	n.once.Forget(peer)
}

func (n *sluiceNode) entries() int { return n.once.Len() }

// One path runs the setup and opens; the other has joined it in Do.
func (n *sluiceNode) racersWaiting(k int) bool {
	return n.tr.pending.Load() >= int64(k) && n.once.Stats().Waiting >= int64(k)
}

func (n *sluiceNode) reconnectsWaiting(k int) bool {
	return n.once.Stats().Waiting >= int64(k)
}
