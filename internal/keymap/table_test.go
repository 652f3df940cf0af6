package keymap

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// The table against a Go map: random inserts and removes over a small key
// space (so probe runs collide and wrap), with a deliberately weak hash so
// that many keys share a home slot and backward shifts are exercised.
func TestTableModel(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var tb table[int, int]
		ref := map[int]int{}
		weak := func(k int) uint64 { return uint64(k%5)<<slotShift | 1<<63 }
		for step := range 2000 {
			k := rng.IntN(64)
			h := weak(k)
			i := tb.Find(h, k)
			v, ok := ref[k]
			if (i >= 0) != ok {
				t.Fatalf("seed %d step %d: find(%d) = %d, map has it: %v", seed, step, k, i, ok)
			}
			if ok {
				if tb.slots[i].v != v {
					t.Fatalf("seed %d step %d: key %d value %d, want %d", seed, step, k, tb.slots[i].v, v)
				}
				if rng.IntN(3) > 0 {
					tb.Remove(i)
					delete(ref, k)
				}
			} else {
				tb.Insert(h, k, step)
				ref[k] = step
			}
			if tb.n != len(ref) {
				t.Fatalf("seed %d step %d: n = %d, want %d", seed, step, tb.n, len(ref))
			}
			// Every key in the map is findable, and the table holds
			// nothing else.
			used := 0
			tb.all(func(i int) { used++ })
			if used != len(ref) {
				t.Fatalf("seed %d step %d: %d used slots, want %d", seed, step, used, len(ref))
			}
			for k, v := range ref {
				if i := tb.Find(weak(k), k); i < 0 || tb.slots[i].v != v {
					t.Fatalf("seed %d step %d: key %d lost", seed, step, k)
				}
			}
			if len(tb.slots) > 0 && tb.n*4 > len(tb.slots)*3 {
				t.Fatalf("seed %d step %d: %d keys in %d slots", seed, step, tb.n, len(tb.slots))
			}
		}
	}
}

// A table grows with its keys and gives the memory back as they go.
func TestTableShrinks(t *testing.T) {
	var tb table[int, struct{}]
	h := func(k int) uint64 { return uint64(k)<<slotShift | 1<<63 }
	const n = 10000
	for k := range n {
		tb.Insert(h(k), k, struct{}{})
	}
	if len(tb.slots) < n {
		t.Fatalf("%d slots for %d keys", len(tb.slots), n)
	}
	for k := range n - 10 {
		tb.Remove(tb.Find(h(k), k))
	}
	if len(tb.slots) > 128 {
		t.Fatalf("%d slots left for 10 keys", len(tb.slots))
	}
	for k := n - 10; k < n; k++ {
		tb.Remove(tb.Find(h(k), k))
	}
	if tb.n != 0 || len(tb.slots) > dropAbove {
		t.Fatalf("empty table keeps %d slots (n=%d)", len(tb.slots), tb.n)
	}
}

// The shards are 128 bytes so that neighbours' locks never share a cache
// line; their fields are sized by hand to fill that exactly, so check it,
// for the entry types the owners use (a value entry, a pointer entry).
func TestShardSizes(t *testing.T) {
	type entry struct {
		n int
		q Queue
	}
	for name, size := range map[string]uintptr{
		"value entry":   unsafe.Sizeof(Shard[string, entry]{}),
		"pointer entry": unsafe.Sizeof(Shard[int, *entry]{}),
	} {
		if size != 128 {
			t.Errorf("%s shard is %d bytes, want 128", name, size)
		}
	}
}
