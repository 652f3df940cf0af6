package keyed

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/internal/keymap"
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
//
// [Mutex.Close] fails every waiting Lock and every later one with
// [ErrClosed]; keys already held stay held and may be unlocked.
type Mutex[K comparable] struct {
	m keymap.Map[K, mutexEntry]
}

// mutexEntry is the state of one key. Its presence in the map means the
// key is held; q holds the callers waiting for it.
type mutexEntry struct {
	q keymap.Queue
}

// The Mutex's counters in each shard's Count.
const (
	mAdmitted = iota
	mContended
	mCancelled
	mRejected
)

// Lock blocks until the caller holds k, ctx ends, or the Mutex is closed.
// It returns nil when k is held, ctx.Err() when ctx ended first (even if k
// was free: a done ctx fails at once), or [ErrClosed]. Queued callers get k
// in the order they queued (see the type's doc). It panics if ctx is nil.
func (m *Mutex[K]) Lock(ctx context.Context, k K) error {
	if m == nil {
		panic("keyed: Mutex.Lock on nil *Mutex")
	}
	if ctx == nil {
		panic("keyed: Mutex.Lock with nil Context")
	}
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
	i := sh.Find(h, k)
	if i < 0 {
		sh.Insert(h, k, mutexEntry{})
		sh.Count[mAdmitted]++
		sh.Unlock()
		return nil
	}
	// k is held. If nobody is queued, retry a few times, yielding the
	// processor in between, before queueing. Why: most holds are short,
	// and queueing means the key is handed to this goroutine while it is
	// parked; until it has woken up (often an idle processor has to be
	// woken first) the key stays held by a goroutine that is not running,
	// and every caller that arrives meanwhile queues behind it: a convoy.
	// Measured on BenchmarkKeyed/case=hot, 8 keys, 2 to 16 goroutines: without
	// these retries Lock+Unlock was 2x slower than with one goroutine.
	// Once anyone is queued, nobody retries: newcomers queue behind.
	for spin := 0; spin < maxSpins && sh.At(i).q.Empty(); spin++ {
		sh.Unlock()
		runtime.Gosched()
		sh.Lock()
		if m.m.Closed() {
			sh.Unlock()
			return ErrClosed
		}
		if i = sh.Find(h, k); i < 0 {
			sh.Insert(h, k, mutexEntry{})
			sh.Count[mAdmitted]++
			sh.Unlock()
			return nil
		}
	}
	// The slow path: queue and block. Only here is the clock read (by
	// Enqueue) and the hook list loaded (by admitted).
	w := keymap.NewWaiter()
	sh.Enqueue(&sh.At(i).q, w)
	sh.Unlock()

	if w.Await(ctx, done, regionMutexLock) {
		return admitted(m.m.Hooks(), w)
	}
	giveUpHook()
	sh.Lock()
	sh.Count[mCancelled]++
	if w.Woken() {
		// Handed k (or failed by Close) while giving up. The caller sees
		// its ctx error and must hold nothing, so pass k on; the grant
		// did not admit it after all.
		if !w.Closed {
			sh.Count[mAdmitted]--
			sh.Count[mContended]--
			mutexUnlock(sh, h, k)
		}
		sh.Unlock()
		return ctx.Err()
	}
	// k's entry is still there (someone holds k while we wait), though
	// its slot may have moved: find it again.
	sh.Leave(&sh.At(sh.Find(h, k)).q, w)
	sh.Unlock()
	return ctx.Err()
}

// admitted turns the token a waiter received into Lock's result and, if
// the waiter was granted what it waited for, reports its wait to hooks.
func admitted(hooks *fifo.Hooks, w *keymap.Waiter) error {
	if w.Closed {
		return ErrClosed
	}
	hooks.CallTime(w.Since())
	return nil
}

// TryLock takes k if it is free and reports whether it did. It never
// blocks. It returns false while k is held (and so while anyone waits for
// it) and once the Mutex is closed.
func (m *Mutex[K]) TryLock(k K) bool {
	if m == nil {
		panic("keyed: Mutex.TryLock on nil *Mutex")
	}
	sh, h := m.m.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	if m.m.Closed() || sh.Find(h, k) >= 0 {
		sh.Count[mRejected]++
		return false
	}
	sh.Insert(h, k, mutexEntry{})
	sh.Count[mAdmitted]++
	return true
}

