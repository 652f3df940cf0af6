package f

import (
	"context"
	"g"
	"sync"
	"time"
)

func usesGeneric(url string) { // want usesGeneric:`blocks\(f.usesGeneric -> g.Get -> http.Get\)`
	g.Get[int](url, 1)
}

func sleeper() { time.Sleep(time.Second) } // want sleeper:`blocks\(f.sleeper -> time.Sleep\)`

func recursive(n int) { // want recursive:`blocks\(f.recursive -> f.sleeper -> time.Sleep\)`
	if n > 0 {
		recursive(n - 1)
	}
	sleeper()
}

func viaLease(b *g.Box[string], url string) { // want viaLease:`blocks\(f.viaLease -> g.Box.With -> f.viaLease.func1 -> g.Get -> http.Get\)`
	b.With(func(s string) { g.Get(url, s) })
}

func ctxParam(ctx context.Context, wg *sync.WaitGroup) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	<-ctx.Done()
}

func background(w interface{ Wait() }) {
	w.Wait() // dynamic: unknown
}

type owner struct {
	req chan chan int
	mu  sync.RWMutex
}

func (o *owner) Read(fn func(int)) { // want Read:`lease\(read lock o.mu\)`
	o.mu.RLock()
	defer o.mu.RUnlock()
	fn(1)
}

func (o *owner) NoLease(fn func(int)) {
	o.mu.RLock()
	o.mu.RUnlock()
	fn(1)
}
