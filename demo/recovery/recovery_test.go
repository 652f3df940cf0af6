package recovery

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// testConfig is the default configuration with a smaller backlog under
// the race detector (see race_on_test.go) or -short (still over three
// thousand goroutines for the naive variant), and with the demo's
// liveness bound (Config.Guard) stretched to what is left of the test
// binary's -timeout, so that no load can make it expire before the
// binary's own timeout would: the demo waits only for events, so the
// bound costs nothing when all goes well, and it still turns a hang into
// an error with the figures measured so far.
func testConfig(t *testing.T) Config {
	cfg := Config{Guard: 10 * time.Minute} // -timeout 0: no deadline
	if d, ok := t.Deadline(); ok {
		// Leave the binary a little time to report the failure.
		cfg.Guard = max(time.Until(d)-15*time.Second, time.Minute)
	}
	if raceEnabled || testing.Short() {
		cfg.Backlog = 1000
	}
	return cfg
}

// hungItems is how many of the naive variant's replays hang at the node.
func hungItems(cfg Config) int {
	cfg = cfg.withDefaults()
	n := &mlNode{hangEvery: cfg.HangEvery}
	missed, live := items(cfg)
	hung := 0
	for _, it := range missed {
		if n.hangs(it) {
			hung += len(triggers)
		}
	}
	for _, it := range live {
		if n.hangs(it) {
			hung++
		}
	}
	return hung
}

// The demo runs real loopback HTTP, so it runs outside synctest bubbles,
// with generous liveness bounds; it compares the two variants' figures.
func TestNaiveShowsTheFailure(t *testing.T) {
	r, err := RunNaive(context.Background(), testConfig(t))
	t.Logf("%+v", r)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	// Every figure checked here is forced by construction (the payload
	// store holds every goroutine until all have started; every run holds
	// a hung item), so these are equalities where they can be.
	if n := naiveGoroutines(cfg); r.PeakGoroutines != n {
		t.Errorf("peak goroutines %d, want all %d the variant starts alive at once", r.PeakGoroutines, n)
	}
	if r.Leaked != 0 {
		t.Errorf("%d of the variant's goroutines still alive after cleanup", r.Leaked)
	}
	if r.OverlappingRuns != len(triggers) {
		t.Errorf("overlapping runs %d, want %d", r.OverlappingRuns, len(triggers))
	}
	if n := len(triggers)*cfg.withDefaults().Backlog + cfg.withDefaults().Live; r.Requests != n {
		t.Errorf("%d requests sent, want one per goroutine: %d", r.Requests, n)
	}
	if n := hungItems(cfg); r.Hanging != n {
		t.Errorf("%d requests hung at the end, want the %d hung items", r.Hanging, n)
	}
	if r.NoDeadline != r.Requests {
		t.Errorf("%d of %d requests had no deadline, want all", r.NoDeadline, r.Requests)
	}
	// The hung requests are all in flight at the end, at least.
	if r.PeakInFlight < r.Hanging || r.PeakInFlight <= 10 {
		t.Errorf("peak in flight %d, want at least the %d hung and far above the cap of 10", r.PeakInFlight, r.Hanging)
	}
	if res := NaiveResult(r); !res.OK {
		t.Errorf("naive result: %s", res.Verdict)
	}
}

// When the naive variant gives up waiting for its steady state, its
// requests are still at the node, queued for a connection or not sent
// yet; cleaning up must still end every request and goroutine, and the
// variant must say it gave up. The node takes an hour per replay, so the
// steady state cannot be reached, however the machine is loaded.
func TestNaiveCleansUpWhenItGivesUp(t *testing.T) {
	r, err := RunNaive(context.Background(), Config{Backlog: 200, Live: 10, Work: time.Hour, Guard: 100 * time.Millisecond})
	t.Logf("%+v", r)
	if err == nil {
		t.Fatal("no error for a steady state that cannot be reached")
	}
	if r.Leaked != 0 {
		t.Errorf("%d of the variant's goroutines still alive after cleanup", r.Leaked)
	}
}

func TestSluicePassesEveryCheck(t *testing.T) {
	cfg := testConfig(t)
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
	// Forced by construction: the payload store keeps the winning run
	// going until the two others have been rejected.
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
	// Liveness, not speed: everything stopped within the guard.
	if !r.Stopped {
		t.Errorf("not stopped %v after cancel (took %v)", cfg.Guard, r.StopAfterCancel)
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
	res, err := scenario(testConfig(t)).Run(context.Background(), demo.Options{})
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
