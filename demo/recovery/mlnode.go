package recovery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// mlNode stands in for the local ML node the validator replays inferences
// against: a real HTTP server on 127.0.0.1 (net/http/httptest). Most
// requests answer after Work; every HangEvery-th item hangs until its
// request's context ends, which for a client without a deadline is when
// the connection is closed, i.e. never, unless someone cleans up.
type mlNode struct {
	srv       *httptest.Server
	work      time.Duration
	hangEvery int

	inFlight gauge // requests inside the handler, hung ones included
	hanging  gauge // requests hung now
	served   atomic.Int64
	closing  chan struct{} // closed by close: hung requests end
}

func newMLNode(work time.Duration, hangEvery int) *mlNode {
	n := &mlNode{work: work, hangEvery: hangEvery, closing: make(chan struct{})}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	return n
}

func (n *mlNode) url(item int) string {
	return n.srv.URL + "/v1/validate?item=" + strconv.Itoa(item)
}

// hangs reports whether the node hangs on item.
func (n *mlNode) hangs(item int) bool { return item%n.hangEvery == n.hangEvery-1 }

func (n *mlNode) serve(w http.ResponseWriter, r *http.Request) {
	defer n.inFlight.enter()()
	// Read the payload first, as the node would. (It also matters here:
	// net/http notices a client going away, and ends r.Context(), only once
	// the request body has been read.)
	_, _ = io.Copy(io.Discard, r.Body)
	item, err := strconv.Atoi(r.URL.Query().Get("item"))
	if err != nil {
		http.Error(w, "bad item", http.StatusBadRequest)
		return
	}
	if n.hangs(item) {
		leave := n.hanging.enter()
		select {
		case <-r.Context().Done(): // the client gave up, or its connection was closed
		case <-n.closing: // the demo is cleaning up
		}
		leave()
		return
	}
	t := time.NewTimer(n.work) // the replay itself
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	case <-n.closing:
		return
	}
	n.served.Add(1)
	fmt.Fprintf(w, `{"item":%d,"valid":true}`, item)
}

// close ends every handler still running (hung or working), drops every
// client connection and shuts the server down, waiting for its handlers.
// It may be called once.
//
// Why the handlers are ended directly rather than only by dropping the
// connections: a connection accepted after CloseClientConnections would
// otherwise carry a request that hangs for good, and Close would wait for
// its handler forever.
func (n *mlNode) close() {
	close(n.closing)
	n.srv.CloseClientConnections()
	n.srv.Close()
}

// gauge counts things in progress and remembers the most at once and how
// many ever entered; wait blocks until a condition holds, without polling.
type gauge struct {
	mu      sync.Mutex
	cur     int
	peak    int
	entered int           // sum of every positive add
	changed chan struct{} // closed and replaced on every change
}

func (g *gauge) enter() (leave func()) {
	g.add(1)
	var once sync.Once
	return func() { once.Do(func() { g.add(-1) }) }
}

func (g *gauge) add(d int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur += d
	g.peak = max(g.peak, g.cur)
	if d > 0 {
		g.entered += d
	}
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}

func (g *gauge) now() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

func (g *gauge) max() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

func (g *gauge) total() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.entered
}

// next returns a channel that is closed on g's next change.
func (g *gauge) next() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.changed
}

// spawn runs f on a new goroutine counted in g from just before its go
// statement until it returns (after f's deferred calls), so g's count and
// peak are exactly the goroutines started this way that are alive.
func (g *gauge) spawn(f func()) {
	leave := g.enter()
	go func() {
		defer leave()
		f()
	}()
}

// wait blocks until cond(count) holds or ctx ends.
func (g *gauge) wait(ctx context.Context, cond func(int) bool) error {
	return waitFor(ctx, func() bool { return cond(g.now()) }, g, nil)
}

// waitFor blocks until cond holds or ctx ends, re-checking cond on every
// change of a or b (b may be nil), which must be all that cond reads.
// cond is checked first, so it wins over an ended ctx.
func waitFor(ctx context.Context, cond func() bool, a, b *gauge) error {
	for {
		// Take the channels before checking cond, so that a change between
		// the check and the select still wakes us.
		ca := a.next()
		var cb <-chan struct{} // nil: never ready
		if b != nil {
			cb = b.next()
		}
		if cond() {
			return nil
		}
		select {
		case <-ca:
		case <-cb:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
