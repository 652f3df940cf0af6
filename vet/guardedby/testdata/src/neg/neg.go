// Package neg holds shapes guardedby must not report.
package neg

import (
	"sort"
	"sync"
	"sync/atomic"
)

type Conn struct{ n int }

func (c *Conn) Query(q string) int { c.n++; return c.n }

// AllLocked uses conn under mu everywhere.
type AllLocked struct {
	mu   sync.Mutex
	conn *Conn
}

func (s *AllLocked) A() int { s.mu.Lock(); defer s.mu.Unlock(); return s.conn.Query("a") }
func (s *AllLocked) B() int { s.mu.Lock(); defer s.mu.Unlock(); return s.conn.Query("b") }
func (s *AllLocked) C() int { s.mu.Lock(); defer s.mu.Unlock(); return s.conn.Query("c") }

// Immutable: name is only written in the constructor, so reading it
// without the lock is fine.
type Immutable struct {
	mu    sync.Mutex
	name  string
	count int
}

func NewImmutable(name string) *Immutable {
	s := new(Immutable)
	s.name = name
	s.count = 0
	return s
}

func (s *Immutable) A()           { s.mu.Lock(); s.count++; _ = s.name; s.mu.Unlock() }
func (s *Immutable) B()           { s.mu.Lock(); s.count++; _ = s.name; s.mu.Unlock() }
func (s *Immutable) C()           { s.mu.Lock(); s.count++; _ = s.name; s.mu.Unlock() }
func (s *Immutable) Name() string { return s.name }

// NoConsistentLock: x is used under mu about half the time; no inference.
type NoConsistentLock struct {
	mu sync.Mutex
	x  int
}

func (s *NoConsistentLock) A() { s.mu.Lock(); s.x++; s.mu.Unlock() }
func (s *NoConsistentLock) B() { s.mu.Lock(); s.x++; s.mu.Unlock() }
func (s *NoConsistentLock) C() { s.mu.Lock(); s.x++; s.mu.Unlock() }
func (s *NoConsistentLock) D() { s.x++ }
func (s *NoConsistentLock) E() { s.x-- }

// Atomics: n is used with sync/atomic, hits is an atomic type.
type Atomics struct {
	mu   sync.Mutex
	n    int64
	hits atomic.Int64
	m    map[string]int
}

func (s *Atomics) A()          { s.mu.Lock(); s.n++; s.hits.Add(1); s.m["a"]++; s.mu.Unlock() }
func (s *Atomics) B()          { s.mu.Lock(); s.n++; s.hits.Add(1); s.m["b"]++; s.mu.Unlock() }
func (s *Atomics) C()          { s.mu.Lock(); s.n++; s.hits.Add(1); s.m["c"]++; s.mu.Unlock() }
func (s *Atomics) Load() int64 { s.hits.Add(1); return atomic.LoadInt64(&s.n) }

// Helper: addLocked and bump are only called with mu held.
type Helper struct {
	mu    sync.Mutex
	items []int
	total int
}

func (s *Helper) A(x int) { s.mu.Lock(); s.addLocked(x); s.mu.Unlock() }
func (s *Helper) B(x int) { s.mu.Lock(); defer s.mu.Unlock(); s.addLocked(x); s.bump() }
func (s *Helper) C() int  { s.mu.Lock(); defer s.mu.Unlock(); s.bump(); return len(s.items) + s.total }

func (s *Helper) addLocked(x int) { s.items = append(s.items, x); s.total += x }

// bump has no naming convention: every call holds mu.
func (s *Helper) bump() { s.total++; s.sortItems() }

// sortItems sorts under the caller's lock, in a synchronous callback.
func (s *Helper) sortItems() {
	sort.Slice(s.items, func(i, j int) bool { return s.items[i] < s.items[j] })
}

// ExportedLocked is trusted by its name although callers are elsewhere.
func (s *Helper) ExportedLocked() int { return s.total + len(s.items) }

// assumed documents its contract.
//
// The caller must hold s.mu.
func (s *Helper) assumed() int { return s.total }

func (s *Helper) D() int { s.mu.Lock(); defer s.mu.Unlock(); return s.assumed() }

// Local: a value the function made and has not shared.
func Local() int {
	var h Helper
	h.items = append(h.items, 1)
	h.total = 1
	p := &Helper{}
	p.total = 2
	p.init()
	return h.total + p.total
}

// init is only called on fresh values.
func (s *Helper) init() { s.total = 0; s.items = nil }

// Value receivers copy: nothing shared.
func (s Helper) Copy() int { return s.total }

// RW: read under RLock, written under Lock.
type RW struct {
	mu sync.RWMutex
	m  map[string]int
}

func (s *RW) Get(k string) int { s.mu.RLock(); defer s.mu.RUnlock(); return s.m[k] }
func (s *RW) Has(k string) bool {
	s.mu.RLock()
	_, ok := s.m[k]
	s.mu.RUnlock()
	return ok
}
func (s *RW) Set(k string) { s.mu.Lock(); s.m[k] = 1; s.mu.Unlock() }
func (s *RW) Del(k string) { s.mu.Lock(); defer s.mu.Unlock(); delete(s.m, k) }

// Parent: the child's fields are guarded by the parent's lock; that is not
// inferred, and accesses under it are not reported.
type Parent struct {
	mu    sync.Mutex
	child *Child
}

type Child struct {
	mu  sync.Mutex
	val int
}

func (c *Child) A()     { c.mu.Lock(); c.val++; c.mu.Unlock() }
func (c *Child) B()     { c.mu.Lock(); c.val++; c.mu.Unlock() }
func (c *Child) C()     { c.mu.Lock(); c.val++; c.mu.Unlock() }
func (c *Child) D()     { c.mu.Lock(); c.val++; c.mu.Unlock() }
func (p *Parent) Poke() { p.mu.Lock(); p.child.val = 0; p.mu.Unlock() }

// Closure: a callback run while the lock is held.
type Closure struct {
	mu sync.Mutex
	n  int
}

func (s *Closure) with(f func()) { s.mu.Lock(); defer s.mu.Unlock(); f() }
func (s *Closure) A()            { s.mu.Lock(); s.n++; s.mu.Unlock() }
func (s *Closure) B()            { s.mu.Lock(); s.n++; s.mu.Unlock() }
func (s *Closure) C()            { s.mu.Lock(); s.n++; s.mu.Unlock() }
func (s *Closure) D() {
	s.mu.Lock()
	defer s.mu.Unlock()
	func() { s.n++ }()
}

// Ignored: a suppression.
func (s *Closure) E() int {
	return s.n //sluice:ignore guardedby read once at shutdown, after all writers stopped
}

// Self: a client that locks itself.
type Safe struct {
	mu sync.Mutex
	n  int
}

func (c *Safe) Inc() { c.mu.Lock(); c.n++; c.mu.Unlock() }

type UsesSafe struct {
	mu sync.Mutex
	s  *Safe
	x  int
}

func (u *UsesSafe) A() { u.mu.Lock(); u.s.Inc(); u.x++; u.mu.Unlock() }
func (u *UsesSafe) B() { u.mu.Lock(); u.s.Inc(); u.x++; u.mu.Unlock() }
func (u *UsesSafe) C() { u.mu.Lock(); u.s.Inc(); u.x++; u.mu.Unlock() }
func (u *UsesSafe) D() { u.s.Inc() }
