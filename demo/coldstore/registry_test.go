package coldstore_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/demo/coldstore"
)

// A registry changes nothing: in a bubble, where the figures are exact,
// the sluice store reports the same with and without one, and the
// registry holds the gate of each phase, the stuck readers' with the
// gate's events.
func TestRegistryChangesNoFigure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plain, err := coldstore.RunSluice(context.Background(), coldstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		reg := debug.NewRegistry()
		got, err := coldstore.RunSluice(context.Background(), coldstore.Config{Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		// WriteTime is measured from a moment found by polling (the
		// read above the cap has queued), within a poll of the deadline.
		if plain.WriteTime > 100*time.Millisecond || got.WriteTime > 100*time.Millisecond {
			t.Errorf("write times %v, %v; want within the 100 ms read deadline", plain.WriteTime, got.WriteTime)
		}
		plain.WriteTime, got.WriteTime = 0, 0
		if plain != got {
			t.Errorf("with a registry:\n%+v\nwithout:\n%+v", got, plain)
		}
		entries := reg.Snapshot()
		want := []string{"coldstore/gate (capacity)", "coldstore/gate (close)", "coldstore/gate (stuck readers)"}
		if len(entries) != len(want) {
			t.Fatalf("registry: %+v; want %v", entries, want)
		}
		for i, e := range entries {
			if e.Name != want[i] || e.Kind != "gate" || !e.Closed {
				t.Errorf("entry %d: %s %q closed %v; want the closed gate %q", i, e.Kind, e.Name, e.Closed, want[i])
			}
		}
		if len(entries[2].Events) == 0 {
			t.Error("the stuck readers' gate has no events; want its late reads")
		}
	})
}
