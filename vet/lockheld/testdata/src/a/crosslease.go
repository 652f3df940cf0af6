package a

import (
	"lease"
	"time"
)

// A generic lease from another package, with a blocking callback.
func crossLease(g *lease.G[[]byte]) {
	g.Do(func(b []byte) {
		time.Sleep(time.Second) // want `time.Sleep may block with no deadline inside the callback of G.Do, which holds lock g.mu`
	})
}

// Holding a lock while calling a lease whose callback blocks.
func (m *model) leaseUnderLock(g *lease.G[int]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g.Do(func(int) { // want `time.Sleep may block with no deadline while lock m.mu is held \(model.leaseUnderLock -> lease.G.Do -> model.leaseUnderLock.func1 -> time.Sleep\)`
		time.Sleep(time.Second) // want `inside the callback of G.Do`
	})
}
