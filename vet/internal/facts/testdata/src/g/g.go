// Package g has generic functions whose facts hang on their origin.
package g

import (
	"net/http"
	"sync"
)

func Get[T any](url string, v T) T { // want Get:`blocks\(g.Get -> http.Get\)`
	http.Get(url)
	return v
}

type Box[T any] struct {
	mu sync.Mutex
	v  T
}

func (b *Box[T]) With(fn func(T)) { // want With:`lease\(lock b.mu\)`
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(b.v)
}

func (b *Box[T]) Fetch(url string) { // want Fetch:`blocks\(g.Box.Fetch -> g.Get -> http.Get\)`
	Get(url, b.v)
}
