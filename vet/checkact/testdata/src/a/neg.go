package a

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Check and store under one held lock.
func (n *node) held(peer string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.streams[peer]; ok {
		return
	}
	n.streams[peer] = &stream{peer: peer}
}

func (n *node) heldExplicit(peer string) {
	n.mu.Lock()
	if _, ok := n.streams[peer]; ok {
		n.mu.Unlock()
		return
	}
	n.streams[peer] = &stream{peer: peer}
	n.mu.Unlock()
}

// Double-checked locking done right: re-check after re-locking.
func (c *cache) getChecked(k string, compute func(string) int) int {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		return v
	}
	v = compute(k)
	c.m[k] = v
	return v
}

// Re-check after the open, before storing.
func (n *node) setupRechecked(ctx context.Context, peer string) {
	n.mu.Lock()
	_, ok := n.streams[peer]
	n.mu.Unlock()
	if ok {
		return
	}
	s := open(ctx, peer)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.streams[peer] != nil {
		return // lost the race: drop ours
	}
	n.streams[peer] = s
}

// LoadOrStore and CompareAndSwap.
func registerOnce(k string, v *stream) bool {
	_, loaded := registry.LoadOrStore(k, v)
	return !loaded
}

func (g *gauge) observeCAS(v int64) {
	for {
		m := g.max.Load()
		if v <= m || g.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// A Load that the Store does not depend on.
func (g *gauge) reset() int64 {
	old := g.max.Load()
	g.max.Store(0)
	return old
}

// A local map: not shared.
func local(keys []string) map[string]int {
	var mu sync.Mutex
	m := map[string]int{}
	for _, k := range keys {
		mu.Lock()
		_, ok := m[k]
		mu.Unlock()
		if !ok {
			mu.Lock()
			m[k] = len(k)
			mu.Unlock()
		}
	}
	return m
}

// A constructor: the value is not shared yet.
func newNode(peers []string) *node {
	n := &node{streams: map[string]*stream{}}
	for _, p := range peers {
		n.mu.Lock()
		_, ok := n.streams[p]
		n.mu.Unlock()
		if !ok {
			n.mu.Lock()
			n.streams[p] = &stream{peer: p}
			n.mu.Unlock()
		}
	}
	return n
}

var defaults sync.Map

func init() {
	if _, ok := defaults.Load("a"); !ok {
		defaults.Store("a", 1)
	}
}

// No lock anywhere: a plain data race, left to the race detector.
type lazy struct{ conn *stream }

func (l *lazy) get(ctx context.Context) *stream {
	if l.conn == nil {
		l.conn = open(ctx, "x")
	}
	return l.conn
}

// A check without the lock, the store under it (guardedby's domain).
func (n *node) markReady() {
	if !n.ready {
		n.mu.Lock()
		n.ready = true
		n.mu.Unlock()
	}
}

// Resetting after a check: storing nil twice is harmless.
func (n *node) close() {
	n.mu.Lock()
	c := n.conn
	n.mu.Unlock()
	if c != nil {
		c.Close()
		n.mu.Lock()
		n.conn = nil
		n.mu.Unlock()
	}
}

// A check in a loop with the lock held around both.
func (n *node) fill(peers []string) {
	for _, p := range peers {
		n.mu.Lock()
		if n.streams[p] == nil {
			n.streams[p] = &stream{peer: p}
		}
		n.mu.Unlock()
	}
}

// The goroutine's own check and store under its lock.
func (n *node) spawnChecked(peer string) {
	go func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.streams[peer] == nil {
			n.streams[peer] = &stream{peer: peer}
		}
	}()
}

// Atomic under a mutex held across both.
type flagged struct {
	mu sync.Mutex
	on atomic.Bool
}

func (f *flagged) toggle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on.Store(!f.on.Load())
}

// Suppressed.
func hitIgnored() {
	n := atomic.LoadInt64(&hits) //sluice:ignore checkact only one goroutine writes hits
	atomic.StoreInt64(&hits, n+1)
}

// One goroutine owns the sampler it was started for: the only writer.
type sampler struct {
	max  atomic.Int64
	quit chan struct{}
}

func startSampler(sample func() int64) *sampler {
	s := &sampler{quit: make(chan struct{})}
	go func() {
		for {
			select {
			case <-s.quit:
				return
			default:
			}
			if n := sample(); n > s.max.Load() {
				s.max.Store(n)
			}
		}
	}()
	return s
}

// A flag set to a constant after a dial: two callers store the same thing.
type remote struct {
	mu       sync.Mutex
	inactive bool
	addr     string
}

func (r *remote) isActive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.inactive
}

func (r *remote) tryReactivate() error {
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		return err
	}
	c.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inactive = false
	return nil
}

func monitor(rs []*remote) {
	for _, r := range rs {
		if r.isActive() {
			continue
		}
		go r.tryReactivate()
	}
}

// The check decides something else; the store happens on every path.
func (d *deduper) touch(line string) {
	d.mu.RLock()
	_, ok := d.seen[line]
	d.mu.RUnlock()
	if !ok {
		println("new line")
	}
	d.mu.Lock()
	d.seen[line] = time.Now()
	d.mu.Unlock()
}

// A version re-checked after re-locking guards the store.
type bufCache struct {
	mu      sync.Mutex
	buf     *stream
	version int
}

func (b *bufCache) refresh(cur int, copyBuf func() *stream) *stream {
	b.mu.Lock()
	old, ver := b.buf, b.version
	if old != nil && ver == cur {
		b.mu.Unlock()
		return old
	}
	b.mu.Unlock()
	fresh := copyBuf()
	b.mu.Lock()
	defer b.mu.Unlock()
	if old == nil || b.version == ver {
		b.buf = fresh
	}
	return fresh
}

// Atomic getters and setters: how one writer (a raft goroutine)
// publishes a term to lock-free readers. Not reported; a Load and Store
// written side by side is (see gauge in a.go).
type raftState struct{ currentTerm atomic.Uint64 }

func (r *raftState) getCurrentTerm() uint64  { return r.currentTerm.Load() }
func (r *raftState) setCurrentTerm(t uint64) { r.currentTerm.Store(t) }

func (r *raftState) appendEntries(term uint64, send chan<- uint64) {
	if term > r.getCurrentTerm() {
		send <- term
		r.setCurrentTerm(term)
	}
}
