package recovery

import (
	"context"
	"net/http"
	"strings"
	"sync"
)

// naiveValidator is the seed's validator before the fix: one goroutine per
// missed inference, no guard against the three trigger paths running
// recovery at once, and an HTTP client with no timeout (the seed's
// http.Post on http.DefaultClient), so a hung ML node pins a goroutine,
// and the connection and the model lock it holds, for good.
type naiveValidator struct {
	client   *http.Client
	node     *mlNode
	payloads *payloadStore
	runs     gauge // recovery runs in progress
	own      gauge // goroutines this code started, alive (see gauge.spawn)

	// live owns the fire-and-forget goroutines of the sampled-validation
	// path, so the demo can clean them up; the seed's code kept none.
	live sync.WaitGroup
}

// ExecuteRecoveryValidations replays every missed inference, each on its
// own goroutine, and waits for all of them.
func (v *naiveValidator) ExecuteRecoveryValidations(missed []int) {
	defer v.runs.enter()()
	var wg sync.WaitGroup
	for _, item := range missed {
		wg.Add(1)
		v.own.spawn(func() {
			defer wg.Done()
			v.validateWithPayloads(item)
		})
	}
	wg.Wait()
}

// SampleInferenceToValidate is the live path: one goroutine per sampled
// inference, fire and forget.
func (v *naiveValidator) SampleInferenceToValidate(ids []int) {
	for _, id := range ids {
		v.live.Add(1)
		v.own.spawn(func() {
			defer v.live.Done()
			v.validateWithPayloads(id)
		})
	}
}

// validateWithPayloads retrieves the payloads, waiting as long as it
// takes, and posts the replay to the ML node: no context, no deadline.
func (v *naiveValidator) validateWithPayloads(item int) {
	_ = v.payloads.fetch(context.Background()) // never fails: no deadline
	resp, err := v.client.Post(v.node.url(item), "application/json", strings.NewReader(payload))
	if err != nil {
		return
	}
	drain(resp)
}
