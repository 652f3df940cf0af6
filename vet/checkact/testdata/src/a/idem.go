package a

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
)

// ---- idempotent fills: every racer stores the same value (negatives) ----

type infoCache struct {
	mu sync.RWMutex
	m  map[reflect.Type]*typeInfo
}

type typeInfo struct {
	names []string
	index map[string]int
}

// A cache entry computed from the key alone: two racers store equal values.
func (c *infoCache) get(t reflect.Type) *typeInfo {
	c.mu.RLock()
	ti, ok := c.m[t]
	c.mu.RUnlock()
	if ok {
		return ti
	}
	ti = &typeInfo{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		name := strings.ToLower(t.Field(i).Name)
		ti.names = append(ti.names, name)
		ti.index[name] = i
	}
	c.mu.Lock()
	c.m[t] = ti
	c.mu.Unlock()
	return ti
}

type backend interface{ Bucket(name string) *bucket }
type bucket struct{ name string }
type bucketID interface {
	ID() int
	Name() string
}

type readTx struct {
	mu      sync.RWMutex
	tx      backend
	buckets map[int]*bucket
}

// A lazy load: the value is the one the backend has for the key.
func (r *readTx) bucket(b bucketID) *bucket {
	id := b.ID()
	r.mu.RLock()
	bk, ok := r.buckets[id]
	r.mu.RUnlock()
	if !ok {
		r.mu.Lock()
		bk = r.tx.Bucket(b.Name())
		r.buckets[id] = bk
		r.mu.Unlock()
	}
	return bk
}

// An atomic lazy load from state.
type index struct {
	v    uint64
	mu   sync.Mutex
	read func() uint64
	last uint64
}

func (x *index) setIndex(v uint64) { atomic.StoreUint64(&x.v, v) }

func (x *index) get(load func(*index) uint64) uint64 {
	if v := atomic.LoadUint64(&x.v); v > 0 {
		return v
	}
	v := x.last * 2
	x.setIndex(v)
	return v
}

// A constant passed to a setter: two racers store the same thing.
type remoteCfg struct {
	mu    sync.Mutex
	delay int
}

func (r *remoteCfg) getDelay() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delay
}

func (r *remoteCfg) setDelay(d int) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

func (r *remoteCfg) reconnect(ch chan struct{}) {
	if r.getDelay() > 0 {
		<-ch
		r.setDelay(0)
	}
}

// ---- caller holds the lock (negatives) ----

type sublist struct {
	mu    sync.RWMutex
	cache *sync.Map
}

// addToCache assumes the write lock is held: every caller holds it.
func (s *sublist) addToCache(subject string, extra int) {
	if v, ok := s.cache.Load(subject); ok {
		s.cache.Store(subject, v.(int)+extra)
	}
}

func (s *sublist) insert(subject string) {
	s.mu.Lock()
	s.addToCache(subject, 1)
	s.mu.Unlock()
}

func (s *sublist) insertDeferred(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addToCache(subject, 2)
}

// ---- single writer: checked with no lock, set under one (negative) ----

type gwConn struct {
	mu     sync.Mutex
	outsim sync.Map
}

func (c *gwConn) startTransition(account string) {
	if ei, _ := c.outsim.Load(account); ei == nil {
		e := newOutsie()
		c.mu.Lock()
		c.outsim.Store(account, e)
		c.mu.Unlock()
	}
}

type outsie struct{ mode int }

func newOutsie() *outsie { return &outsie{} }

// ---- still reported ----

// A fill whose value comes from a caller: racers store different values.
func (c *infoCache) put(t reflect.Type, ti *typeInfo) {
	c.mu.RLock()
	_, ok := c.m[t] // want `c.m\[t\] checked at line \d+ and set at line \d+ with a lock release between`
	c.mu.RUnlock()
	if ok {
		return
	}
	c.mu.Lock()
	c.m[t] = ti
	c.mu.Unlock()
}

// A fill whose value is made by a constructor with side effects.
type conns struct {
	mu sync.Mutex
	m  map[string]*stream
}

func newStream(peer string) *stream { return &stream{peer: peer} }

func (c *conns) get(peer string) *stream {
	c.mu.Lock()
	s := c.m[peer] // want `c.m\[peer\] checked at line \d+ and set at line \d+ with a lock release between`
	c.mu.Unlock()
	if s != nil {
		return s
	}
	s = newStream(peer)
	c.mu.Lock()
	c.m[peer] = s
	c.mu.Unlock()
	return s
}

// A non-constant value through a setter, after a wait: still reported.
func (r *remoteCfg) backoff(ctx context.Context, ch chan struct{}, next int) {
	if d := r.getDelay(); d > 0 { // want `r.delay checked at line \d+ and set at line \d+ \(in setDelay\)`
		<-ch
		r.setDelay(next)
	}
}

// A helper that one caller runs without the lock: not "every caller".
func (s *sublist) unlockedInsert(subject string) {
	s.addToCache2(subject)
}

func (s *sublist) addToCache2(subject string) {
	if v, ok := s.cache.Load(subject); ok { // want `sync.Map s.cache\[subject\] loaded`
		s.cache.Store(subject, v.(int)+1)
	}
}

func (s *sublist) lockedInsert2(subject string) {
	s.mu.Lock()
	s.addToCache2(subject)
	s.mu.Unlock()
}
