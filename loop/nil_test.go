package loop

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// Every exported function and method, called with each of its nil-able
// arguments nil or with a size or duration that can never be right,
// panics with a message that starts with "loop: " and names the call and
// the mistake.
func TestBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		defer closeAndWait(t, l)
		fn := func(*counter) {}
		work := func(context.Context) (int, error) { return 1, nil }
		then := func(*counter, int, error) {}
		var nilLoop *Loop[counter]
		tests := []struct {
			want string
			call func()
		}{
			{"WithWorkers(0): worker count must be positive", func() { WithWorkers(0) }},
			{"WithWorkers(-2)", func() { WithWorkers(-2) }},
			{"WithQueueSize(0): size must be positive", func() { WithQueueSize(0) }},
			{"WithQueueSize(-1): size must be positive", func() { WithQueueSize(-1) }},
			{"WithSlowThreshold(0s): threshold must be positive", func() { WithSlowThreshold(0) }},
			{"WithSlowThreshold(-1s)", func() { WithSlowThreshold(-time.Second) }},
			{"WithSlowHook(nil): hook must not be nil", func() { WithSlowHook(nil) }},
			{"WithLogger with nil logger", func() { WithLogger(nil) }},
			{"New: nil Option", func() { New(counter{}, nil) }},
			{"New: nil Option", func() { New(counter{}, WithQueueSize(1), nil) }},
			{"New: nil Option", func() { newLoop(0, nil) }},
			{"Do with nil Context", func() { l.Do(nil, fn) }}, //nolint:staticcheck
			{"Do with nil function", func() { l.Do(ctx, nil) }},
			{"DoNamed with nil Context", func() { l.DoNamed(nil, "x", fn) }}, //nolint:staticcheck
			{"DoNamed with nil function", func() { l.DoNamed(ctx, "x", nil) }},
			{"Post with nil Context", func() { l.Post(nil, fn) }}, //nolint:staticcheck
			{"Post with nil function", func() { l.Post(ctx, nil) }},
			{"PostNamed with nil Context", func() { l.PostNamed(nil, "x", fn) }}, //nolint:staticcheck
			{"PostNamed with nil function", func() { l.PostNamed(ctx, "x", nil) }},
			{"TryPost with nil function", func() { l.TryPost(nil) }},
			{"Wait with nil Context", func() { l.Wait(nil) }},                    //nolint:staticcheck
			{"Offload with nil Context", func() { Offload(nil, l, work, then) }}, //nolint:staticcheck
			{"Offload with nil Loop", func() { Offload(ctx, nilLoop, work, then) }},
			{"Offload with nil work function", func() { Offload[counter, int](ctx, l, nil, then) }},
			{"Offload with nil then function", func() { Offload(ctx, l, work, nil) }},
		}
		for _, tt := range tests {
			conctest.MustPanic(t, tt.call, "loop: "+tt.want)
		}
		// Nothing was queued or started by the calls that panicked.
		if st := l.Stats(); st.Queued != 0 || st.Reserved != 0 || st.Handled != 0 || st.OffloadQueued != 0 {
			t.Fatalf("Stats after the bad calls = %+v", st)
		}
	})
}
