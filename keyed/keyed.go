// Package keyed gives per-key locks and per-key once-only setup whose
// bookkeeping follows the keys in use, never every key ever seen.
//
//   - [Mutex]: one holder per key. Lock waits (cancellably) in FIFO order.
//   - [RWMutex]: many readers or one writer per key, FIFO, a waiting writer
//     holds back the readers that arrive after it.
//   - [Once]: run a setup function for a key at most once at a time; callers
//     that arrive while it runs share its result, a success is remembered
//     until [Once.Forget] (on disconnect), a failure is not.
//
// Seed 001: a node opened one outbound stream per peer from two paths (after
// the handshake, and on the peer's inbound stream). Both checked "has
// stream?", both opened one, one stream was orphaned. The fix was a map of
// per-peer locks, cleared on disconnect, which left two flaws: the map grows
// for every peer whose disconnect is never seen, and deleting a peer's lock
// while a setup holds it lets a reconnect start a second setup beside the
// first. In this package neither can happen:
//
//   - A [Mutex] or [RWMutex] entry exists only while its key is held or
//     waited on; the last Unlock removes it. Nobody has to delete anything.
//   - [Once.Forget] never removes a setup that is running: it marks it stale,
//     and a caller arriving after it waits for that run to end before it
//     starts its own.
//
// # Memory
//
// Entries live in small hash tables, one per shard, the shard picked by a
// hash of the key. An entry is removed as soon as it is unused (Mutex,
// RWMutex: nobody holds or waits; Once: no run in progress and no success
// to remember). A table shrinks as its keys go and is dropped when it
// empties after having grown, so a burst of keys does not pin its peak
// memory. An uncontended Lock/Unlock allocates nothing. A caller that must
// block allocates one small waiter (with its channel) for the time it
// waits.
//
// Waiters are not recycled through a sync.Pool on purpose: a channel made
// inside a testing/synctest bubble and later used outside it (or in another
// bubble) kills the process with a fatal error, and a pooled waiter would
// carry its channel from one test to the next. Allocating the waiter when a
// caller must block costs tens of nanoseconds next to the microseconds the
// block itself costs.
//
// # Closing
//
// Each type has Close: it fails every current waiter and every later Lock
// or Do with [ErrClosed]. Holders keep what they hold and may still unlock.
package keyed

import (
	"errors"
	"hash/maphash"
	"sync"

	"github.com/sluice-go/sluice/internal/fifo"
)

// ErrClosed is returned by Lock, RLock and Do once the Mutex, RWMutex or
// Once has been closed.
var ErrClosed = errors.New("keyed: closed")

// numShards splits every Mutex, RWMutex and Once into this many tables,
// each with its own lock, chosen by a hash of the key. Why: with one table
// and one lock, every Lock and Unlock in the process, whatever its key,
// queues on that one lock; that is what makes moby/locker slow under
// parallel load. Measured (bench/: BenchmarkKeyedDistinct, Lock+Unlock of
// ever-new keys, 16 goroutines on 16 cores): 1 shard 746 ns/op, 8 shards
// 277 ns/op, 64 shards 60 ns/op. With 8 hot keys the shard count does not
// matter (the keys themselves are the contention). The cost is the shard
// array inside each value (numShards * 128 bytes = 8 KiB per Mutex,
// RWMutex or Once) and one hash of the key per call, which the shard's
// table reuses to place the key.
const (
	shardBits = 6
	numShards = 1 << shardBits
)

// seed hashes keys. One seed per process: it is drawn at random, so the
// hashes cannot be predicted by whoever picks the keys.
var seed = maphash.MakeSeed()

// hashKey returns k's hash, tagged for the tables (bit 63 set, so never 0),
// and the index of its shard (the low bits).
func hashKey[K comparable](k K) (h uint64, shard uint64) {
	h = maphash.Comparable(seed, k)
	return h | 1<<63, h & (numShards - 1)
}

// shard is one slice of a Mutex, RWMutex or Once: a table of entries, the
// count of callers queued on them, and the lock that guards both. V is the
// entry.
type shard[K comparable, V any] struct {
	mu      sync.Mutex
	t       table[K, V]
	waiters int // callers queued on this shard's entries
}

// size returns the number of entries, read under the shard lock.
func (s *shard[K, V]) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.n
}

// closeWaiters is Close's work on one shard: it takes every caller queued
// on the shard's entries out of its queue and wakes it failed (closed set,
// err = ErrClosed: Mutex and RWMutex read the one, Once the other).
// queue returns an entry's queue. Entries stay: their holders or runs go
// on.
func (s *shard[K, V]) closeWaiters(queue func(*V) *waitQueue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.all(func(i int) {
		q := queue(&s.t.slots[i].v)
		for !q.empty() {
			w := q.PopFront()
			w.closed, w.err = true, ErrClosed
			s.waiters--
			wake(w)
		}
	})
}

// testHookGiveUp, when set by a test, runs in a waiter whose ctx has just
// ended, before it takes the shard lock to leave the queue. Tests use it to
// land a hand-off in that window, which otherwise only a race can hit.
var testHookGiveUp func()

func giveUpHook() {
	if testHookGiveUp != nil {
		testHookGiveUp()
	}
}

// waiter is one caller blocked on a key. It is allocated when the caller
// must block and dropped when it stops waiting (see the package doc for why
// it is not pooled). Every field except ready is guarded by the shard lock.
type waiter struct {
	// ready receives one token when the waiter is granted what it waited
	// for, failed by Close, or given its result (Once). Buffered, so the
	// granter never blocks.
	ready chan struct{}
	fifo.Node[waiter]

	write  bool  // RWMutex: waits to write
	closed bool  // woken by Close, not granted
	err    error // Once: the shared result it was woken with (ErrClosed by Close)

	// Once only.
	gen uint64 // the Forget generation the waiter arrived in
	run bool   // woken to run fn itself
}

func newWaiter() *waiter {
	return &waiter{ready: make(chan struct{}, 1)}
}

// waitQueue is a FIFO of waiters, oldest first (a cancelled waiter leaves
// from the middle in O(1)); a small value stored inside map entries.
type waitQueue struct {
	fifo.List[waiter, *waiter]
}

func (q *waitQueue) empty() bool { return q.Len() == 0 }

// wake sends w its token. The channel is buffered and each waiter is woken
// at most once, so this never blocks.
func wake(w *waiter) {
	w.ready <- struct{}{}
}

// woken reports whether w has its token, without blocking. The caller
// holds the shard lock, so nobody can wake w concurrently.
func woken(w *waiter) bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}
