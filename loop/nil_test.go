package loop

import (
	"context"
	"testing"
	"testing/synctest"
)

// Every exported function and method, called with each of its
// nil-able arguments nil, panics with a message that starts with "loop: "
// and names the call and the mistake.
func TestNilArguments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{})
		defer closeAndWait(t, l)
		fn := func(*counter) {}
		work := func(context.Context) (int, error) { return 1, nil }
		then := func(*counter, int, error) {}
		fetch := func(context.Context, int) (int, error) { return 1, nil }
		valid := func(int) bool { return true }
		c := NewCache(fetch, valid)
		var nilLoop *Loop[counter]
		tests := []struct {
			want string
			call func()
		}{
			{"New: nil Option", func() { New(counter{}, nil) }},
			{"New: nil Option", func() { New(counter{}, WithQueueSize(1), nil) }},
			{"WithSlowHook(nil): hook must not be nil", func() { WithSlowHook(nil) }},
			{"Do with nil Context", func() { l.Do(nil, fn) }}, //nolint:staticcheck
			{"Do with nil function", func() { l.Do(ctx, nil) }},
			{"DoNamed with nil Context", func() { l.DoNamed(nil, "x", fn) }}, //nolint:staticcheck
			{"DoNamed with nil function", func() { l.DoNamed(ctx, "x", nil) }},
			{"Post with nil Context", func() { l.Post(nil, fn) }}, //nolint:staticcheck
			{"Post with nil function", func() { l.Post(ctx, nil) }},
			{"PostNamed with nil Context", func() { l.PostNamed(nil, "x", fn) }}, //nolint:staticcheck
			{"PostNamed with nil function", func() { l.PostNamed(ctx, "x", nil) }},
			{"TryPost with nil function", func() { l.TryPost(nil) }},
			{"Wait with nil Context", func() { l.Wait(nil) }}, //nolint:staticcheck
			{"Offload with nil Loop", func() { Offload(nilLoop, ctx, work, then) }},
			{"Offload with nil Context", func() { Offload(l, nil, work, then) }}, //nolint:staticcheck
			{"Offload with nil work function", func() { Offload[counter, int](l, ctx, nil, then) }},
			{"Offload with nil then function", func() { Offload(l, ctx, work, nil) }},
			{"NewCache with nil fetch function", func() { NewCache[int, int](nil, valid) }},
			{"NewCache with nil valid function", func() { NewCache(fetch, nil) }},
			{"Cache.Get with nil Context", func() { c.Get(nil, 1) }}, //nolint:staticcheck
		}
		for _, tt := range tests {
			mustPanic(t, tt.want, tt.call)
		}
		// Nothing was queued or started by the calls that panicked.
		if st := l.Stats(); st.Queued != 0 || st.Reserved != 0 || st.Handled != 0 {
			t.Fatalf("Stats after the bad calls = %+v", st)
		}
	})
}
