package recovery

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/run"
	"github.com/sluice-go/sluice/sem"
)

// validator is the seed's validator after the fix, on sluice:
//
//   - one process-wide semaphore (slots) that every path's pool draws
//     from, so replays in flight never exceed its size, whichever paths
//     are active;
//   - a run.Guard in Reject mode, so the three trigger paths cannot run
//     recovery at the same time (the seed's atomic flag);
//   - every replay carries a deadline (http.NewRequestWithContext with a
//     per-request timeout, under the caller's context), so a hung ML node
//     costs a slot for the timeout, not forever, and cancelling the root
//     context stops everything.
type validator struct {
	client   *http.Client
	node     *mlNode
	payloads *payloadStore
	slots    *sem.Semaphore
	recovery run.Guard
	timeout  time.Duration
	// reg, when not nil, shows each path's pool while it runs (see
	// Config.Registry).
	reg *debug.Registry

	runs gauge // recovery runs in progress
	// own counts the goroutines this code started (see gauge.spawn) and
	// the pool workers while they run one of its replays.
	own      gauge
	timeouts atomic.Int64
}

// ExecuteRecoveryValidations replays the missed inferences, at most
// slots.Size() at once across every path, unless a recovery run is in
// progress already: then it returns run.ErrRunning at once.
func (v *validator) ExecuteRecoveryValidations(ctx context.Context, missed []int) error {
	return v.recovery.Do(ctx, run.Reject, func(ctx context.Context) error {
		defer v.runs.enter()()
		return v.fanOut(ctx, "recovery/recovery pool", missed)
	})
}

// SampleInferenceToValidate is the live path: the same slots, its own
// group.
func (v *validator) SampleInferenceToValidate(ctx context.Context, ids []int) error {
	return v.fanOut(ctx, "recovery/live pool", ids)
}

func (v *validator) fanOut(ctx context.Context, name string, items []int) error {
	p := pool.Shared(ctx, v.slots)
	// On the debug page while it works; a name still taken is left off.
	if v.reg != nil && v.reg.Register(name, p) == nil {
		defer v.reg.Unregister(name)
	}
	for _, item := range items {
		err := p.Go(func(ctx context.Context) error {
			defer v.own.enter()() // the worker running this replay
			return v.validateWithPayloads(ctx, item)
		})
		if err != nil {
			break // ctx ended: the rest are left for the next recovery
		}
	}
	return p.Wait()
}

// validateWithPayloads retrieves the payloads under the caller's context
// and posts the replay with a deadline. A replay that times out is counted
// and left for a later recovery; it does not fail the run.
func (v *validator) validateWithPayloads(ctx context.Context, item int) error {
	// The per-request timeout is for the ML node; payload retrieval has
	// its own retries in the seed and ends only with the caller's context.
	if err := v.payloads.fetch(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.node.url(item), strings.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			v.timeouts.Add(1)
			return nil
		}
		return err
	}
	drain(resp)
	return nil
}
