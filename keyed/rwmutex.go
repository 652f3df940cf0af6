package keyed

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
)

// RWMutex is a set of reader/writer locks, one per key, created on first
// use and removed on last use. The zero value is ready to use. An RWMutex
// must not be copied after first use.
//
// # Invariants
//
//   - Per key: any number of readers, or one writer, never both.
//   - An entry exists only while its key is held (read or write) or waited
//     on. [RWMutex.Len] counts the entries.
//   - FIFO per key, writer-preferring: a caller that cannot go at once
//     queues in arrival order, and a reader that arrives while anyone is
//     queued (typically a writer waiting for the current readers) queues
//     behind it. So a stream of readers never starves a writer. When the
//     key frees up, the head of the queue goes: a writer alone, or a run of
//     consecutive readers together, up to the next queued writer. As in
//     [Mutex], a caller that cannot go while nobody is queued retries a
//     few times before it queues.
//   - A waiter whose ctx ends returns ctx.Err() and holds nothing; if it was
//     the writer holding back the readers behind it, they are admitted at
//     once.
//   - As with sync.RWMutex, a reader must not RLock the same key again
//     while a writer may be waiting (it would queue behind the writer that
//     waits for it), and locks are not tied to goroutines.
type RWMutex[K comparable] struct {
	closed atomic.Bool
	shards [numShards]rwShard[K]
}

// rwEntry is the state of one key: who holds it and who waits.
type rwEntry struct {
	readers int  // read holds
	writer  bool // write held
	q       waitQueue
}

type rwShard[K comparable] struct {
	shard[K, rwEntry]
	readers   int // read holds, all keys
	writers   int // write holds, all keys
	cancelled uint64
	_         [56]byte // to 128 bytes, as mutexShard
}

// RLock blocks until the caller holds k for reading, ctx ends, or the
// RWMutex is closed; it returns nil, ctx.Err() or [ErrClosed]. A done ctx
// fails at once. It panics if ctx is nil.
func (m *RWMutex[K]) RLock(ctx context.Context, k K) error {
	return m.lock(ctx, k, false)
}

// Lock blocks until the caller holds k for writing, ctx ends, or the
// RWMutex is closed; it returns nil, ctx.Err() or [ErrClosed]. A done ctx
// fails at once. It panics if ctx is nil.
func (m *RWMutex[K]) Lock(ctx context.Context, k K) error {
	return m.lock(ctx, k, true)
}

func (m *RWMutex[K]) lock(ctx context.Context, k K, write bool) error {
	if ctx == nil {
		if write {
			panic("keyed: RWMutex.Lock with nil Context")
		}
		panic("keyed: RWMutex.RLock with nil Context")
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
	if sh.tryLocked(h, k, write) {
		sh.mu.Unlock()
		return nil
	}
	// Retry briefly before queueing while nobody is queued, for the
	// reason given in Mutex.Lock.
	for spin := 0; spin < maxSpins && sh.t.slots[sh.t.find(h, k)].v.q.empty(); spin++ {
		sh.mu.Unlock()
		runtime.Gosched()
		sh.mu.Lock()
		if m.closed.Load() {
			sh.mu.Unlock()
			return ErrClosed
		}
		if sh.tryLocked(h, k, write) {
			sh.mu.Unlock()
			return nil
		}
	}
	w := newWaiter()
	w.write = write
	sh.t.slots[sh.t.find(h, k)].v.q.PushBack(w)
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
		// Granted (or failed by Close) while giving up: give back what
		// was granted, admitting whoever that lets in.
		if !w.closed {
			sh.unlockLocked(h, k, write)
		}
		sh.mu.Unlock()
		return ctx.Err()
	}
	i := sh.t.find(h, k)
	e := &sh.t.slots[i].v
	e.q.Remove(w)
	sh.waiters--
	// If w was a writer at the head, the readers behind it may go now.
	sh.grantLocked(e)
	sh.mu.Unlock()
	return ctx.Err()
}

// tryLocked takes k at once if it can go without waiting, creating the
// entry if needed, and reports whether it did. If not, k's entry exists.
func (sh *rwShard[K]) tryLocked(h uint64, k K, write bool) bool {
	i := sh.t.find(h, k)
	if i < 0 {
		e := rwEntry{writer: write}
		if write {
			sh.writers++
		} else {
			e.readers = 1
			sh.readers++
		}
		sh.t.insert(h, k, e)
		return true
	}
	e := &sh.t.slots[i].v
	if write || e.writer || !e.q.empty() {
		// A writer needs the key free, and a free key has no entry. A
		// reader cannot join while a writer holds or anyone queues.
		return false
	}
	e.readers++
	sh.readers++
	return true
}

