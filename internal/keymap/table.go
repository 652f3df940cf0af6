package keymap

// table is the hash table inside one shard: open addressing with linear
// probing and backward-shift deletion (no tombstones), keyed by K with a
// precomputed 64-bit hash.
//
// Why not a Go map: a Lock+Unlock pair is an insert-if-absent and a
// lookup-then-delete, four map operations that each hash the key again
// after we already hashed it to pick the shard, and a Go map reseeds its
// hash (a chacha8 draw) every time it becomes empty, which for a lock
// table is every other call. Measured on BenchmarkKeyed/case=hot (1 goroutine):
// the table cut Lock+Unlock from about 125 ns to about 50 ns. Here the key
// is hashed once per call and the hash is reused for the shard and the
// slot; a found slot is updated in place.
//
// Memory follows the keys in use: the table doubles when it is 3/4 full
// and halves when it falls to 1/8, and an empty table larger than the
// starting size is dropped entirely.
//
// All methods run under the shard lock. The exported ones are promoted to
// Shard, which embeds the table, rather than wrapped: a wrapper around find
// goes over the inlining budget, and Lock and Unlock call find on every
// call.
type table[K comparable, V any] struct {
	slots []slot[K, V] // len is 0 or a power of two
	n     int          // used slots
}

type slot[K comparable, V any] struct {
	h   uint64 // the key's hash with bit 63 set; 0 marks an empty slot
	key K
	v   V
}

const (
	minSlots = 8
	// An empty table with more slots than this is dropped; a smaller one
	// is kept, so a shard whose few keys come and go does not allocate.
	dropAbove = 64
	// The shard is picked by the low bits of the hash; the slot by the
	// bits above them, so keys in one shard still spread over its table.
	slotShift = shardBits
)

// At returns the entry in slot i, to read or update in place.
func (t *table[K, V]) At(i int) *V { return &t.slots[i].v }

func (t *table[K, V]) home(h uint64) int {
	return int(h>>slotShift) & (len(t.slots) - 1)
}

// Find returns the index of k's slot, or -1 if k has no entry.
func (t *table[K, V]) Find(h uint64, k K) int {
	if t.n == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == 0 {
			return -1
		}
		if s.h == h && s.key == k {
			return i
		}
	}
}

// Insert adds an entry v for k, which must have none, and returns its
// slot.
func (t *table[K, V]) Insert(h uint64, k K, v V) int {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minSlots, 2*len(t.slots)))
	}
	t.n++
	return t.place(h, k, v)
}

func (t *table[K, V]) place(h uint64, k K, v V) int {
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = slot[K, V]{h: h, key: k, v: v}
	return i
}

// Remove removes the entry in slot i and shifts back the slots of its
// probe run that would otherwise become unreachable: other slots' indexes
// may change.
func (t *table[K, V]) Remove(i int) {
	t.n--
	if t.n == 0 && len(t.slots) > dropAbove {
		// Drop a grown table once it empties: memory follows the keys.
		t.slots = nil
		return
	}
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].h != 0; j = (j + 1) & mask {
		// Slot j may move into the hole at i only if its home is not in
		// the cyclic range (i, j]: otherwise its probe from home never
		// passes through i.
		home := t.home(t.slots[j].h)
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot[K, V]{} // clear key and entry for the GC
	if t.n > 0 && len(t.slots) > minSlots && t.n*8 <= len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *table[K, V]) resize(size int) {
	old := t.slots
	t.slots = make([]slot[K, V], size)
	for i := range old {
		if s := &old[i]; s.h != 0 {
			t.place(s.h, s.key, s.v)
		}
	}
}

// all calls fn for every used slot's index. fn must not insert or remove.
func (t *table[K, V]) all(fn func(i int)) {
	for i := range t.slots {
		if t.slots[i].h != 0 {
			fn(i)
		}
	}
}
