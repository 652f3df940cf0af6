// Package b is the seed's node fixed with sluice: no report.
package b

import (
	"context"
	"sync"

	"github.com/sluice-go/sluice/keyed"
)

type stream struct{}

func open(ctx context.Context, peer int) (*stream, error) { return &stream{}, nil }

type node struct {
	mu   sync.Mutex
	out  map[int]*stream
	once keyed.Once[int]
	keys keyed.Mutex[int]
}

func (n *node) hasOutbound(peer int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out[peer] != nil
}

func (n *node) register(peer int, s *stream) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.out[peer] = s
}

func (n *node) openAndRegister(ctx context.Context, peer int) error {
	s, err := open(ctx, peer)
	if err != nil {
		return err
	}
	n.register(peer, s)
	return nil
}

// keyed.Once: the setup runs once per peer.
func (n *node) setupOnce(ctx context.Context, peer int) error {
	return n.once.Do(ctx, peer, func(ctx context.Context) error {
		return n.openAndRegister(ctx, peer)
	})
}

func (n *node) disconnect(peer int) {
	n.mu.Lock()
	delete(n.out, peer)
	n.mu.Unlock()
	n.once.Forget(peer)
}

// keyed.Mutex holds the key across check, open and register.
func (n *node) setupKeyed(ctx context.Context, peer int) error {
	if err := n.keys.Lock(ctx, peer); err != nil {
		return err
	}
	defer n.keys.Unlock(peer)
	if n.hasOutbound(peer) {
		return nil
	}
	return n.openAndRegister(ctx, peer)
}

// Locking another key does not cover this one.
func (n *node) setupWrongKey(ctx context.Context, peer, other int) error {
	if err := n.keys.Lock(ctx, other); err != nil {
		return err
	}
	defer n.keys.Unlock(other)
	if n.hasOutbound(peer) { // want `n.out\[peer\] checked`
		return nil
	}
	return n.openAndRegister(ctx, peer)
}
