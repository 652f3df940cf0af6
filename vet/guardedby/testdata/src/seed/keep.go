package seed

import (
	"sync"
	"sync/atomic"
)

// The precision rules must not hide these.

type wsConn struct{ n int }

func (c *wsConn) Send(s string) { c.n += len(s) }

// A nil check is the fast path, but the use after it is the bug.
type hub struct {
	mu   sync.Mutex
	conn *wsConn
	subs map[string]int
}

func (h *hub) dial() {
	h.mu.Lock()
	h.conn = &wsConn{}
	h.mu.Unlock()
}

func (h *hub) close() {
	h.mu.Lock()
	h.conn = nil
	h.mu.Unlock()
}

func (h *hub) sendOne(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		h.conn.Send(s)
	}
}

func (h *hub) broadcast(s string) {
	if h.conn != nil {
		h.conn.Send(s) // want `h.conn is used \(h.conn.Send\) without holding h.mu`
	}
}

// An atomic load of an unrelated counter does not order a racy read.
type meter struct {
	mu    sync.Mutex
	hits  atomic.Int64
	total int
}

func (m *meter) add(n int) {
	m.mu.Lock()
	m.total += n
	m.mu.Unlock()
}

func (m *meter) reset() {
	m.mu.Lock()
	m.total = 0
	m.mu.Unlock()
}

func (m *meter) get() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
}

func (m *meter) Report() int {
	if m.hits.Load() > 0 {
		return m.total // want `m.total is read without holding m.mu`
	}
	return 0
}

// An exported method of an exported type called once in the package is
// judged alone: other packages may call it bare.
type Registry struct {
	mu    sync.Mutex
	items map[string]int
}

func (r *Registry) Put(k string, v int) {
	r.mu.Lock()
	r.items[k] = v
	r.mu.Unlock()
}

func (r *Registry) Del(k string) {
	r.mu.Lock()
	delete(r.items, k)
	r.mu.Unlock()
}

func (r *Registry) Has(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.items[k]
	return ok
}

func (r *Registry) Sum() int {
	n := 0
	for _, v := range r.items { // want `r.items is read without holding r.mu`
		n += v
	}
	return n
}

func (r *Registry) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Sum()
}

// A goroutine started by a set-up function is not set-up: it runs while
// the value is shared.
type requester struct {
	mtx    sync.Mutex
	peerID string
}

func (r *requester) OnStart() error {
	go r.requestRoutine()
	return nil
}

func (r *requester) assignPeer(p string) {
	r.mtx.Lock()
	r.peerID = p
	r.mtx.Unlock()
}

func (r *requester) reset() {
	r.mtx.Lock()
	r.peerID = ""
	r.mtx.Unlock()
}

func (r *requester) peer() string {
	r.mtx.Lock()
	defer r.mtx.Unlock()
	return r.peerID
}

func (r *requester) requestRoutine() {
	println(r.peerID) // want `r.peerID is read without holding r.mtx`
}
