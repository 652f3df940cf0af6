package a

import "sync"

// Generic code: the same shape on a type-parameterised map.
type reg[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

func (r *reg[K, V]) get(k K, mk func() V) V {
	r.mu.Lock()
	v, ok := r.m[k] // want `r.m\[k\] checked at line \d+ and set at line \d+ with a lock release between`
	r.mu.Unlock()
	if ok {
		return v
	}
	v = mk()
	r.mu.Lock()
	r.m[k] = v
	r.mu.Unlock()
	return v
}

func useReg() int {
	r := &reg[string, int]{m: map[string]int{}}
	return r.get("a", func() int { return 1 })
}
