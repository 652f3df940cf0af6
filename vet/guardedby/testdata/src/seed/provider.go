package seed

import "context"

// The seed as it was written: the TAO provider holds the validator's
// websocket, and the handler calls it before taking the lock.

type provider interface {
	GetBalance(ctx context.Context, addr string) (int, error)
}

type taoProvider struct{ ws *WSConn }

func (p taoProvider) GetBalance(ctx context.Context, addr string) (int, error) {
	return p.ws.GetBalance(ctx, addr)
}

// otherProvider has the same method set but is never used as a provider
// here: calls on twin must not match it.
type twin interface {
	GetBalance(ctx context.Context, addr string) (int, error)
}

type axon struct {
	lock      chanLock
	ws        *WSConn
	providers map[string]provider
	other     twin
}

func newAxon(ws *WSConn) *axon {
	return &axon{ws: ws, providers: map[string]provider{"tao": taoProvider{ws}}}
}

func (a *axon) reserve(ctx context.Context, from, addr string) error {
	if _, err := a.providers[from].GetBalance(ctx, addr); err != nil { // want `this call reaches the client in axon.ws without holding a.lock.mu: taoProvider.GetBalance calls p.ws.GetBalance`
		return err
	}
	a.lock.mu.Lock()
	defer a.lock.mu.Unlock()
	_, err := a.ws.Query(ctx, "reserve")
	return err
}

// reserveLocked is the fix: the balance check under the lock.
func (a *axon) reserveFixed(ctx context.Context, from, addr string) error {
	a.lock.mu.Lock()
	defer a.lock.mu.Unlock()
	if _, err := a.providers[from].GetBalance(ctx, addr); err != nil {
		return err
	}
	_, err := a.ws.Query(ctx, "reserve")
	return err
}

func (a *axon) activate(ctx context.Context) error {
	a.lock.mu.Lock()
	defer a.lock.mu.Unlock()
	_, err := a.ws.Query(ctx, "activate")
	return err
}

func (a *axon) forward(ctx context.Context) error {
	a.lock.mu.Lock()
	defer a.lock.mu.Unlock()
	_, err := a.ws.Query(ctx, "bounds")
	return err
}

func (a *axon) twinCall(ctx context.Context) {
	_, _ = a.other.GetBalance(ctx, "x")
}
