package a

import (
	"sync"
	"time"
)

// Locks named by a path (an indexed element, a nested field, a map
// element, a local copy of a pointer) pair with the unlock of the same
// path, though every index expression or load is a new SSA value
// (nats-server's gateway test: gws[0].mu.Lock(); ...; gws[0].mu.Unlock()).

type conn struct {
	mu   sync.Mutex
	name string
}

type inner struct{ mu sync.Mutex }

type outer struct{ b inner }

type holder struct {
	a     outer
	p     *outer
	conns map[string]*conn
}

func fill(cs *[]*conn) {}

func indexed() {
	var gws []*conn
	fill(&gws)
	gws[0].mu.Lock()
	name := gws[0].name
	gws[0].mu.Unlock()
	_ = name
	time.Sleep(time.Millisecond)
}

func indexedVar(gws []*conn, i int) {
	gws[i].mu.Lock()
	gws[i].name = ""
	gws[i].mu.Unlock()
	time.Sleep(time.Millisecond)
}

func (h *holder) nested() {
	h.a.b.mu.Lock()
	h.a.b.mu.Unlock()
	h.p.b.mu.Lock()
	h.p.b.mu.Unlock()
	time.Sleep(time.Millisecond)
}

func (h *holder) mapElem() {
	h.conns["x"].mu.Lock()
	h.conns["x"].name = "y"
	h.conns["x"].mu.Unlock()
	time.Sleep(time.Millisecond)
}

func (h *holder) localCopy() {
	c := h.conns["x"]
	c.mu.Lock()
	h.conns["x"].mu.Unlock()
	p := h.p
	p.b.mu.Lock()
	h.p.b.mu.Unlock()
	time.Sleep(time.Millisecond)
}

// A different element is a different lock: xs[0] stays held.
func otherElem(xs []*conn) {
	xs[0].mu.Lock()
	xs[1].mu.Lock()
	xs[1].mu.Unlock()
	time.Sleep(time.Millisecond) // want `time.Sleep may block with no deadline while lock xs\[0\].mu is held`
	xs[0].mu.Unlock()
}

func (h *holder) otherKey() {
	h.conns["x"].mu.Lock()
	h.conns["y"].mu.Unlock()
	time.Sleep(time.Millisecond) // want `time.Sleep may block with no deadline while lock h.conns\["x"\].mu is held`
	h.conns["x"].mu.Unlock()
}
