package recovery

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// testConfig is the default configuration with a generous bound on the
// demo's own waits (they wait for events, so the bound costs nothing when
// all goes well, and a loaded machine gets time), and a smaller backlog
// under the race detector (see race_on_test.go) or -short: still over
// three thousand goroutines for the naive variant.
func testConfig() Config {
	cfg := Config{Guard: 2 * time.Minute}
	if raceEnabled || testing.Short() {
		cfg.Backlog = 1000
	}
	return cfg
}

// spawned is how many goroutines the naive variant starts in all: one per
// trigger path, one per missed item per path, one per live item.
func spawned(cfg Config) int {
	cfg = cfg.withDefaults()
	return len(triggers)*(1+cfg.Backlog) + cfg.Live
}

// The demo runs real loopback HTTP, so it runs outside synctest bubbles,
// with generous liveness bounds; it compares the two variants' figures.
func TestNaiveShowsTheFailure(t *testing.T) {
	r, err := RunNaive(context.Background(), testConfig())
	t.Logf("%+v", r)
	if err != nil {
		t.Fatal(err)
	}
	if r.PeakGoroutines < 1000 {
		t.Errorf("peak goroutines %d, want thousands (one per item per trigger)", r.PeakGoroutines)
	}
	if n := spawned(testConfig()); r.PeakGoroutines > n {
		t.Errorf("peak goroutines %d, more than the %d the variant starts", r.PeakGoroutines, n)
	}
	if r.Leaked != 0 {
		t.Errorf("%d of the variant's goroutines still alive after cleanup", r.Leaked)
	}
	if r.OverlappingRuns < 2 {
		t.Errorf("overlapping runs %d, want more than one", r.OverlappingRuns)
	}
	if r.Hanging == 0 {
		t.Error("no request hung: the naive client should have no deadline")
	}
	if r.NoDeadline != r.Requests {
		t.Errorf("%d of %d requests had no deadline, want all", r.NoDeadline, r.Requests)
	}
	if r.PeakInFlight <= 10 {
		t.Errorf("peak in flight %d, want far above the cap of 10", r.PeakInFlight)
	}
	if res := NaiveResult(r); !res.OK {
		t.Errorf("naive result: %s", res.Verdict)
	}
}

// When the naive variant gives up waiting for its steady state, its
// clients are still dialing the node; cleaning up must still end every
// request and goroutine, and the variant must say it gave up.
func TestNaiveCleansUpWhenItGivesUp(t *testing.T) {
	r, err := RunNaive(context.Background(), Config{Backlog: 200, Live: 10, Guard: time.Nanosecond})
	if err == nil {
		t.Fatal("no error for a steady state that cannot be reached in 1ns")
	}
	if r.Leaked != 0 {
		t.Errorf("%d of the variant's goroutines still alive after cleanup", r.Leaked)
	}
}

func TestSluicePassesEveryCheck(t *testing.T) {
	cfg := testConfig()
	r, err := RunSluice(context.Background(), cfg)
	t.Logf("%+v", r)
	if err != nil {
		t.Fatal(err)
	}
	if r.PeakInFlight > 10 {
		t.Errorf("peak in flight %d, cap 10", r.PeakInFlight)
	}
	// At most the 10 workers running replays, the 4 goroutines of a
	// phase's paths, the one running phase 2, and the 4 of phase 1 that
	// may not have returned yet after their Done.
	if bound := 10 + 2*(len(triggers)+1) + 1; r.PeakGoroutines > bound {
		t.Errorf("peak goroutines %d, want at most %d", r.PeakGoroutines, bound)
	}
	if r.OverlappingRuns != 1 {
		t.Errorf("overlapping runs %d, want 1", r.OverlappingRuns)
	}
	if r.Rejected != 2 {
		t.Errorf("%d triggers got ErrRunning, want 2", r.Rejected)
	}
	if r.NoDeadline != 0 {
		t.Errorf("%d requests without a deadline", r.NoDeadline)
	}
	if r.Timeouts == 0 {
		t.Error("no request timed out: the hung ones should have")
	}
	if r.Hanging != 0 {
		t.Errorf("%d requests still hung after the recovery", r.Hanging)
	}
	if r.StopAfterCancel >= time.Second {
		t.Errorf("stopping took %v after cancel, want < 1s", r.StopAfterCancel)
	}
	if r.Leaked != 0 {
		t.Errorf("%d of the variant's goroutines still alive after cleanup", r.Leaked)
	}
	if res := SluiceResult(r, cfg); !res.OK {
		t.Errorf("sluice result: %s", res.Verdict)
	}
}

func TestScenario(t *testing.T) {
	s := Scenario()
	if s.Name != "recovery" || s.Seed != "002" || s.Run == nil {
		t.Fatalf("scenario %q seed %q", s.Name, s.Seed)
	}
	// Scenario is scenario with the default configuration; run it sized
	// for the build (see testConfig).
	res, err := scenario(testConfig()).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Variant != "naive" || res[1].Variant != "sluice" {
		t.Fatalf("results: %+v", res)
	}
	for _, r := range res {
		t.Logf("%s: %s -> %s", r.Variant, r.Measured(), r.Verdict)
		if !r.OK {
			t.Errorf("%s: %s", r.Variant, r.Verdict)
		}
	}
}
