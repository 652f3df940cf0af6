package sharedconn

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// These runs use real loopback HTTP, so they run outside synctest
// bubbles, with generous liveness bounds.

func TestNaiveCollides(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := RunNaive(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Collisions == 0 || r.FailedOps == 0 || r.PeakInRecv < 2 {
		t.Fatalf("naive: %d collisions, %d failed ops, peak %d in recv; want the failure shown",
			r.Collisions, r.FailedOps, r.PeakInRecv)
	}
	if ok, verdict := r.Check(); !ok {
		t.Fatal(verdict)
	}
}

func TestSluiceNoCollisions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := RunSluice(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Collisions != 0 || r.FailedOps != 0 || r.PeakInRecv != 1 {
		t.Fatalf("sluice: %d collisions, %d failed ops, peak %d in recv; want none, none, 1",
			r.Collisions, r.FailedOps, r.PeakInRecv)
	}
	if r.WSCalls < 10_000 || r.Ops != 10_000 {
		t.Fatalf("sluice: %d ops, %d websocket calls; want 10,000 ops", r.Ops, r.WSCalls)
	}
	if !r.HTTPWhileWSHeld {
		t.Fatal("sluice: a BTC check waited for the websocket (or failed)")
	}
	if r.HTTPWall >= r.HTTPSerial()/2 {
		t.Fatalf("sluice: %d BTC checks took %v, one after another takes %v: they did not overlap",
			r.HTTPCalls, r.HTTPWall, r.HTTPSerial())
	}
	if ok, verdict := r.Check(); !ok {
		t.Fatal(verdict)
	}
}

func TestScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs both variants")
	}
	s := Scenario()
	if s.Name != "sharedconn" || s.Seed != "000" || s.Summary == "" {
		t.Fatalf("scenario %+v", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	results, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Variant != demo.Naive || results[1].Variant != demo.Sluice {
		t.Fatalf("results %+v", results)
	}
	for _, r := range results {
		t.Logf("%s: ok=%v %s | %s", r.Variant, r.OK, r.Measured(), r.Verdict)
		if !r.OK {
			t.Errorf("%s: %s", r.Variant, r.Verdict)
		}
	}
	t.Logf("both variants in %v", time.Since(start).Round(time.Millisecond))
}

func TestCheckRejects(t *testing.T) {
	// The checks can fail: a naive run without collisions, a sluice run
	// with one, or with checks that did not overlap.
	if ok, _ := (Report{Variant: demo.Naive}).Check(); ok {
		t.Error("naive report without collisions passed")
	}
	good := Report{Variant: demo.Sluice, HTTPCalls: 8, HTTPDelay: 300 * time.Millisecond,
		HTTPWall: 310 * time.Millisecond, HTTPWhileWSHeld: true, PeakInRecv: 1}
	if ok, v := good.Check(); !ok {
		t.Fatalf("good sluice report failed: %s", v)
	}
	for name, bad := range map[string]Report{
		"collision":   func() Report { r := good; r.Collisions = 1; return r }(),
		"serial http": func() Report { r := good; r.HTTPWall = 2400 * time.Millisecond; return r }(),
		"waited":      func() Report { r := good; r.HTTPWhileWSHeld = false; return r }(),
	} {
		if ok, _ := bad.Check(); ok {
			t.Errorf("%s: sluice report passed", name)
		}
	}
}
