package eventloop

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// Both variants in a testing/synctest bubble, the API served in process:
// the fake clock moves only when every goroutine is blocked, so the
// figures are exact and every check, the sluice variant's target
// included, is asserted, never skipped.
func TestVariantsInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		cfg := Config{Delay: 200 * time.Millisecond, inProcess: true}
		naive, err := RunNaive(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		sl, err := RunSluice(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("naive:  %+v", summary(naive))
		t.Logf("sluice: %+v", summary(sl))

		// Naive: 5 workers, each handler blocks the loop for its two calls
		// (400 ms), one after another. A status request waits for the rest
		// of the handler it arrived during: at most 400 ms, and more than
		// 300 ms for the first quarter of each handler's requests.
		if naive.Elapsed != 5*2*cfg.Delay {
			t.Errorf("naive elapsed = %v, want %v (5 workers x 2 calls, serial)", naive.Elapsed, 5*2*cfg.Delay)
		}
		if naive.StatusP99 <= 300*time.Millisecond || naive.StatusMax > 2*cfg.Delay {
			t.Errorf("naive status p99 = %v, max %v; want the loop stalled (p99 > 300ms, max <= 400ms)", naive.StatusP99, naive.StatusMax)
		}
		if naive.SlowReports < 5 || naive.SlowHandler != "scoreWorker" || naive.SlowRunning != 100*time.Millisecond {
			t.Errorf("naive watchdog: %d reports, first on %q after %v; want each scoreWorker reported at 100ms", naive.SlowReports, naive.SlowHandler, naive.SlowRunning)
		}
		checkBlockedIn(t, naive)
		if !naive.ScoresOK || len(naive.Scores) != 5 {
			t.Errorf("naive scores wrong: %v", naive.Scores)
		}

		// Sluice: 50 workers, all calls side by side on the workers: two
		// calls' time in all. The loop never blocks, so a status request
		// is answered at the instant it is asked and the watchdog, which
		// times handlers on the same clock, has nothing to report.
		if sl.Elapsed != 2*cfg.Delay {
			t.Errorf("sluice elapsed = %v, want %v (every worker's two calls side by side)", sl.Elapsed, 2*cfg.Delay)
		}
		if sl.StatusCount == 0 || sl.StatusMax != 0 {
			t.Errorf("sluice status: %d requests, max latency %v; want some, each answered at once", sl.StatusCount, sl.StatusMax)
		}
		if sl.SlowReports != 0 {
			t.Errorf("sluice: watchdog reported %q (%d reports)", sl.SlowHandler, sl.SlowReports)
		}
		if !sl.ScoresOK || len(sl.Scores) != 50 || !SameScores(naive, sl) {
			t.Errorf("sluice scores wrong or differ from naive's: naive %v, sluice %v", naive.Scores, sl.Scores)
		}

		// The scenario's verdicts, both of them, unconditionally.
		if nr := naiveResult(naive); !nr.OK {
			t.Errorf("naive verdict: %s", nr.Verdict)
		}
		if sr := sluiceResult(sl, naive); !sr.OK {
			t.Errorf("sluice verdict: %s", sr.Verdict)
		}
	})
}

// checkBlockedIn checks that the naive variant's first watchdog report
// shows the HTTP call the handler is stuck in and the code that made it.
func checkBlockedIn(t *testing.T, naive Report) {
	t.Helper()
	if !strings.Contains(naive.BlockedIn, "net/http.(*Client).Do") || !strings.Contains(naive.BlockedIn, "eventloop.(*api).get") {
		t.Errorf("naive watchdog stack shows %q, want the HTTP call and its caller", naive.BlockedIn)
	}
}

