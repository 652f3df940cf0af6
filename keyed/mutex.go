package keyed

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
)

// maxSpins bounds the retries of a Lock that finds its key held before it
// queues (see Lock).
const maxSpins = 4

// Mutex is a set of mutual-exclusion locks, one per key, created on first
// use and removed on last use. The zero value is ready to use. A Mutex must
// not be copied after first use.
//
// # Invariants
//
//   - At most one holder per key. Keys are independent: holding k never
//     blocks a caller of another key.
//   - An entry exists only while its key is held or waited on: the Unlock
//     that leaves a key free with nobody waiting removes it, and a cancelled
//     waiter leaves nothing behind. [Mutex.Len] counts the entries.
//   - FIFO per key: when a key is unlocked and callers are queued for it,
//     the one that queued first gets it, handed over before Unlock
//     returns; a newcomer cannot take it in between, and while anyone is
//     queued newcomers queue behind. [Mutex.TryLock] fails while the key
//     is held, so it never jumps the queue. One nuance, the trade
//     sync.Mutex makes too: a Lock that finds the key held while nobody is
//     queued retries a few times, yielding the processor, before it
//     queues, so callers that arrive at nearly the same moment may get the
//     key in either order.
//   - A waiter whose ctx ends returns ctx.Err() and holds nothing; if the
//     key was handed to it at that very moment, it passes the key on to the
//     next waiter (or frees it), so the waiters behind are never stuck.
//   - Like sync.Mutex, a lock is not tied to a goroutine: any goroutine may
//     unlock a key another one locked. Locking a key twice from the same
//     goroutine deadlocks (until ctx ends).
//
// Keys compare with ==, as map keys do (so a NaN key, never equal to
// itself, can never be unlocked). A Mutex value is about 8 KiB (its
// shards): make one per kind of resource ("peers", "accounts"), not one per
// object.
type Mutex[K comparable] struct {
	closed atomic.Bool
	shards [numShards]mutexShard[K]
}

// mutexEntry is the state of one key. Its presence in the map means the
// key is held; q holds the callers waiting for it.
type mutexEntry struct {
	q waitQueue
}

type mutexShard[K comparable] struct {
	shard[K, mutexEntry]
	locks     uint64
	contended uint64
	cancelled uint64
	// Pad to 128 bytes (checked by a test), so the locks of neighbouring
	// shards never share a cache line.
	_ [56]byte
}

// Lock blocks until the caller holds k, ctx ends, or the Mutex is closed.
// It returns nil when k is held, ctx.Err() when ctx ended first (even if k
// was free: a done ctx fails at once), or [ErrClosed]. Queued callers get k
// in the order they queued (see the type's doc). It panics if ctx is nil.
func (m *Mutex[K]) Lock(ctx context.Context, k K) error {
	if ctx == nil {
		panic("keyed: Mutex.Lock with nil Context")
	}
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	h, si := hashKey(k)
	sh := &m.shards[si]
	sh.mu.Lock()
	if m.closed.Load() {
		sh.mu.Unlock()
		return ErrClosed
	}
	i := sh.t.find(h, k)
	if i < 0 {
		sh.t.insert(h, k, mutexEntry{})
		sh.locks++
		sh.mu.Unlock()
		return nil
	}
	// k is held. If nobody is queued, retry a few times, yielding the
	// processor in between, before queueing. Why: most holds are short,
	// and queueing means the key is handed to this goroutine while it is
	// parked; until it has woken up (often an idle processor has to be
	// woken first) the key stays held by a goroutine that is not running,
	// and every caller that arrives meanwhile queues behind it: a convoy.
	// Measured on BenchmarkKeyedHot, 8 keys, 2 to 16 goroutines: without
	// these retries Lock+Unlock was 2x slower than with one goroutine.
	// Once anyone is queued, nobody retries: newcomers queue behind.
	for spin := 0; spin < maxSpins && sh.t.slots[i].v.q.empty(); spin++ {
		sh.mu.Unlock()
		runtime.Gosched()
		sh.mu.Lock()
		if m.closed.Load() {
			sh.mu.Unlock()
			return ErrClosed
		}
		if i = sh.t.find(h, k); i < 0 {
			sh.t.insert(h, k, mutexEntry{})
			sh.locks++
			sh.mu.Unlock()
			return nil
		}
	}
	w := newWaiter()
	sh.t.slots[i].v.q.PushBack(w)
	sh.waiters++
	sh.mu.Unlock()

	if done == nil {
		<-w.ready
		return wokenErr(w)
	}
	select {
	case <-w.ready:
		return wokenErr(w)
	case <-done:
	}
	giveUpHook()
	sh.mu.Lock()
	sh.cancelled++
	if woken(w) {
		// Handed k (or failed by Close) while giving up. The caller sees
		// its ctx error and must hold nothing, so pass k on.
		if !w.closed {
			sh.unlockLocked(h, k)
		}
		sh.mu.Unlock()
		return ctx.Err()
	}
	// k's entry is still there (someone holds k while we wait), though
	// its slot may have moved: find it again.
	sh.t.slots[sh.t.find(h, k)].v.q.Remove(w)
	sh.waiters--
	sh.mu.Unlock()
	return ctx.Err()
}

