package sharedconn

import (
	"testing"

	"github.com/sluice-go/sluice/debug"
)

// With a registry the sluice validator still passes its checks, and the
// registry holds its two guards.
func TestRegistry(t *testing.T) {
	reg := debug.NewRegistry()
	r, err := RunSluice(t.Context(), Config{Ops: 1000, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if ok, verdict := r.Check(); !ok {
		t.Fatal(verdict)
	}
	entries := reg.Snapshot()
	if len(entries) != 2 || entries[0].Name != "sharedconn/btc client" || entries[1].Name != "sharedconn/websocket" ||
		entries[0].Kind != "guard.Access" || entries[1].Kind != "guard.Access" {
		t.Fatalf("registry: %+v; want the two guard.Access", entries)
	}
}
