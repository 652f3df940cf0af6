package peerstreams

import (
	"testing"
	"time"

	"github.com/sluice-go/sluice/debug"
)

// A registry changes nothing: the sluice node's figures (all of them set
// by construction, not by the scheduler) are the same with one, and it
// holds the node's keyed.Once.
func TestRegistryChangesNoFigure(t *testing.T) {
	cfg := Config{Peers: 500}
	plain, err := RunSluice(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := debug.NewRegistry()
	cfg.Registry = reg
	got, err := RunSluice(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain.Elapsed, got.Elapsed = 0, time.Duration(0)
	if plain != got {
		t.Errorf("with a registry:\n%+v\nwithout:\n%+v", got, plain)
	}
	entries := reg.Snapshot()
	if len(entries) != 1 || entries[0].Name != "peerstreams/stream setup" || entries[0].Kind != "keyed.Once" {
		t.Fatalf("registry: %+v; want the node's keyed.Once", entries)
	}
	// A second run on the same registry: the name is taken.
	if _, err := RunSluice(testCtx(t), cfg); err == nil {
		t.Error("a second run on the same registry registered its Once under a taken name")
	}
}
