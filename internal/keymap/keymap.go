// Package keymap is the per-key store under keyed's Mutex, RWMutex and
// Once and run's Keyed: a hash table split into shards, one lock each,
// whose entries exist only while their owner needs them, plus the queue
// of waiters an entry keeps and the Close that fails them.
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
	shards [NumShards]Shard[K, V]
}

// Shard is one slice of a Map: a table of entries, the count of callers
// queued on them, the owner's counters, and the lock that guards them all.
type Shard[K comparable, V any] struct {
	mu          sync.Mutex
	table[K, V] // Find, At, Insert, Remove
	// Waiting is the number of callers queued on this shard's entries now.
	// The owner keeps it: Fail lowers it, the owner raises and lowers it
	// wherever else a waiter joins or leaves a queue.
	Waiting int64
	// Count is the owner's per-shard totals and gauges, indexed by its own
	// constants; Map.Totals sums them over the shards.
	Count [NumCounts]int64
	// Pad to 128 bytes (checked by a test), so the locks of neighbouring
	// shards never share a cache line.
	_ [16]byte
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
	Count   [NumCounts]int64
	Closed  bool
}

// Totals sums the shards' figures, each shard read under its lock, one
// after another: under load each figure is exact for some instant, not
// all for the same one. If each is not nil, it is called for every entry
// while its shard is locked.
func (m *Map[K, V]) Totals(each func(v *V)) Totals {
	var t Totals
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		t.Entries += int64(s.table.n)
		t.Waiting += s.Waiting
		for j, c := range s.Count {
			t.Count[j] += c
		}
		if each != nil {
			s.table.all(func(j int) { each(&s.table.slots[j].v) })
		}
		s.mu.Unlock()
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

// Fail takes every waiter out of q, oldest first, and wakes it failed:
// Closed set and Err = err. Close's work on one entry.
func (s *Shard[K, V]) Fail(q *Queue, err error) {
	for !q.Empty() {
		w := q.PopFront()
		w.Closed, w.Err = true, err
		s.Waiting--
		w.Wake()
	}
}