// Unlock releases k. If callers wait for k, the oldest one now holds it;
// otherwise k's entry is removed. Unlock works after Close. It panics if k
// is not locked.
func (m *Mutex[K]) Unlock(k K) {
	if m == nil {
		panic("keyed: Mutex.Unlock on nil *Mutex")
	}
	sh, h := m.m.Shard(k)
	sh.Lock()
	ok := mutexUnlock(sh, h, k)
	sh.Unlock()
	if !ok {
		panic(fmt.Sprintf("keyed: Mutex.Unlock(%v): key is not locked", k))
	}
}

// mutexUnlock hands k to its oldest waiter or removes its entry; sh is
// locked. It reports false if k was not held.
func mutexUnlock[K comparable](sh *keymap.Shard[K, mutexEntry], h uint64, k K) bool {
	i := sh.Find(h, k)
	if i < 0 {
		return false
	}
	q := &sh.At(i).q
	if q.Empty() {
		sh.Remove(i)
		return true
	}
	w := sh.Dequeue(q)
	sh.Count[mAdmitted]++
	sh.Count[mContended]++
	w.Wake()
	return true
}

// Close fails every caller waiting in Lock, and every later Lock, with
// [ErrClosed]; TryLock returns false from now on. Keys already held stay
// held until unlocked. Close is idempotent.
func (m *Mutex[K]) Close() {
	if m == nil {
		panic("keyed: Mutex.Close on nil *Mutex")
	}
	m.m.Close(func(sh *keymap.Shard[K, mutexEntry], e *mutexEntry) { sh.Fail(&e.q, ErrClosed) })
}

// Len returns the number of entries: keys held now. It is 0 when nothing
// is held, however many keys were used before.
func (m *Mutex[K]) Len() int {
	if m == nil {
		panic("keyed: Mutex.Len on nil *Mutex")
	}
	return m.m.Len()
}

// OnWait adds fn to the functions called for every Lock that had to
// queue, once it holds its key: fn(wait) runs on that caller's goroutine,
// before Lock returns, with how long it waited, from the moment it
// queued (after the brief retries described on [Mutex]) to the moment it
// resumed holding the key. Calls that got the key without queueing (most
// of them), TryLock, and waits that ended in ctx.Err() or [ErrClosed] do
// not call it. fn must be quick: it delays the caller, which holds the
// key meanwhile. Several functions may be added; each is called in turn.
// The returned stop removes this fn; stop is idempotent. OnWait and stop
// are safe to call at any time, concurrently with Lock. A Lock that does
// not queue pays nothing for the hooks. It panics if fn is nil.
func (m *Mutex[K]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if m == nil {
		panic("keyed: Mutex.OnWait on nil *Mutex")
	}
	if fn == nil {
		panic("keyed: Mutex.OnWait with nil fn")
	}
	return m.m.Hooks().Add(fn)
}

// MutexStats is a snapshot of a [Mutex].
type MutexStats struct {
	Keys    int64 // keys held now (= entries, = Len)
	Waiting int64 // callers blocked in Lock now
	// OldestWait is how long the longest-waiting caller blocked in Lock
	// now (over all keys) has waited, from the moment it queued; 0 when
	// nobody waits.
	OldestWait time.Duration
	Admitted   int64 // total: Lock calls that returned nil, and TryLock calls that returned true
	Contended  int64 // total: of those, Lock calls that had to queue first
	Cancelled  int64 // total: Lock calls that gave up waiting because ctx ended
	Rejected   int64 // total: TryLock calls that returned false (the key was held, or the Mutex closed)
	Closed     bool
}

// Stats returns a snapshot. Each shard is read under its lock and the
// shards are summed one after another, so under load the figures are
// each exact for some instant but not all for the same one. Its cost does
// not grow with the keys or the waiters: 64 shard locks taken in turn,
// each shard's oldest waiter read from the head of its list of waits,
// and one clock read if anybody waits.
func (m *Mutex[K]) Stats() MutexStats {
	if m == nil {
		panic("keyed: Mutex.Stats on nil *Mutex")
	}
	t := m.m.Totals(nil)
	return MutexStats{
		Keys:       t.Entries,
		Waiting:    t.Waiting,
		OldestWait: t.OldestWait,
		Admitted:   t.Count[mAdmitted],
		Contended:  t.Count[mContended],
		Cancelled:  t.Count[mCancelled],
		Rejected:   t.Count[mRejected],
		Closed:     t.Closed,
	}
}
