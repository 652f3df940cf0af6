// Package keymap is the per-key store under keyed's Mutex, RWMutex and
// Once and run's Keyed: a hash table split into shards, one lock each,
// whose entries exist only while their owner needs them, plus the queue
// of waiters an entry keeps and the Close that fails them.
//
// It also holds what those owners (and keyed.Cache and run.Guard, which
// keep their own waiters) share to report waits: [Waits], a list of the
// waits in progress, oldest first, so the oldest is its head; and each
// Map's wait hooks ([Map.Hooks], a fifo.Hooks). Every shard keeps
// one Waits over all its keys ([Shard.Enqueue], [Shard.Dequeue] and
// [Shard.Leave] keep it with the entries' queues), so the oldest waiter of
// a Map is the earliest of 64 list heads, whatever the number of keys.
// Only a caller that must block is stamped (one clock read) and only it
// calls the hooks: an uncontended call does neither.
//
// A [Map] hashes a key once; the hash picks the [Shard] (its low bits)
// and the slot in the shard's table (the bits above). The owner locks the
// shard, looks the key up, creates or updates its entry in place, and
// removes it when it is unused: the store never decides by itself when an
// entry goes, so each owner states its own rule ("no holder and no
// waiter", "no run and no remembered success", "no call in progress").
//
// A table doubles when it is 3/4 full, halves when it falls to 1/8, and
// is dropped when it empties after having grown, so memory follows the
// keys in use, not the peak.
//
// Every method of a Shard except Lock must be called with the shard
// locked; a slot index is valid until the next Insert or Remove on that
// shard.
package keymap

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// NumShards is the number of shards of every Map. Why 64: with one table
// and one lock, every call in the process, whatever its key, queues on
// that one lock (what makes moby/locker slow under parallel load); with 64
// the keys spread far enough that the shard locks stop being the
// bottleneck (bench/: BenchmarkKeyed/case=distinct). The cost is 64 * 128 bytes
// = 8 KiB per Map, and one hash of the key per call.
const (
	shardBits = 6
	NumShards = 1 << shardBits
)

// NumCounts is the number of per-shard counters an owner may keep in
// [Shard.Count].
const NumCounts = 8

// seed hashes keys. One seed per process, drawn at random, so the hashes
// cannot be predicted by whoever picks the keys.
var seed = maphash.MakeSeed()

// Map is a set of entries of type V keyed by K, in NumShards shards. The
// zero value is an empty, open map. A Map must not be copied after first
// use.
type Map[K comparable, V any] struct {
	closed atomic.Bool
	hooks  fifo.Hooks
	shards [NumShards]Shard[K, V]
}

// Shard is one slice of a Map: a table of entries, the callers queued on
// them, the owner's counters, and the lock that guards them all.
type Shard[K comparable, V any] struct {
	mu          sync.Mutex
	table[K, V] // Find, At, Insert, Remove
	// waits holds every waiter queued on this shard's entries, whatever
	// its key, oldest first: Enqueue, Dequeue and Leave keep it with the
	// entries' queues, so its length is the shard's waiter count and its
	// head the shard's oldest waiter.
	waits Waits
	// Count is the owner's per-shard totals and gauges, indexed by its own
	// constants; Map.Totals sums them over the shards.
	Count [NumCounts]int64
	// No padding: the fields above fill 128 bytes exactly (checked by a
	// test), so the locks of neighbouring shards never share a cache line.
}

// Shard returns k's shard, unlocked, and k's hash for the shard's methods.
func (m *Map[K, V]) Shard(k K) (*Shard[K, V], uint64) {
	h := maphash.Comparable(seed, k)
	// Bit 63 tags a used slot's hash (so never 0); the low bits pick the
	// shard and are not used again inside it (see table.home).
	return &m.shards[h&(NumShards-1)], h | 1<<63
}

// Closed reports whether Close has been called. An owner reads it under a
// shard lock, so that a call which sees it false is one that Close will
// find when it walks that shard.
func (m *Map[K, V]) Closed() bool { return m.closed.Load() }