// wokenErr turns the token a waiter received into Lock's result.
func wokenErr(w *waiter) error {
	if w.closed {
		return ErrClosed
	}
	return nil
}

// TryLock takes k if it is free and reports whether it did. It never
// blocks. It returns false while k is held (and so while anyone waits for
// it) and once the Mutex is closed.
func (m *Mutex[K]) TryLock(k K) bool {
	h, si := hashKey(k)
	sh := &m.shards[si]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if m.closed.Load() || sh.t.find(h, k) >= 0 {
		return false
	}
	sh.t.insert(h, k, mutexEntry{})
	sh.locks++
	return true
}

// Unlock releases k. If callers wait for k, the oldest one now holds it;
// otherwise k's entry is removed. Unlock works after Close. It panics if k
// is not locked.
func (m *Mutex[K]) Unlock(k K) {
	h, si := hashKey(k)
	sh := &m.shards[si]
	sh.mu.Lock()
	ok := sh.unlockLocked(h, k)
	sh.mu.Unlock()
	if !ok {
		panic(fmt.Sprintf("keyed: Mutex.Unlock(%v): key is not locked", k))
	}
}

// unlockLocked hands k to its oldest waiter or removes its entry. It
// reports false if k was not held.
func (sh *mutexShard[K]) unlockLocked(h uint64, k K) bool {
	i := sh.t.find(h, k)
	if i < 0 {
		return false
	}
	q := &sh.t.slots[i].v.q
	if q.empty() {
		sh.t.remove(i)
		return true
	}
	w := q.PopFront()
	sh.waiters--
	sh.locks++
	sh.contended++
	wake(w)
	return true
}

// Close fails every caller waiting in Lock, and every later Lock, with
// [ErrClosed]; TryLock returns false from now on. Keys already held stay
// held until unlocked. Close is idempotent.
func (m *Mutex[K]) Close() {
	m.closed.Store(true)
	for i := range m.shards {
		m.shards[i].closeWaiters(func(e *mutexEntry) *waitQueue { return &e.q })
	}
}

// Len returns the number of entries: keys held now. It is 0 when nothing
// is held, however many keys were used before.
func (m *Mutex[K]) Len() int {
	n := 0
	for i := range m.shards {
		n += m.shards[i].size()
	}
	return n
}

// MutexStats is a snapshot of a [Mutex].
type MutexStats struct {
	Keys      int    // keys held now (= entries, = Len)
	Waiters   int    // callers blocked in Lock now
	Locks     uint64 // times a key was granted, by Lock or TryLock
	Contended uint64 // of those, grants to a caller that had to wait
	Cancelled uint64 // Lock calls that gave up waiting because ctx ended
	Closed    bool
}

// Stats returns a snapshot. Each shard is read under its lock and the
// shards are summed one after another, so under load the figures are
// each exact for some instant but not all for the same one.
func (m *Mutex[K]) Stats() MutexStats {
	var s MutexStats
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		s.Keys += sh.t.n
		s.Waiters += sh.waiters
		s.Locks += sh.locks
		s.Contended += sh.contended
		s.Cancelled += sh.cancelled
		sh.mu.Unlock()
	}
	s.Closed = m.closed.Load()
	return s
}
