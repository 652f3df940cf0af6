package conctest_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluice-go/sluice/conctest"
)

// A Turnstile parks calls inside a fake backend until the test lets them go,
// so a test can hold a resource saturated and look at what happens around
// it, without sleeping.
func ExampleTurnstile() {
	ctx := context.Background()
	backend := conctest.NewTurnstile()
	var inflight conctest.Tracker

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			defer inflight.Enter()()
			_ = backend.Pass(ctx) // a read parked in the backend
		})
	}
	_ = backend.WaitBlocked(ctx, 3) // all three are inside now
	fmt.Println("parked:", backend.Blocked(), "in flight:", inflight.Current())
	backend.Open()
	wg.Wait()
	fmt.Println("passed:", backend.Passed(), "most at once:", inflight.Max())
	// Output:
	// parked: 3 in flight: 3
	// passed: 3 most at once: 3
}
