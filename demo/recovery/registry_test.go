package recovery

import (
	"context"
	"testing"

	"github.com/sluice-go/sluice/debug"
)

// With a registry the sluice validator still passes every check, and the
// registry holds its semaphore and run.Guard; each path's pool was there
// only while it ran.
func TestRegistry(t *testing.T) {
	cfg := testConfig(t)
	cfg.Backlog = 500
	reg := debug.NewRegistry()
	cfg.Registry = reg
	r, err := RunSluice(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res := SluiceResult(r, cfg); !res.OK {
		t.Fatal(res.Verdict)
	}
	entries := reg.Snapshot()
	if len(entries) != 2 || entries[0].Name != "recovery/slots" || entries[0].Kind != "sem" ||
		entries[1].Name != "recovery/validations" || entries[1].Kind != "run.Guard" {
		t.Fatalf("registry: %+v; want the sem and the run.Guard", entries)
	}
}
