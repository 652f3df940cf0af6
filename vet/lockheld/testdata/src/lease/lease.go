package lease

import (
	"net/http"
	"sync"
	"time"
)

// G is a generic lease: it holds g.mu while fn runs.
type G[T any] struct {
	mu sync.Mutex
	v  T
}

func (g *G[T]) Do(fn func(T)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(g.v)
}

// With holds l.mu while it calls fn; released after, not by defer.
type L struct{ mu sync.RWMutex }

func (l *L) With(name string, fn func() error) error {
	l.mu.RLock()
	err := fn()
	l.mu.RUnlock()
	return err
}

// Wrap passes its callback on to a lease: a lease too.
func (l *L) Wrap(fn func() error) error { return l.With("x", fn) }

// Owner is served by an owner goroutine: a request, a deferred hand-back.
type Owner struct {
	req  chan chan *int
	back chan *int
}

func (o *Owner) Use(fn func(*int)) {
	reply := make(chan *int, 1)
	o.req <- reply
	v := <-reply
	defer func() { o.back <- v }()
	fn(v)
}

// NotLease calls its callback with nothing held.
func NotLease(fn func()) { fn() }

func users(g *G[string], gi *G[int], l *L, o *Owner, url string) {
	g.Do(func(s string) {
		http.Get(s) // want `http.Get may block with no deadline inside the callback of G.Do, which holds lock g.mu`
	})
	gi.Do(func(int) {
		time.Sleep(time.Second) // want `time.Sleep may block with no deadline inside the callback of G.Do`
	})
	l.With("a", func() error {
		_, err := http.Head(url) // want `inside the callback of L.With, which holds read lock l.mu`
		return err
	})
	l.Wrap(func() error {
		_, err := http.Head(url) // want `inside the callback of L.Wrap, which holds read lock l.mu`
		return err
	})
	o.Use(func(p *int) {
		http.Get(url) // want `inside the callback of Owner.Use, which holds the owner of o.req`
	})
	g.Do(func(s string) { _ = len(s) })
	NotLease(func() { http.Get(url) })
}
