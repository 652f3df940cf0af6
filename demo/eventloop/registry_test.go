package eventloop

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/debug"
)

// A registry changes nothing: each variant, run in a bubble of its own
// with and without one, reports the same (every figure
// TestVariantsInBubble holds exact; the status latencies' tail and the
// number of watchdog reports vary from run to run in a bubble too,
// registry or not), and the registry holds both loops, the naive one with
// an event for each watchdog report.
func TestRegistryChangesNoFigure(t *testing.T) {
	inBubble := func(run func(context.Context, Config) (Report, error), reg *debug.Registry) (r Report) {
		t.Helper()
		synctest.Test(t, func(t *testing.T) {
			var err error
			r, err = run(context.Background(), Config{Delay: 200 * time.Millisecond, inProcess: true, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
		})
		return r
	}
	reg := debug.NewRegistry()
	var reports []int // each variant's, with the registry
	for _, v := range []struct {
		name string
		run  func(context.Context, Config) (Report, error)
	}{{"naive", RunNaive}, {"sluice", RunSluice}} {
		plain := inBubble(v.run, nil)
		got := inBubble(v.run, reg)
		if !reflect.DeepEqual(exact(plain), exact(got)) {
			t.Errorf("%s with a registry:\n%+v\nwithout:\n%+v", v.name, got, plain)
		}
		reports = append(reports, got.SlowReports)
	}
	entries := reg.Snapshot()
	if len(entries) != 2 || entries[0].Name != "eventloop/scores" || entries[1].Name != "eventloop/scores (naive)" ||
		entries[0].Kind != "loop" || entries[1].Kind != "loop" {
		t.Fatalf("registry: %+v; want the two loops", entries)
	}
	if n := len(entries[0].Events); n != 0 || reports[1] != 0 {
		t.Errorf("the sluice loop has %d events; want none (its watchdog has nothing to report)", n)
	}
	evs := entries[1].Events
	if len(evs) < max(reports[0], 5) || evs[0].Kind != "slow" || !strings.Contains(evs[0].Message, "scoreWorker") || !strings.Contains(evs[0].Stack, "eventloop") {
		t.Errorf("the naive loop's events: %+v; want the watchdog's reports (%d or more) on scoreWorker, with stacks", evs, reports[0])
	}
}

// exact is what of a report is the same in every run in a bubble.
func exact(r Report) Report {
	e := Report{Workers: r.Workers, Scores: r.Scores, ScoresOK: r.ScoresOK, Elapsed: r.Elapsed,
		SlowHandler: r.SlowHandler, SlowRunning: r.SlowRunning, BlockedIn: r.BlockedIn}
	if r.SlowReports == 0 { // the sluice loop: never blocked, every status answered at once
		e.StatusMax = r.StatusMax
	}
	return e
}
