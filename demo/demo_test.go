package demo

import (
	"testing"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func TestMeasured(t *testing.T) {
	r := Result{Metrics: []Metric{M("orphans", 12), M("peak", 3.5), {Name: "verdict", Value: "ok"}}}
	if got, want := r.Measured(), "orphans=12, peak=3.5, verdict=ok"; got != want {
		t.Fatalf("Measured() = %q; want %q", got, want)
	}
	if got := (Result{}).Measured(); got != "" {
		t.Fatalf("Measured() of no metrics = %q; want empty", got)
	}
}
