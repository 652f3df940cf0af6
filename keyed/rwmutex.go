package keyed

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/sluice-go/sluice/internal/keymap"
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
//
// [RWMutex.Close] fails every waiting Lock and RLock and every later one
// with [ErrClosed]; holds already taken stay and may be released.
type RWMutex[K comparable] struct {
	m keymap.Map[K, rwEntry]
}

// rwEntry is the state of one key: who holds it and who waits.
type rwEntry struct {
	readers int  // read holds
	writer  bool // write held
	q       keymap.Queue
}

// rwShard is the store's shard as the RWMutex uses it.
type rwShard[K comparable] = keymap.Shard[K, rwEntry]

// The RWMutex's counters in each shard's Count.
const (
	rwReadInUse    = iota // read holds, all keys
	rwWriteInUse          // write holds, all keys
	rwWriteWaiting        // queued writers (Waiting counts everyone queued)
	rwCancelled
	rwAdmitted
	rwRejected
)

// RLock blocks until the caller holds k for reading, ctx ends, or the
// RWMutex is closed; it returns nil, ctx.Err() or [ErrClosed]. A done ctx
// fails at once. It panics if ctx is nil.
func (m *RWMutex[K]) RLock(ctx context.Context, k K) error {
	if m == nil {
		panic("keyed: RWMutex.RLock on nil *RWMutex")
	}
	if ctx == nil {
		panic("keyed: RWMutex.RLock with nil Context")
	}
	return m.lock(ctx, k, false)
}

// Lock blocks until the caller holds k for writing, ctx ends, or the
// RWMutex is closed; it returns nil, ctx.Err() or [ErrClosed]. A done ctx
// fails at once. It panics if ctx is nil.
func (m *RWMutex[K]) Lock(ctx context.Context, k K) error {
	if m == nil {
		panic("keyed: RWMutex.Lock on nil *RWMutex")
	}
	if ctx == nil {
		panic("keyed: RWMutex.Lock with nil Context")
	}
	return m.lock(ctx, k, true)
}

func (m *RWMutex[K]) lock(ctx context.Context, k K, write bool) error {
	done := ctx.Done()
	if ended(done) {
		return ctx.Err()
	}
	sh, h := m.m.Shard(k)
	sh.Lock()
	if m.m.Closed() {
		sh.Unlock()
		return ErrClosed
	}
	if rwTry(sh, h, k, write) {
		sh.Count[rwAdmitted]++
		sh.Unlock()
		return nil
	}
	// Retry briefly before queueing while nobody is queued, for the
	// reason given in Mutex.Lock.
	for spin := 0; spin < maxSpins && sh.At(sh.Find(h, k)).q.Empty(); spin++ {
		sh.Unlock()
		runtime.Gosched()
		sh.Lock()
		if m.m.Closed() {
			sh.Unlock()
			return ErrClosed
		}
		if rwTry(sh, h, k, write) {
			sh.Count[rwAdmitted]++
			sh.Unlock()
			return nil
		}
	}
	// The slow path, as in Mutex.Lock.
	w := keymap.NewWaiter()
	w.Write = write
	sh.Enqueue(&sh.At(sh.Find(h, k)).q, w)
	if write {
		sh.Count[rwWriteWaiting]++
	}
	sh.Unlock()

	region := regionRWRLock
	if write {
		region = regionRWLock
	}
	if w.Await(ctx, done, region) {
		return admitted(m.m.Hooks(), w)
	}
	giveUpHook()
	sh.Lock()
	sh.Count[rwCancelled]++
	if w.Woken() {
		// Granted (or failed by Close) while giving up: give back what
		// was granted, admitting whoever that lets in; the grant did not
		// admit this caller after all.
		if !w.Closed {
			sh.Count[rwAdmitted]--
			rwUnlock(sh, h, k, write)
		}
		sh.Unlock()
		return ctx.Err()
	}
	e := sh.At(sh.Find(h, k))
	sh.Leave(&e.q, w)
	if write {
		sh.Count[rwWriteWaiting]--
	}
	// If w was a writer at the head, the readers behind it may go now.
	rwGrant(sh, e)
	sh.Unlock()
	return ctx.Err()
}

