package neg

import (
	"sync"
	"sync/atomic"
)

// A nil check or a length test before taking the lock is the lock-free
// fast path of a locked re-check: not reported.
type router struct {
	mu       sync.Mutex
	services map[string]int
	clients  map[int]bool
}

func (r *router) add(k string, v int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.services == nil {
		r.services = map[string]int{}
	}
	r.services[k] = v
}

func (r *router) del(k string) {
	r.mu.Lock()
	delete(r.services, k)
	r.mu.Unlock()
}

func (r *router) get(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.services[k]
}

func (r *router) route(k string) int {
	if r.services == nil { // the fast path: re-checked under the lock in get
		return 0
	}
	return r.get(k)
}

func (r *router) busy() bool {
	if len(r.services) == 0 {
		return false
	}
	return r.get("x") > 0
}

// An interface field set once, whose methods are called under a lock that
// guards other state: the implementation guards itself or not.
type membershipBackend interface {
	Save(id int)
	Load() map[int]bool
}

type cluster struct {
	mu      sync.Mutex
	be      membershipBackend
	members map[int]bool
}

func (c *cluster) SetBackend(be membershipBackend) { c.be = be }

func (c *cluster) add(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[id] = true
	c.be.Save(id)
}

func (c *cluster) remove(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.members, id)
	c.be.Save(-id)
}

func (c *cluster) update(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[id] = false
	c.be.Save(id)
}

func (c *cluster) fromBackend() map[int]bool {
	return c.be.Load()
}

// A helper called only from set-up and from a plain function working on a
// value handed to it (validate(local, existing)) counts neither way.
func (c *cluster) SetID(id int) {
	c.members = map[int]bool{id: true}
	c.buildMetric()
}

func (c *cluster) buildMetric() {
	for id := range c.members {
		_ = id
	}
}

func validateAndAssign(local, existing *cluster) {
	local.members = map[int]bool{}
	local.buildMetric()
}

// A transfer between two values of the type, under the other value's lock:
// the analysis cannot tell the bases apart, so it stays quiet.
func (c *cluster) transfer(old *cluster) {
	old.mu.Lock()
	c.members = old.members
	old.mu.Unlock()
}

// A field published through an atomic flag: written before the flag is
// set, read after it is seen set.
type conn struct {
	writeLock sync.Mutex
	tls       int32
	tlsConn   *tlsState
}

type tlsState struct{ version int }

func (c *conn) upgrade() {
	c.writeLock.Lock()
	defer c.writeLock.Unlock()
	c.tlsConn = &tlsState{version: 13}
	atomic.StoreInt32(&c.tls, 1)
}

func (c *conn) write() {
	c.writeLock.Lock()
	defer c.writeLock.Unlock()
	if c.tlsConn != nil {
		c.tlsConn.version++
	}
}

func (c *conn) flush() {
	c.writeLock.Lock()
	defer c.writeLock.Unlock()
	_ = c.tlsConn.version
}

type connStats struct {
	TLS     bool
	Version int
}

func (c *conn) stats() connStats {
	s := connStats{TLS: atomic.LoadInt32(&c.tls) == 1}
	if s.TLS {
		s.Version = c.tlsConn.version
	}
	return s
}

func (c *conn) identity() int {
	if atomic.LoadInt32(&c.tls) == 1 {
		return c.tlsConn.version
	}
	return 0
}
