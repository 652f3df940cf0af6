package neg

import (
	"sync"
	"sync/atomic"
)

// Shapes from nats-server and etcd that were false positives.

type Acct struct {
	mu      sync.RWMutex
	clients map[int]bool
	sys     int
	stats        // counters, used atomically
	info    Info // ID set once; Auth changed under mu
	subs    map[int]int
	parent  *Acct // set in the constructor only, read under mu and without
	gen     int
}

type stats struct{ inMsgs int64 }

type Info struct {
	ID   string
	Auth bool
}

func NewAcct(id string) *Acct {
	a := &Acct{clients: map[int]bool{}}
	a.info.ID = id
	go func() { a.mu.Lock(); a.gen++; a.mu.Unlock() }()
	a.parent = a // after a closure captured a: still before publication
	return a
}

func (a *Acct) Add(c int) {
	a.mu.Lock()
	a.clients[c] = true
	a.sys++
	a.info.Auth = true
	a.mu.Unlock()
}
func (a *Acct) Del(c int) {
	a.mu.Lock()
	delete(a.clients, c)
	a.sys--
	a.info.Auth = false
	a.mu.Unlock()
}
func (a *Acct) Auth() bool    { a.mu.RLock(); defer a.mu.RUnlock(); _ = a.parent; return a.info.Auth }
func (a *Acct) Gen() int      { a.mu.RLock(); defer a.mu.RUnlock(); _ = a.parent; return a.gen }
func (a *Acct) Gen2() int     { a.mu.Lock(); defer a.mu.Unlock(); _ = a.parent; return a.gen + 1 }
func (a *Acct) Parent() *Acct { return a.parent }

// ID reads a subfield written only at construction.
func (a *Acct) ID() string { return a.info.ID }

// Count is called under RLock at one site and Lock at another.
func (a *Acct) Count() int { a.mu.RLock(); n := a.count(); a.mu.RUnlock(); return n }
func (a *Acct) Reset() {
	a.mu.Lock()
	if a.count() == 0 {
		a.clients = map[int]bool{}
	}
	a.mu.Unlock()
}
func (a *Acct) count() int { return len(a.clients) - a.sys }

// Lock should be held.
func (a *Acct) documented() int { return len(a.clients) + a.sys }

// Internal helper, client should be locked.
func (a *Acct) documented2() int { return a.sys }

// In does not need to obtain internal lock: the caller holds it.
func (a *Acct) documented3() int { return a.sys + 1 }

func (a *Acct) Sum() int { return a.documented() + a.documented2() + a.documented3() }

// In counts through the embedded struct atomically.
func (a *Acct) In()         { atomic.AddInt64(&a.inMsgs, 1) }
func (a *Acct) InLocked()   { a.mu.Lock(); a.inMsgs++; a.mu.Unlock() }
func (a *Acct) InLocked2()  { a.mu.Lock(); a.inMsgs++; a.mu.Unlock() }
func (a *Acct) InLocked3()  { a.mu.Lock(); a.inMsgs++; a.mu.Unlock() }
func (a *Acct) Msgs() int64 { return atomic.LoadInt64(&a.stats.inMsgs) }

// Purge is recursive; its only outside caller holds mu.
func (a *Acct) Purge() { a.mu.Lock(); a.purge(3); a.mu.Unlock() }
func (a *Acct) purge(n int) {
	if n == 0 {
		return
	}
	a.subs[n] = 0
	a.purge(n - 1)
}
func (a *Acct) Sub(n int) { a.mu.Lock(); a.subs[n] = 1; a.mu.Unlock() }
func (a *Acct) Uns(n int) { a.mu.Lock(); delete(a.subs, n); a.mu.Unlock() }

// Store: writers hold both mu and revMu; readers hold either one.
type Store struct {
	mu     sync.RWMutex
	revMu  sync.RWMutex
	rev    int
	compac int
}

func (s *Store) Compact(r int) {
	s.mu.Lock()
	s.revMu.Lock()
	s.compac = r
	s.rev++
	s.revMu.Unlock()
	s.mu.Unlock()
}
func (s *Store) Rev() int    { s.revMu.RLock(); defer s.revMu.RUnlock(); return s.rev + s.compac }
func (s *Store) Rev2() int   { s.revMu.RLock(); defer s.revMu.RUnlock(); return s.rev - s.compac }
func (s *Store) Rev3() int   { s.revMu.RLock(); defer s.revMu.RUnlock(); return s.compac }
func (s *Store) Range() bool { s.mu.RLock(); defer s.mu.RUnlock(); return s.compac > 0 }

// Conf: a field only ever read under the lock and never changed after
// construction is not what the lock guards.
type Conf struct {
	mu   sync.Mutex
	name string
	n    int
}

func NewConf(name string) *Conf { return &Conf{name: name} }

func (c *Conf) A() string { c.mu.Lock(); defer c.mu.Unlock(); c.n++; return c.name }
func (c *Conf) B() string { c.mu.Lock(); defer c.mu.Unlock(); c.n++; return c.name }
func (c *Conf) C() string { c.mu.Lock(); defer c.mu.Unlock(); c.n++; return c.name }
func (c *Conf) D() string { return c.name }

// More guarded sites, so each shape above would be reported if it were
// taken as unguarded.
func (a *Acct) L1() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[0]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (a *Acct) L2() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[1]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (a *Acct) L3() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[2]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (a *Acct) L4() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[3]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (a *Acct) L5() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[4]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (a *Acct) L6() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[5]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (a *Acct) L7() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[6]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (a *Acct) L8() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs[7]++
	a.gen++
	return len(a.clients) + a.sys + len(a.info.ID)
}
func (c *Conf) E() string { c.mu.Lock(); defer c.mu.Unlock(); c.n++; return c.name }
func (c *Conf) F() string { c.mu.Lock(); defer c.mu.Unlock(); c.n++; return c.name }
