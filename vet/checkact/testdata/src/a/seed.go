package a

import (
	"context"
	"sync"
)

// The seed as it was written: the check and the open-and-register are
// separate methods of the node.
type peers struct {
	mu  sync.Mutex
	out map[int]*stream
}

func (p *peers) hasOutbound(peer int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out[peer] != nil
}

func (p *peers) register(peer int, s *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out[peer] = s
}

func (p *peers) openAndRegister(ctx context.Context, peer int) error {
	s := open(ctx, "x")
	p.register(peer, s)
	return nil
}

type dialer struct{ *peers }

func (d *dialer) setupOutbound(ctx context.Context, peer int) error {
	if d.hasOutbound(peer) { // want `d.out\[peer\] checked at line 36 and set at line 39 \(in openAndRegister -> register\) with a lock release between.*hasOutbound releases p.mu before returning; openAndRegister -> register may block on open \(takes a context\) before it stores`
		return nil
	}
	return d.openAndRegister(ctx, peer)
}

// The seed's fix: a per-peer lock held across check and open.
type fixed struct {
	*peers
	locksMu sync.Mutex
	locks   map[int]*sync.Mutex
}

func (f *fixed) setupOutbound(ctx context.Context, peer int) error {
	f.locksMu.Lock()
	l := f.locks[peer]
	if l == nil {
		l = new(sync.Mutex)
		f.locks[peer] = l
	}
	f.locksMu.Unlock()
	l.Lock()
	defer l.Unlock()
	if f.hasOutbound(peer) {
		return nil
	}
	return f.openAndRegister(ctx, peer)
}

// Different peers: no report.
func (d *dialer) other(ctx context.Context, peer, next int) error {
	if d.hasOutbound(peer) {
		return nil
	}
	return d.openAndRegister(ctx, next)
}
