package eventloop

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// Both variants on real loopback HTTP (not in a synctest bubble: sockets
// do not block durably). The bounds compare the variants and are generous
// on absolute time, so a loaded machine does not fail them.
func TestVariants(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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

	// The naive variant shows the seed's failure: a status request asked
	// while a handler is in its two calls waits for them (up to 400 ms),
	// and the watchdog names the handler and the call.
	if naive.StatusP99 < 150*time.Millisecond {
		t.Errorf("naive status p99 = %v, want the loop stalled (>= 150ms)", naive.StatusP99)
	}
	if naive.SlowReports == 0 || naive.SlowHandler != "scoreWorker" {
		t.Errorf("naive watchdog: %d reports, first on %q; want scoreWorker reported", naive.SlowReports, naive.SlowHandler)
	}
	if !strings.Contains(naive.BlockedIn, "net/http.(*Client).Do") || !strings.Contains(naive.BlockedIn, "eventloop.(*api).get") {
		t.Errorf("naive watchdog stack shows %q, want the HTTP call and its caller", naive.BlockedIn)
	}
	if !naive.ScoresOK {
		t.Errorf("naive scores wrong: %v", naive.Scores)
	}

	// The sluice variant: same scores, the loop never stalls.
	if !sl.ScoresOK || len(sl.Scores) != 50 {
		t.Errorf("sluice scores wrong: %v", sl.Scores)
	}
	if !SameScores(naive, sl) {
		t.Errorf("scores differ: naive %v, sluice %v", naive.Scores, sl.Scores)
	}
	if sl.StatusCount == 0 {
		t.Fatal("sluice: no status requests answered")
	}
	if sl.StatusP99*10 > naive.StatusP99 {
		t.Errorf("sluice status p99 %v is not a small fraction of naive's %v", sl.StatusP99, naive.StatusP99)
	}
	if sl.SlowReports != 0 {
		t.Errorf("sluice: watchdog reported %q (%d reports)", sl.SlowHandler, sl.SlowReports)
	}
	// 50 workers x 2 calls x 200 ms one after another would take 20 s;
	// offloaded, they wait side by side.
	if sl.Elapsed > 5*time.Second {
		t.Errorf("sluice took %v to score 50 workers", sl.Elapsed)
	}
	if sl.StatusP99 >= StatusTarget {
		t.Logf("note: sluice status p99 %v is above the %v target (loaded machine?)", sl.StatusP99, StatusTarget)
	}

	// The scenario's verdicts agree.
	nr, sr := naiveResult(naive), sluiceResult(sl, naive)
	if !nr.OK {
		t.Errorf("naive verdict: %s", nr.Verdict)
	}
	if !sr.OK && sl.StatusP99 < StatusTarget {
		t.Errorf("sluice verdict: %s", sr.Verdict)
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
	/src/demo/eventloop/eventloop.go:300 +0x9
github.com/sluice-go/sluice/demo/eventloop.RunNaive.func1.1(0xc000)
	/src/demo/eventloop/eventloop.go:90 +0x9
`
	if got, want := blockedIn(stack), "net/http.(*Client).Do from eventloop.(*api).get"; got != want {
		t.Fatalf("blockedIn = %q, want %q", got, want)
	}
	if got := blockedIn("goroutine 7 [running]:\nmain.main()\n"); got != "" {
		t.Fatalf("blockedIn without HTTP = %q", got)
	}
}
