package sharedconn

import (
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// These runs use real loopback HTTP, so they run outside synctest
// bubbles. What they check does not depend on the scheduler: how many
// phase-1 operations collide in the naive run does, so it is logged, not
// checked. They have no wall-clock bound (t.Context ends only with the
// test): a hang is left to go test's -timeout.

func TestNaiveCollides(t *testing.T) {
	r, err := RunNaive(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if !r.HeldCheckCollided || r.Collisions == 0 || r.FailedOps == 0 || r.PeakInRecv < 2 {
		t.Fatalf("naive: held check collided %v, %d collisions, %d failed ops, peak %d in recv; want the failure shown",
			r.HeldCheckCollided, r.Collisions, r.FailedOps, r.PeakInRecv)
	}
	if ok, verdict := r.Check(); !ok {
		t.Fatal(verdict)
	}
}

func TestSluiceNoCollisions(t *testing.T) {
	r, err := RunSluice(t.Context(), Config{})
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
	if !r.HeldCheckWaited || r.HeldCheckCollided {
		t.Fatal("sluice: the TAO balance check did not wait for the websocket")
	}
	if !r.HTTPWhileWSHeld {
		t.Fatal("sluice: a BTC check waited for the websocket (or failed)")
	}
	if r.HTTPPeak != r.HTTPCalls {
		t.Fatalf("sluice: at most %d of %d BTC checks in flight at once: they did not overlap", r.HTTPPeak, r.HTTPCalls)
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
	start := time.Now()
	results, err := s.Run(t.Context(), demo.Options{})
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
		HTTPWall: 310 * time.Millisecond, HTTPPeak: 8, HTTPWhileWSHeld: true, HeldCheckWaited: true, PeakInRecv: 1}
	if ok, v := good.Check(); !ok {
		t.Fatalf("good sluice report failed: %s", v)
	}
	for name, bad := range map[string]Report{
		"collision":   func() Report { r := good; r.Collisions = 1; return r }(),
		"serial http": func() Report { r := good; r.HTTPPeak = 1; return r }(),
		"waited":      func() Report { r := good; r.HTTPWhileWSHeld = false; return r }(),
		"no queue":    func() Report { r := good; r.HeldCheckWaited = false; return r }(),
	} {
		if ok, _ := bad.Check(); ok {
			t.Errorf("%s: sluice report passed", name)
		}
	}
}