// Hooks returns m's wait hooks: the owner's OnWait adds to them, and a
// caller that waited calls them once it is admitted.
func (m *Map[K, V]) Hooks() *fifo.Hooks { return &m.hooks }

// Close marks m closed, then, shard by shard under the shard's lock, calls
// fail for every entry (typically [Shard.Fail] on the entry's queue). fail
// must not insert or remove entries. Close may be called more than once;
// it calls fail each time.
func (m *Map[K, V]) Close(fail func(s *Shard[K, V], v *V)) {
	m.closed.Store(true)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.table.all(func(j int) { fail(s, &s.table.slots[j].v) })
		s.mu.Unlock()
	}
}

// Len returns the number of entries, summed shard by shard.
func (m *Map[K, V]) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.table.n
		s.mu.Unlock()
	}
	return n
}

// Totals is the sum of every shard's figures.
type Totals struct {
	Entries int64
	Waiting int64
	// OldestWait is how long the oldest current waiter, over all shards,
	// has waited; 0 when nobody waits.
	OldestWait time.Duration
	Count      [NumCounts]int64
	Closed     bool
}

// Totals sums the shards' figures, each shard read under its lock, one
// after another: under load each figure is exact for some instant, not
// all for the same one. If each is not nil, it is called for every entry
// while its shard is locked.
//
// The oldest wait costs one read of each shard's list head (O(NumShards),
// whatever the number of keys or waiters) and one clock read when anybody
// waits.
func (m *Map[K, V]) Totals(each func(v *V)) Totals {
	var t Totals
	var oldest time.Time
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		t.Entries += int64(s.table.n)
		t.Waiting += s.waits.Len()
		if since, ok := s.waits.Oldest(); ok {
			oldest = Earlier(oldest, since)
		}
		for j, c := range s.Count {
			t.Count[j] += c
		}
		if each != nil {
			s.table.all(func(j int) { each(&s.table.slots[j].v) })
		}
		s.mu.Unlock()
	}
	if !oldest.IsZero() {
		t.OldestWait = OldestWait(oldest, time.Now())
	}
	t.Closed = m.closed.Load()
	return t
}

// Slots returns the number of table slots allocated over all shards: the
// memory the map holds, for tests.
func (m *Map[K, V]) Slots() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.table.slots)
		s.mu.Unlock()
	}
	return n
}

// Lock locks the shard.
func (s *Shard[K, V]) Lock() { s.mu.Lock() }

// Unlock unlocks the shard.
func (s *Shard[K, V]) Unlock() { s.mu.Unlock() }

// Waiting returns the number of callers queued on the shard's entries.
func (s *Shard[K, V]) Waiting() int64 { return s.waits.Len() }

// Enqueue appends w to q, the queue of one of the shard's entries, and
// to the shard's list of waits, stamping it with the time now: the slow
// path's one clock read. w must be in no queue.
func (s *Shard[K, V]) Enqueue(q *Queue, w *Waiter) {
	q.PushBack(w)
	s.waits.Start(&w.wait)
}

// Dequeue takes q's oldest waiter out of q and the shard's list, and
// returns it; nil if q is empty.
func (s *Shard[K, V]) Dequeue(q *Queue) *Waiter {
	w := q.PopFront()
	if w != nil {
		s.waits.End(&w.wait)
	}
	return w
}

// Leave takes w, which is queued in q, out of q and the shard's list.
func (s *Shard[K, V]) Leave(q *Queue, w *Waiter) {
	q.Remove(w)
	s.waits.End(&w.wait)
}

// Fail takes every waiter out of q, oldest first, and wakes it failed:
// Closed set and Err = err. Close's work on one entry.
func (s *Shard[K, V]) Fail(q *Queue, err error) {
	for w := s.Dequeue(q); w != nil; w = s.Dequeue(q) {
		w.Closed, w.Err = true, err
		w.Wake()
	}
}
