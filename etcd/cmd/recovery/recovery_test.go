package main

import (
	"context"
	"testing"

	"github.com/sluice-go/sluice/etcd/internal/embedded"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBothVariants: the naive variant shows the failure (30 at the node,
// three recoveries at once), the sluice variant holds the cap cluster-wide
// with one recovery.
func TestBothVariants(t *testing.T) {
	c, err := embedded.Start(t.TempDir(), 1, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := Config{}.withDefaults()
	ctx := context.Background()
	naive, err := RunNaive(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if naive.PeakAtNode != 30 || naive.OverlappingRuns != 3 || naive.Rejected != 0 {
		t.Errorf("naive = %+v, want 30 at the node, 3 runs at once", naive)
	}
	sluice, err := RunSluice(ctx, cfg, c.Endpoints(), "/test")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := verdictSluice(sluice, cfg); !ok {
		t.Errorf("sluice = %+v: %s", sluice, v)
	}
	if sluice.PeakAtNode != 10 || sluice.OverlappingRuns != 1 || sluice.Rejected != 2 {
		t.Errorf("sluice = %+v, want 10 at the node, 1 run, 2 rejected", sluice)
	}
}
