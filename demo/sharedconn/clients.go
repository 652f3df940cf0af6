package sharedconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRecvCollision is what the fake websocket returns when a second
// goroutine enters Recv while another is inside, as the real client does.
var ErrRecvCollision = errors.New("sharedconn: cannot call recv while another goroutine is already running recv")

// WSConn is a fake substrate websocket (the seed's axon_subtensor): a
// request is a send followed by a Recv of the reply, and the connection
// allows one Recv at a time. It detects an overlap with an atomic counter
// of goroutines inside Recv and fails the one that came second, the way
// the real client does.
type WSConn struct {
	inRecv     atomic.Int32
	peak       atomic.Int32
	calls      atomic.Int64
	collisions atomic.Int64
}

// Query sends a request and receives its reply: here, the balance of an
// address, or the swap bounds the forward loop reads. It returns
// ErrRecvCollision if another goroutine is inside Recv meanwhile.
func (c *WSConn) Query(ctx context.Context, method, arg string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.calls.Add(1)
	return c.recv(method, arg)
}

// enterRecv counts the caller into Recv, and fails it if another
// goroutine is already inside. Call leave when done, either way.
func (c *WSConn) enterRecv() (leave func(), err error) {
	n := c.inRecv.Add(1)
	leave = func() { c.inRecv.Add(-1) }
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	if n > 1 {
		c.collisions.Add(1)
		return leave, ErrRecvCollision
	}
	return leave, nil
}

func (c *WSConn) recv(method, arg string) (int, error) {
	leave, err := c.enterRecv()
	defer leave()
	if err != nil {
		return 0, err
	}
	// The reply arrives in frames: a real recv blocks on the socket between
	// them, which is when another goroutine gets to run. Yield the same way,
	// so an overlap, when the code allows one, really happens.
	v := len(method)
	for i := range 3 {
		runtime.Gosched()
		v += i
	}
	return v + len(arg), nil
}

// hold is a query whose reply is slow: it stays inside Recv, as a long
// forward step does, from when it closes held until release is closed or
// ctx ends. A Recv that arrives meanwhile collides with it, every time.
func (c *WSConn) hold(ctx context.Context, held, release chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.calls.Add(1)
	leave, err := c.enterRecv()
	defer leave()
	if err != nil {
		return err
	}
	close(held)
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Collisions is how many Recv calls failed because another was inside.
func (c *WSConn) Collisions() int64 { return c.collisions.Load() }

// Calls is how many queries were made.
func (c *WSConn) Calls() int64 { return c.calls.Load() }

// PeakInRecv is the most goroutines that were inside Recv at once.
func (c *WSConn) PeakInRecv() int32 { return c.peak.Load() }

// esplora is the BTC source: an HTTP balance API (the seed's Esplora or
// Maestro), here an httptest server on 127.0.0.1. An http.Client is safe
// for concurrent use, so the BTC provider's calls may overlap, and must
// not wait behind the websocket.
//
// The server answers no request until together requests are in flight at
// once, then answers each after delay. So the checks finish only if they
// really overlap, and whether they did is a count (peak), not a timing.
type esplora struct {
	srv    *httptest.Server
	client *http.Client

	mu       sync.Mutex
	inFlight int
	peak     int
	all      chan struct{} // closed once together requests are in flight
}

func newEsplora(together int, delay time.Duration) *esplora {
	// The client keeps a timeout, as every HTTP client should (sluice vet's
	// notimeout); a minute is far beyond what a loopback call needs, so it
	// never decides a run.
	e := &esplora{client: &http.Client{Timeout: time.Minute}, all: make(chan struct{})}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.inFlight++
		e.peak = max(e.peak, e.inFlight)
		if e.inFlight == together {
			close(e.all)
		}
		e.mu.Unlock()
		defer func() {
			e.mu.Lock()
			e.inFlight--
			e.mu.Unlock()
		}()
		select {
		case <-e.all:
		case <-r.Context().Done():
			return
		}
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]int{"balance": len(r.URL.Path)})
	}))
	return e
}

// peakInFlight is the most requests the server has had in flight at once.
func (e *esplora) peakInFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peak
}

func (e *esplora) close() { e.srv.Close() }

// balance asks the HTTP API for an address's balance.
func (e *esplora) balance(ctx context.Context, c *http.Client, addr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/address/"+addr, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("sharedconn: esplora: %s", resp.Status)
	}
	var body struct{ Balance int }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	return body.Balance, nil
}

func addr(i int) string { return "5addr" + strconv.Itoa(i) }
