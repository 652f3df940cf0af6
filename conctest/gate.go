package conctest

import (
	"context"
	"sync"
)

// Gate is a call gate: each call to [Gate.Pass] blocks inside the gate until
// the test lets it through with [Gate.Release] or [Gate.Open], or until the
// call's context ends. The test can wait until a number of calls are inside
// with [Gate.WaitEntered], which blocks on a channel rather than polling.
//
// Calls pass in the order they entered (FIFO) when released one at a time.
// A Gate must be created with [NewGate]. Create it inside the synctest
// bubble that uses it.
type Gate struct {
	mu      sync.Mutex
	open    bool
	tickets int             // releases not yet claimed by a blocked call
	queue   []chan struct{} // blocked calls, oldest first
	entered int
	passed  int
	changed chan struct{} // closed and replaced on every change
}

// NewGate returns a closed gate: calls block until released.
func NewGate() *Gate {
	return &Gate{changed: make(chan struct{})}
}

// Pass enters the gate and blocks until the call is released, the gate is
// opened, or ctx ends. It returns nil when the call passed, ctx.Err()
// otherwise. A call that gave up on its ctx counts as entered, not passed.
// It panics if ctx is nil, even when the gate is open.
func (g *Gate) Pass(ctx context.Context) error {
	if ctx == nil {
		panic("conctest: Gate.Pass with nil Context")
	}
	g.mu.Lock()
	g.entered++
	if g.open || g.tickets > 0 {
		if !g.open {
			g.tickets--
		}
		g.passed++
		g.notifyLocked()
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	g.queue = append(g.queue, ch)
	g.notifyLocked()
	g.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-ch:
			// Released while we were giving up: the release counts.
			return nil
		default:
		}
		for i, c := range g.queue {
			if c == ch {
				g.queue = append(g.queue[:i], g.queue[i+1:]...)
				break
			}
		}
		g.notifyLocked()
		return ctx.Err()
	}
}

// Release lets n calls through: the n oldest blocked calls, and if fewer
// are blocked, the next calls to arrive.
func (g *Gate) Release(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ; n > 0 && len(g.queue) > 0; n-- {
		g.passLocked()
	}
	g.tickets += n
	g.notifyLocked()
}

// Open lets every blocked call and every later call through.
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
	for len(g.queue) > 0 {
		g.passLocked()
	}
	g.notifyLocked()
}

func (g *Gate) passLocked() {
	close(g.queue[0])
	g.queue = g.queue[1:]
	g.passed++
}

func (g *Gate) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Entered reports how many calls have entered the gate so far.
func (g *Gate) Entered() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.entered
}

// Passed reports how many calls have been let through so far.
func (g *Gate) Passed() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.passed
}

// Blocked reports how many calls are inside the gate now.
func (g *Gate) Blocked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// WaitEntered blocks until at least n calls have entered the gate, or ctx
// ends (then it returns ctx.Err()). It panics if ctx is nil.
func (g *Gate) WaitEntered(ctx context.Context, n int) error {
	return g.waitUntil(ctx, "WaitEntered", func() bool { return g.entered >= n })
}

// WaitBlocked blocks until at least n calls are blocked inside the gate at
// once, or ctx ends. It panics if ctx is nil.
func (g *Gate) WaitBlocked(ctx context.Context, n int) error {
	return g.waitUntil(ctx, "WaitBlocked", func() bool { return len(g.queue) >= n })
}

func (g *Gate) waitUntil(ctx context.Context, method string, cond func() bool) error {
	if ctx == nil {
		panic("conctest: Gate." + method + " with nil Context")
	}
	for {
		g.mu.Lock()
		ok, ch := cond(), g.changed
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