// rwTry takes k at once if it can go without waiting, creating the entry
// if needed, and reports whether it did. If not, k's entry exists.
func rwTry[K comparable](sh *rwShard[K], h uint64, k K, write bool) bool {
	i := sh.Find(h, k)
	if i < 0 {
		e := rwEntry{writer: write}
		if write {
			sh.Count[rwWriteInUse]++
		} else {
			e.readers = 1
			sh.Count[rwReadInUse]++
		}
		sh.Insert(h, k, e)
		return true
	}
	e := sh.At(i)
	if write || e.writer || !e.q.Empty() {
		// A writer needs the key free, and a free key has no entry. A
		// reader cannot join while a writer holds or anyone queues.
		return false
	}
	e.readers++
	sh.Count[rwReadInUse]++
	return true
}

// TryRLock takes k for reading if that needs no wait: no writer holds it
// and nobody waits for it. It reports whether it did; false once closed.
func (m *RWMutex[K]) TryRLock(k K) bool {
	if m == nil {
		panic("keyed: RWMutex.TryRLock on nil *RWMutex")
	}
	return m.tryLock(k, false)
}

// TryLock takes k for writing if it is free, and reports whether it did;
// false once closed.
func (m *RWMutex[K]) TryLock(k K) bool {
	if m == nil {
		panic("keyed: RWMutex.TryLock on nil *RWMutex")
	}
	return m.tryLock(k, true)
}

func (m *RWMutex[K]) tryLock(k K, write bool) bool {
	sh, h := m.m.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	if m.m.Closed() || !rwTry(sh, h, k, write) {
		sh.Count[rwRejected]++
		return false
	}
	sh.Count[rwAdmitted]++
	return true
}

// RUnlock releases one read hold on k. It panics if k is not read-locked.
func (m *RWMutex[K]) RUnlock(k K) {
	if m == nil {
		panic("keyed: RWMutex.RUnlock on nil *RWMutex")
	}
	m.unlock(k, false)
}

// Unlock releases the write hold on k. It panics if k is not write-locked.
func (m *RWMutex[K]) Unlock(k K) {
	if m == nil {
		panic("keyed: RWMutex.Unlock on nil *RWMutex")
	}
	m.unlock(k, true)
}

func (m *RWMutex[K]) unlock(k K, write bool) {
	sh, h := m.m.Shard(k)
	sh.Lock()
	ok := rwUnlock(sh, h, k, write)
	sh.Unlock()
	if !ok {
		if write {
			panic(fmt.Sprintf("keyed: RWMutex.Unlock(%v): key is not write-locked", k))
		}
		panic(fmt.Sprintf("keyed: RWMutex.RUnlock(%v): key is not read-locked", k))
	}
}

// rwUnlock drops one hold on k, admits the waiters that can now go, and
// removes the entry if it is unused. It reports false if k was not held
// in that mode.
func rwUnlock[K comparable](sh *rwShard[K], h uint64, k K, write bool) bool {
	i := sh.Find(h, k)
	if i < 0 {
		return false
	}
	e := sh.At(i)
	if write {
		if !e.writer {
			return false
		}
		e.writer = false
		sh.Count[rwWriteInUse]--
	} else {
		if e.readers == 0 {
			return false
		}
		e.readers--
		sh.Count[rwReadInUse]--
	}
	rwGrant(sh, e)
	if e.readers == 0 && !e.writer && e.q.Empty() {
		sh.Remove(i)
	}
	return true
}

// rwGrant admits waiters from the head of e's queue while they can go: a
// writer when nobody holds the key, readers while no writer holds it. It
// stops at the first that cannot, so nobody passes a writer.
func rwGrant[K comparable](sh *rwShard[K], e *rwEntry) {
	for !e.q.Empty() {
		w := e.q.Front()
		if w.Write {
			if e.writer || e.readers > 0 {
				return
			}
			e.writer = true
			sh.Count[rwWriteInUse]++
			sh.Count[rwWriteWaiting]--
		} else {
			if e.writer {
				return
			}
			e.readers++
			sh.Count[rwReadInUse]++
		}
		sh.Dequeue(&e.q)
		sh.Count[rwAdmitted]++
		w.Wake()
	}
}

