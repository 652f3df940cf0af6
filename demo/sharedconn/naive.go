package sharedconn

import (
	"context"
	"sync"
)

// The naive validator, written the way the seed's was: a mutex beside the
// shared websocket that every path must remember to take, and chain
// providers that say nothing about which connection they use.

type naiveProvider interface {
	GetBalance(ctx context.Context, addr string) (int, error)
}

// naiveSubtensor is the TAO provider: its GetBalance runs on the shared
// websocket (the seed's self.subtensor.get_balance on axon_subtensor).
type naiveSubtensor struct{ ws *WSConn }

func (p naiveSubtensor) GetBalance(ctx context.Context, addr string) (int, error) {
	return p.ws.Query(ctx, "get_balance", addr)
}

// naiveBitcoin is the BTC provider: an HTTP API, its own connection.
type naiveBitcoin struct{ api *esplora }

func (p naiveBitcoin) GetBalance(ctx context.Context, addr string) (int, error) {
	return p.api.balance(ctx, p.api.client, addr)
}

type naiveValidator struct {
	axonLock  sync.Mutex // serialises every use of ws, on the paths that take it
	ws        *WSConn
	providers map[string]naiveProvider
}

// handleSwapReserve is the seed's bug: the source-balance check runs before
// the lock, on the belief that the source chain's RPC is a separate
// connection. True for BTC, false for TAO.
func (v *naiveValidator) handleSwapReserve(ctx context.Context, from, addr string) error {
	// The source-chain RPC is a separate connection from substrate, so it
	// doesn't need axonLock. (It is not, for a TAO source.)
	if _, err := v.providers[from].GetBalance(ctx, addr); err != nil {
		return err
	}
	v.axonLock.Lock()
	defer v.axonLock.Unlock()
	_, err := v.ws.Query(ctx, "reserve", addr)
	return err
}

// handleMinerActivate takes the lock, as every other path does.
func (v *naiveValidator) handleMinerActivate(ctx context.Context, hotkey string) error {
	v.axonLock.Lock()
	defer v.axonLock.Unlock()
	_, err := v.ws.Query(ctx, "is_hotkey_registered", hotkey)
	return err
}

// forwardStep is one step of the forward loop's bounds_cache refresh.
func (v *naiveValidator) forwardStep(ctx context.Context) error {
	v.axonLock.Lock()
	defer v.axonLock.Unlock()
	_, err := v.ws.Query(ctx, "bounds", "")
	return err
}

// holdWS keeps the websocket busy (a forward step with a slow reply,
// inside Recv) until release is closed; held is closed once it is inside.
func (v *naiveValidator) holdWS(ctx context.Context, held, release chan struct{}) error {
	v.axonLock.Lock()
	defer v.axonLock.Unlock()
	return v.ws.hold(ctx, held, release)
}

// wsWaiting: nothing queues for the websocket outside the lock, and the
// balance check does not take it.
func (v *naiveValidator) wsWaiting() int { return 0 }

func newNaive(ws *WSConn, api *esplora) *naiveValidator {
	return &naiveValidator{
		ws: ws,
		providers: map[string]naiveProvider{
			"tao": naiveSubtensor{ws},
			"btc": naiveBitcoin{api},
		},
	}
}
