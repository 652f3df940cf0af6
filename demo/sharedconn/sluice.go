package sharedconn

import (
	"context"
	"net/http"

	"github.com/sluice-go/sluice/guard"
)

// The sluice validator: the websocket is reachable only through one
// guard.Access, made Serial once, by the code that opens the connection.
// Each provider holds the Access for its own client, so a balance check
// cannot skip the rule; whether it serialises is the provider's business,
// decided when it is built (the seed's uses_substrate flag, as a type).

type provider interface {
	GetBalance(ctx context.Context, addr string) (int, error)
}

// subtensorProvider is the TAO provider: it shares the validator's
// websocket Access.
type subtensorProvider struct{ ws guard.Access[*WSConn] }

func (p subtensorProvider) GetBalance(ctx context.Context, addr string) (int, error) {
	var b int
	err := p.ws.Do(ctx, func(ctx context.Context, c *WSConn) error {
		var err error
		b, err = c.Query(ctx, "get_balance", addr)
		return err
	})
	return b, err
}

// bitcoinProvider is the BTC provider: its HTTP client is safe for
// concurrent use, so its Access is Concurrent and a slow call never waits
// behind anything.
type bitcoinProvider struct {
	api  *esplora
	http guard.Access[*http.Client]
}

func (p bitcoinProvider) GetBalance(ctx context.Context, addr string) (int, error) {
	var b int
	err := p.http.Do(ctx, func(ctx context.Context, c *http.Client) error {
		var err error
		b, err = p.api.balance(ctx, c, addr)
		return err
	})
	return b, err
}

type sluiceValidator struct {
	ws        guard.Access[*WSConn] // the only way to reach the websocket
	providers map[string]provider
}

func newSluice(ws *WSConn, api *esplora) *sluiceValidator {
	shared := guard.Serial(ws) // decided once, where the connection is made
	return &sluiceValidator{
		ws: shared,
		providers: map[string]provider{
			"tao": subtensorProvider{shared},
			"btc": bitcoinProvider{api: api, http: guard.Concurrent(api.client)},
		},
	}
}

// handleSwapReserve is the same handler, written without thinking about
// connections: the provider's Access applies its own rule.
func (v *sluiceValidator) handleSwapReserve(ctx context.Context, from, addr string) error {
	if _, err := v.providers[from].GetBalance(ctx, addr); err != nil {
		return err
	}
	return v.ws.Do(ctx, func(ctx context.Context, c *WSConn) error {
		_, err := c.Query(ctx, "reserve", addr)
		return err
	})
}

func (v *sluiceValidator) handleMinerActivate(ctx context.Context, hotkey string) error {
	return v.ws.Do(ctx, func(ctx context.Context, c *WSConn) error {
		_, err := c.Query(ctx, "is_hotkey_registered", hotkey)
		return err
	})
}

func (v *sluiceValidator) forwardStep(ctx context.Context) error {
	return v.ws.Do(ctx, func(ctx context.Context, c *WSConn) error {
		_, err := c.Query(ctx, "bounds", "")
		return err
	})
}

func (v *sluiceValidator) holdWS(ctx context.Context, held, release chan struct{}) error {
	return v.ws.Do(ctx, func(ctx context.Context, c *WSConn) error {
		return c.hold(ctx, held, release)
	})
}

func (v *sluiceValidator) wsWaiting() int { return int(v.ws.Stats().Waiting) }