// TryRLock takes k for reading if that needs no wait: no writer holds it
// and nobody waits for it. It reports whether it did; false once closed.
func (m *RWMutex[K]) TryRLock(k K) bool {
	return m.tryLock(k, false)
}

// TryLock takes k for writing if it is free, and reports whether it did;
// false once closed.
func (m *RWMutex[K]) TryLock(k K) bool {
	return m.tryLock(k, true)
}

func (m *RWMutex[K]) tryLock(k K, write bool) bool {
	h, si := hashKey(k)
	sh := &m.shards[si]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if m.closed.Load() {
		return false
	}
	return sh.tryLocked(h, k, write)
}

// RUnlock releases one read hold on k. It panics if k is not read-locked.
func (m *RWMutex[K]) RUnlock(k K) {
	m.unlock(k, false)
}

// Unlock releases the write hold on k. It panics if k is not write-locked.
func (m *RWMutex[K]) Unlock(k K) {
	m.unlock(k, true)
}

func (m *RWMutex[K]) unlock(k K, write bool) {
	h, si := hashKey(k)
	sh := &m.shards[si]
	sh.mu.Lock()
	ok := sh.unlockLocked(h, k, write)
	sh.mu.Unlock()
	if !ok {
		if write {
			panic(fmt.Sprintf("keyed: RWMutex.Unlock(%v): key is not write-locked", k))
		}
		panic(fmt.Sprintf("keyed: RWMutex.RUnlock(%v): key is not read-locked", k))
	}
}

// unlockLocked drops one hold on k, admits the waiters that can now go,
// and removes the entry if it is unused. It reports false if k was not
// held in that mode.
func (sh *rwShard[K]) unlockLocked(h uint64, k K, write bool) bool {
	i := sh.t.find(h, k)
	if i < 0 {
		return false
	}
	e := &sh.t.slots[i].v
	if write {
		if !e.writer {
			return false
		}
		e.writer = false
		sh.writers--
	} else {
		if e.readers == 0 {
			return false
		}
		e.readers--
		sh.readers--
	}
	sh.grantLocked(e)
	if e.readers == 0 && !e.writer && e.q.empty() {
		sh.t.remove(i)
	}
	return true
}

// grantLocked admits waiters from the head of e's queue while they can
// go: a writer when nobody holds the key, readers while no writer holds
// it. It stops at the first that cannot, so nobody passes a writer.
func (sh *rwShard[K]) grantLocked(e *rwEntry) {
	for !e.q.empty() {
		w := e.q.Front()
		if w.write {
			if e.writer || e.readers > 0 {
				return
			}
			e.writer = true
			sh.writers++
		} else {
			if e.writer {
				return
			}
			e.readers++
			sh.readers++
		}
		e.q.PopFront()
		sh.waiters--
		wake(w)
	}
}

// Close fails every caller waiting in Lock or RLock, and every later one,
// with [ErrClosed]; TryLock and TryRLock return false from now on. Holds
// already taken stay until released. Close is idempotent.
func (m *RWMutex[K]) Close() {
	m.closed.Store(true)
	for i := range m.shards {
		m.shards[i].closeWaiters(func(e *rwEntry) *waitQueue { return &e.q })
	}
}

// Len returns the number of entries: keys held or waited on now.
func (m *RWMutex[K]) Len() int {
	n := 0
	for i := range m.shards {
		n += m.shards[i].size()
	}
	return n
}

// RWMutexStats is a snapshot of an [RWMutex].
type RWMutexStats struct {
	Keys      int    // entries: keys held or waited on now (= Len)
	Readers   int    // read holds now, all keys together
	Writers   int    // write holds now (at most one per key)
	Waiters   int    // callers blocked in Lock or RLock now
	Cancelled uint64 // Lock/RLock calls that gave up waiting because ctx ended
	Closed    bool
}

// Stats returns a snapshot, summed shard by shard as [Mutex.Stats].
func (m *RWMutex[K]) Stats() RWMutexStats {
	var s RWMutexStats
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		s.Keys += sh.t.n
		s.Readers += sh.readers
		s.Writers += sh.writers
		s.Waiters += sh.waiters
		s.Cancelled += sh.cancelled
		sh.mu.Unlock()
	}
	s.Closed = m.closed.Load()
	return s
}