// Both variants on real loopback HTTP, as `sluice demo` runs them (not in
// a bubble: sockets do not block durably). Real time on a shared machine
// is not exact, so this checks only what no load can change: both variants
// score correctly and alike; the naive loop really blocks (its handlers
// hold it for two 200 ms calls each, so status requests wait and the
// watchdog names the handler); and the sluice variant answers status
// requests faster than the naive one and scores 50 workers in less time
// than the naive way would take for them (20 s). The exact figures and
// the sluice variant's latency target are asserted in
// TestVariantsInBubble.
func TestVariants(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Delay: 200 * time.Millisecond}
	naive, err := RunNaive(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := RunSluice(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("naive:  %+v", summary(naive))
	t.Logf("sluice: %+v", summary(sl))

	if naive.StatusP99 < 150*time.Millisecond {
		t.Errorf("naive status p99 = %v, want the loop stalled (>= 150ms)", naive.StatusP99)
	}
	if naive.SlowReports == 0 || naive.SlowHandler != "scoreWorker" {
		t.Errorf("naive watchdog: %d reports, first on %q; want scoreWorker reported", naive.SlowReports, naive.SlowHandler)
	}
	checkBlockedIn(t, naive)
	if nr := naiveResult(naive); !nr.OK {
		t.Errorf("naive verdict: %s", nr.Verdict)
	}
	if !naive.ScoresOK || !sl.ScoresOK || len(sl.Scores) != 50 || !SameScores(naive, sl) {
		t.Errorf("scores wrong or differ: naive %v, sluice %v", naive.Scores, sl.Scores)
	}
	if sl.StatusCount == 0 {
		t.Fatal("sluice: no status requests answered")
	}
	if sl.StatusP99 >= naive.StatusP99 {
		t.Errorf("sluice status p99 %v is not below naive's %v", sl.StatusP99, naive.StatusP99)
	}
	if serial := 50 * 2 * cfg.Delay; sl.Elapsed >= serial {
		t.Errorf("sluice took %v to score 50 workers, no faster than one at a time (%v)", sl.Elapsed, serial)
	}
}

func summary(r Report) string {
	return strings.Join([]string{
		"workers=" + strconv.Itoa(r.Workers),
		"elapsed=" + ms(r.Elapsed),
		"p50=" + ms(r.StatusP50),
		"p99=" + ms(r.StatusP99),
		"max=" + ms(r.StatusMax),
		"slow=" + r.SlowHandler,
		"in=" + r.BlockedIn,
	}, " ")
}

// The verdicts fail when the figures do.
func TestVerdicts(t *testing.T) {
	scores := map[int]int{0: 21, 1: 43}
	good := Report{Workers: 2, Scores: scores, ScoresOK: true, StatusP99: time.Millisecond}
	stalled := Report{Workers: 2, Scores: scores, ScoresOK: true, StatusP99: 400 * time.Millisecond,
		SlowReports: 2, SlowHandler: "scoreWorker"}

	if r := naiveResult(stalled); !r.OK || r.Scenario != "eventloop" || r.Variant != demo.Naive {
		t.Errorf("naive result on a stall: %+v", r)
	}
	if r := naiveResult(good); r.OK {
		t.Errorf("naive result without a stall is OK: %+v", r)
	}
	unreported := stalled
	unreported.SlowReports = 0
	if r := naiveResult(unreported); r.OK {
		t.Errorf("naive result without a watchdog report is OK: %+v", r)
	}

	if r := sluiceResult(good, stalled); !r.OK || r.Variant != demo.Sluice {
		t.Errorf("sluice result on good figures: %+v", r)
	}
	slow := good
	slow.StatusP99 = 50 * time.Millisecond
	if r := sluiceResult(slow, stalled); r.OK {
		t.Errorf("sluice result over the target is OK: %+v", r)
	}
	wrong := good
	wrong.Scores = map[int]int{0: 21, 1: 44}
	if r := sluiceResult(wrong, stalled); r.OK || !strings.Contains(r.Verdict, "differ") {
		t.Errorf("sluice result with different scores: %+v", r)
	}
	reported := good
	reported.SlowReports = 1
	if r := sluiceResult(reported, stalled); r.OK {
		t.Errorf("sluice result with a watchdog report is OK: %+v", r)
	}
}

func TestBlockedIn(t *testing.T) {
	stack := `goroutine 7 [select]:
net/http.(*persistConn).roundTrip(0xc000, 0xc001)
	/go/src/net/http/transport.go:2800 +0x9
net/http.(*Transport).roundTrip(0xc000, 0xc001)
	/go/src/net/http/transport.go:600 +0x9
net/http.(*Client).Do(...)
	/go/src/net/http/client.go:590
github.com/sluice-go/sluice/demo/eventloop.(*api).get(0xc000, {0x1, 0x2})
	/src/demo/eventloop/api.go:300 +0x9
github.com/sluice-go/sluice/demo/eventloop.RunNaive.func1.1(0xc000)
	/src/demo/eventloop/naive.go:15 +0x9
`
	if got, want := blockedIn(stack), "net/http.(*Client).Do from eventloop.(*api).get"; got != want {
		t.Fatalf("blockedIn = %q, want %q", got, want)
	}
	if got := blockedIn("goroutine 7 [running]:\nmain.main()\n"); got != "" {
		t.Fatalf("blockedIn without HTTP = %q", got)
	}
}
