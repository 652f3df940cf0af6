package a

import (
	"context"
	"sync"
)

// Seed 004's naive store: the dispatcher waits on its own condition for
// room before it spawns the read.
type gated struct {
	mu       sync.Mutex
	inflight int
	changed  chan struct{}
	reads    chan read
	writes   chan read
}

func (g *gated) wait(limit int) {
	for {
		g.mu.Lock()
		ok, ch := g.inflight <= limit, g.changed
		g.mu.Unlock()
		if ok {
			return
		}
		<-ch
	}
}

func (g *gated) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-g.writes:
			g.wait(0) // want `<-g\.changed may block with no deadline inside the loop.*gated\.loop -> gated\.wait -> <-g\.changed`
			serve(w)
		case r := <-g.reads:
			g.wait(63) // want `<-g\.changed waits in the loop goroutine before it hands the work to a goroutine`
			go serve(r)
		}
	}
}

func startGated(ctx context.Context, g *gated) { go g.loop(ctx) }

// A pipeline stage: sending its result on is its job, not a stall.
func stage(in chan int, out chan int) {
	go func() {
		for v := range in {
			out <- v * 2
		}
		close(out)
	}()
}

// A broadcast outside any serving loop is not this rule's business.
func (h *hub) notifyAll(e event) {
	for _, s := range h.subs {
		s.ch <- e
	}
}

// A single-input loop behind a select is a consumer: waiting for its old
// shards to drain before it starts new ones is its work.
type resharder struct {
	reshard chan int
	quit    chan struct{}
	done    chan struct{}
}

func (r *resharder) reshardLoop() {
	for {
		select {
		case n := <-r.reshard:
			<-r.done
			_ = n
		case <-r.quit:
			return
		}
	}
}

func startResharder(r *resharder) { go r.reshardLoop() }

// A buffered struct{} channel used as a wake-up, sent to from the loop:
// not a semaphore, and not a wait for capacity.
type cache struct {
	events chan string
	resync chan int
	nodes  map[string]*node
}

type node struct{ done chan struct{} }

func (c *cache) deleteNode(k string) {
	if n, ok := c.nodes[k]; ok {
		n.done <- struct{}{}
		delete(c.nodes, k)
	}
}

func (c *cache) loop() {
	for {
		select {
		case k := <-c.events:
			c.deleteNode(k)
		case <-c.resync:
		}
	}
}

func newCache() *cache {
	c := &cache{events: make(chan string), resync: make(chan int), nodes: map[string]*node{}}
	c.nodes["x"] = &node{done: make(chan struct{}, 1)}
	go c.loop()
	return c
}
