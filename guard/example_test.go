package guard_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sluice-go/sluice/guard"
)

// The balance lives inside the guard: there is no way to reach it without
// the lock. A helper called from inside the callback gets the callback's
// ctx, so its own Do runs inline instead of deadlocking.
func ExampleValue() {
	type wallet struct{ balance int }
	w := guard.New(wallet{balance: 100})

	withdraw := func(ctx context.Context, amount int) error {
		return w.Do(ctx, func(ctx context.Context, w *wallet) error {
			if w.balance < amount {
				return errors.New("insufficient funds")
			}
			w.balance -= amount
			return nil
		})
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = withdraw(ctx, 15) // six succeed, four find too little left
		}()
	}
	wg.Wait()

	// Check and withdraw in one hold; withdraw's nested Do runs inline.
	err := w.Do(ctx, func(ctx context.Context, v *wallet) error {
		if v.balance >= 10 {
			return withdraw(ctx, 10)
		}
		return nil
	})
	_ = w.Do(ctx, func(_ context.Context, v *wallet) error {
		fmt.Println("balance:", v.balance, "err:", err)
		return nil
	})
	// Output: balance: 0 err: <nil>
}

// Readers share the value; a writer has it alone, and a waiting writer
// goes before readers that arrive after it.
func ExampleRW() {
	prices := guard.NewRW(map[string]int{"tao": 300})
	ctx := context.Background()

	_ = prices.Write(ctx, func(_ context.Context, m *map[string]int) error {
		(*m)["btc"] = 60000
		return nil
	})
	_ = prices.Read(ctx, func(ctx context.Context, m *map[string]int) error {
		fmt.Println("tao:", (*m)["tao"], "btc:", (*m)["btc"])
		// A read lock cannot be upgraded: Write with the Read's ctx fails
		// at once instead of deadlocking.
		err := prices.Write(ctx, func(context.Context, *map[string]int) error { return nil })
		fmt.Println(errors.Is(err, guard.ErrUpgrade))
		return nil
	})
	// Output:
	// tao: 300 btc: 60000
	// true
}

// The provider decides once whether its client may be used concurrently;
// callers use every provider the same way. (Seed 000: the websocket-backed
// provider needs Serial, the HTTP-backed one must not wait behind it.)
func ExampleAccess() {
	type wsConn struct{ calls int }       // one reader at a time
	type httpClient struct{ name string } // safe for concurrent use

	type provider struct {
		name   string
		access guard.Access[any]
	}
	ws := &wsConn{}
	providers := []provider{
		{"tao", guard.Serial[any](ws)},
		{"btc", guard.Concurrent[any](&httpClient{name: "esplora"})},
	}

	ctx := context.Background()
	for _, p := range providers {
		// The balance check cannot skip the provider's rule: it has no
		// other way to reach the client.
		_ = p.access.Do(ctx, func(ctx context.Context, c any) error {
			switch c := c.(type) {
			case *wsConn:
				c.calls++
			case *httpClient:
				_ = c.name
			}
			return nil
		})
		fmt.Printf("%s serial=%v\n", p.name, p.access.Stats().Serial)
	}
	fmt.Println("websocket calls:", ws.calls)
	// Output:
	// tao serial=true
	// btc serial=false
	// websocket calls: 1
}

// A goroutine started inside a callback must not get the callback's ctx:
// its calls would be taken for nested ones and run without the lock.
// Detach keeps the deadline and values and drops the hold.
func ExampleDetach() {
	g := guard.New([]string{})
	ctx := context.Background()
	var wg sync.WaitGroup
	_ = g.Do(ctx, func(ctx context.Context, log *[]string) error {
		*log = append(*log, "first")
		wg.Add(1)
		go func(ctx context.Context) {
			defer wg.Done()
			_ = g.Do(ctx, func(_ context.Context, log *[]string) error {
				*log = append(*log, "second") // waits for the first hold to end
				return nil
			})
		}(guard.Detach(ctx))
		return nil
	})
	wg.Wait()
	_ = g.Do(ctx, func(_ context.Context, log *[]string) error {
		fmt.Println(*log)
		return nil
	})
	// Output: [first second]
}