// Close fails every caller waiting in Lock or RLock, and every later one,
// with [ErrClosed]; TryLock and TryRLock return false from now on. Holds
// already taken stay until released. Close is idempotent.
func (m *RWMutex[K]) Close() {
	if m == nil {
		panic("keyed: RWMutex.Close on nil *RWMutex")
	}
	m.m.Close(func(sh *rwShard[K], e *rwEntry) {
		for w := e.q.Front(); w != nil; w = w.Next() {
			if w.Write {
				sh.Count[rwWriteWaiting]--
			}
		}
		sh.Fail(&e.q, ErrClosed)
	})
}

// Len returns the number of entries: keys held or waited on now.
func (m *RWMutex[K]) Len() int {
	if m == nil {
		panic("keyed: RWMutex.Len on nil *RWMutex")
	}
	return m.m.Len()
}

// OnWait adds fn to the functions called for every Lock and RLock that
// had to queue, once it holds its key: fn(wait) runs on that caller's
// goroutine, before Lock or RLock returns, with how long it waited, from
// the moment it queued to the moment it resumed holding the key. Calls
// that did not queue, TryLock and TryRLock, and waits that ended in
// ctx.Err() or [ErrClosed] do not call it. fn must be quick: the caller
// holds the key meanwhile. Several functions may be added; each is called
// in turn. The returned stop removes this fn; stop is idempotent. OnWait
// and stop are safe to call at any time, concurrently with use. A call
// that does not queue pays nothing for the hooks. It panics if fn is nil.
func (m *RWMutex[K]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if m == nil {
		panic("keyed: RWMutex.OnWait on nil *RWMutex")
	}
	if fn == nil {
		panic("keyed: RWMutex.OnWait with nil fn")
	}
	return m.m.Hooks().Add(fn)
}

// RWMutexStats is a snapshot of an [RWMutex].
type RWMutexStats struct {
	Keys         int64 // entries: keys held or waited on now (= Len)
	ReadInUse    int64 // read holds now, all keys together
	WriteInUse   int64 // write holds now (at most one per key)
	Waiting      int64 // callers blocked in Lock or RLock now (= ReadWaiting + WriteWaiting)
	ReadWaiting  int64 // of those, in RLock
	WriteWaiting int64 // of those, in Lock
	// OldestWait is how long the longest-waiting caller blocked in Lock
	// or RLock now (over all keys, readers and writers together: they
	// share one queue per key) has waited, from the moment it queued; 0
	// when nobody waits.
	OldestWait time.Duration
	Admitted   int64 // total: holds granted, read or write: Lock/RLock calls that returned nil, TryLock/TryRLock calls that returned true
	Cancelled  int64 // total: Lock/RLock calls that gave up waiting because ctx ended
	Rejected   int64 // total: TryLock/TryRLock calls that returned false (the key was busy, or the RWMutex closed)
	Closed     bool
}

// Stats returns a snapshot, summed shard by shard as [Mutex.Stats], at
// the same cost.
func (m *RWMutex[K]) Stats() RWMutexStats {
	if m == nil {
		panic("keyed: RWMutex.Stats on nil *RWMutex")
	}
	t := m.m.Totals(nil)
	return RWMutexStats{
		Keys:         t.Entries,
		ReadInUse:    t.Count[rwReadInUse],
		WriteInUse:   t.Count[rwWriteInUse],
		Waiting:      t.Waiting,
		ReadWaiting:  t.Waiting - t.Count[rwWriteWaiting],
		WriteWaiting: t.Count[rwWriteWaiting],
		OldestWait:   t.OldestWait,
		Admitted:     t.Count[rwAdmitted],
		Cancelled:    t.Count[rwCancelled],
		Rejected:     t.Count[rwRejected],
		Closed:       t.Closed,
	}
}
