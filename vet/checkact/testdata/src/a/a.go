package a

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

type stream struct{ peer string }

func open(ctx context.Context, peer string) *stream { return &stream{peer: peer} }

// ---- positives ----

type node struct {
	mu      sync.Mutex
	streams map[string]*stream
	conn    net.Conn
	ready   bool
}

// The seed's shape: check under the lock, unlock, open, lock, store.
func (n *node) setup(ctx context.Context, peer string) {
	n.mu.Lock()
	_, ok := n.streams[peer] // want `n.streams\[peer\] checked at line 27 and set at line 34 with a lock release between: two callers can both pass the check \(n.mu released at line 28; open \(takes a context\) at line 32\); fix: sluice keyed.Once`
	n.mu.Unlock()
	if ok {
		return
	}
	s := open(ctx, peer)
	n.mu.Lock()
	n.streams[peer] = s
	n.mu.Unlock()
}

// The same with "== nil" and the act in the then-branch.
func (n *node) setupNil(ctx context.Context, peer string) {
	n.mu.Lock()
	missing := n.streams[peer] == nil // want `n.streams\[peer\] checked at line \d+ and set at line \d+`
	n.mu.Unlock()
	if missing {
		s := open(ctx, peer)
		n.mu.Lock()
		n.streams[peer] = s
		n.mu.Unlock()
	}
}

// A field: check conn, dial without the lock, store.
func (n *node) dial(addr string) error {
	n.mu.Lock()
	if n.conn != nil { // want `n.conn checked at line \d+ and set at line \d+ with a lock release between.*net.Dial.* at line \d+`
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.conn = c
	n.mu.Unlock()
	return nil
}

// A read lock for the check, the write lock for the store.
type cache struct {
	mu sync.RWMutex
	m  map[string]int
}

func (c *cache) get(k string, compute func(string) int) int {
	c.mu.RLock()
	v, ok := c.m[k] // want `c.m\[k\] checked at line \d+ and set at line \d+ with a lock release between`
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = compute(k)
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
	return v
}

// Check, then a goroutine stores.
func (n *node) spawn(peer string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.streams[peer] == nil { // want `n.streams\[peer\] checked at line \d+ and set at line \d+ \(in a func literal\) in a goroutine started after the check`
		go func() {
			s := open(context.Background(), peer)
			n.mu.Lock()
			n.streams[peer] = s
			n.mu.Unlock()
		}()
	}
}

// Read-modify-write across a release: a lost update.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) bump(ch chan int) {
	c.mu.Lock()
	v := c.n // want `c.n checked at line \d+ and set at line \d+ with a lock release between.*(<-ch|a channel receive) at line \d+`
	c.mu.Unlock()
	<-ch
	c.mu.Lock()
	c.n = v + 1
	c.mu.Unlock()
}

// sync.Map: Load, then Store.
var registry sync.Map

func register(k string, v *stream) {
	if _, ok := registry.Load(k); ok { // want `sync.Map registry\[k\] loaded at line \d+ and stored at line \d+: two callers can both miss and both store.*fix: LoadOrStore`
		return
	}
	registry.Store(k, v)
}

// atomic: Load, then Store.
type gauge struct{ max atomic.Int64 }

func (g *gauge) observe(v int64) {
	if v > g.max.Load() { // want `atomic g.max loaded at line \d+ and stored at line \d+: a store by another goroutine in between is lost.*CompareAndSwap`
		g.max.Store(v)
	}
}

var hits int64

func hit() {
	n := atomic.LoadInt64(&hits) // want `atomic hits loaded at line \d+`
	atomic.StoreInt64(&hits, n+1)
}

// A blocking network call between check and store, and no re-check.
type pool struct {
	mu    sync.Mutex
	conns map[string]net.Conn
}

func (p *pool) get(addr string) (net.Conn, error) {
	p.mu.Lock()
	c := p.conns[addr] // want `p.conns\[addr\] checked at line \d+ and set at line \d+ with a lock release between.*net.Dial`
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Millisecond)
	p.mu.Lock()
	p.conns[addr] = c
	p.mu.Unlock()
	return c, nil
}

// Goroutines started in a loop share the gauge.
func startSamplers(g *gauge, k int, sample func() int64) {
	for range k {
		go func() {
			if n := sample(); n > g.max.Load() { // want `atomic g.max loaded`
				g.max.Store(n)
			}
		}()
	}
}

// A compound condition (&&) decides the store: the dedupe shape.
type deduper struct {
	mu   sync.RWMutex
	seen map[string]time.Time
}

func (d *deduper) log(line string) bool {
	d.mu.RLock()
	last, ok := d.seen[line] // want `d.seen\[line\] checked at line \d+ and set at line \d+ with a lock release between`
	d.mu.RUnlock()
	if ok && time.Since(last) < time.Minute {
		return false
	}
	d.mu.Lock()
	d.seen[line] = time.Now()
	d.mu.Unlock()
	return true
}
