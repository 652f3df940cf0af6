package conctest

import (
	"context"
	"sync"
)

// Turnstile is a call turnstile: each call to [Turnstile.Pass] blocks inside the turnstile until
// the test lets it through with [Turnstile.Release] or [Turnstile.Open], or until the
// call's context ends. The test can wait until a number of calls are inside
// with [Turnstile.WaitEntered], which blocks on a channel rather than polling.
//
// Calls pass in the order they entered (FIFO) when released one at a time.
// A Turnstile must be created with [NewTurnstile]. Create it inside the synctest
// bubble that uses it.
type Turnstile struct {
	mu      sync.Mutex
	open    bool
	tickets int             // releases not yet claimed by a blocked call
	queue   []chan struct{} // blocked calls, oldest first
	entered int
	passed  int
	changed chan struct{} // closed and replaced on every change
}

// NewTurnstile returns a closed turnstile: calls block until released.
func NewTurnstile() *Turnstile {
	return &Turnstile{changed: make(chan struct{})}
}

// Pass enters the turnstile and blocks until the call is released, the turnstile is
// opened, or ctx ends. It returns nil when the call passed, ctx.Err()
// otherwise. A call that gave up on its ctx counts as entered, not passed.
// It panics if ctx is nil, even when the turnstile is open.
func (g *Turnstile) Pass(ctx context.Context) error {
	if ctx == nil {
		panic("conctest: Turnstile.Pass with nil Context")
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
func (g *Turnstile) Release(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ; n > 0 && len(g.queue) > 0; n-- {
		g.passLocked()
	}
	g.tickets += n
	g.notifyLocked()
}

// Open lets every blocked call and every later call through.
func (g *Turnstile) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
	for len(g.queue) > 0 {
		g.passLocked()
	}
	g.notifyLocked()
}

func (g *Turnstile) passLocked() {
	close(g.queue[0])
	g.queue = g.queue[1:]
	g.passed++
}

func (g *Turnstile) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Entered reports how many calls have entered the turnstile so far.
func (g *Turnstile) Entered() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.entered
}

// Passed reports how many calls have been let through so far.
func (g *Turnstile) Passed() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.passed
}

// Blocked reports how many calls are inside the turnstile now.
func (g *Turnstile) Blocked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// WaitEntered blocks until at least n calls have entered the turnstile, or ctx
// ends (then it returns ctx.Err()). It panics if ctx is nil.
func (g *Turnstile) WaitEntered(ctx context.Context, n int) error {
	return g.waitUntil(ctx, "WaitEntered", func() bool { return g.entered >= n })
}

// WaitBlocked blocks until at least n calls are blocked inside the turnstile at
// once, or ctx ends. It panics if ctx is nil.
func (g *Turnstile) WaitBlocked(ctx context.Context, n int) error {
	return g.waitUntil(ctx, "WaitBlocked", func() bool { return len(g.queue) >= n })
}

func (g *Turnstile) waitUntil(ctx context.Context, method string, cond func() bool) error {
	if ctx == nil {
		panic("conctest: Turnstile." + method + " with nil Context")
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
