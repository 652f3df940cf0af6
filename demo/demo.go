// Package demo holds what every seed scenario reports, so that the sluice
// command can run them side by side and print one table.
//
// Each demo/<scenario> package runs a seed's failure twice: a naive variant
// written the way the seed's code was, and a sluice variant built on the
// primitives. Each variant returns a [Result]: what it measured and whether
// it behaved as the scenario expects. For the naive variant "as expected"
// means it showed the seed's failure (otherwise the demo proves nothing);
// for the sluice variant it means every check passed.
package demo

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-go/sluice/debug"
)

// Variant names.
const (
	Naive  = "naive"
	Sluice = "sluice"
)

// Metric is one measured figure, already formatted for a person.
type Metric struct {
	Name  string
	Value string
}

// M formats a metric from any value with %v.
func M(name string, value any) Metric {
	return Metric{Name: name, Value: fmt.Sprint(value)}
}

// Result is what one variant of one scenario reports.
type Result struct {
	Scenario string
	Variant  string   // Naive or Sluice
	Metrics  []Metric // in the order they should be printed
	// OK is true when the variant behaved as the scenario expects: the
	// naive variant showed the failure, the sluice variant passed every
	// check.
	OK bool
	// Verdict explains OK in a few words: which failure was shown, or
	// which check failed.
	Verdict string
}

// Measured joins the metrics as "name=value, name=value".
func (r Result) Measured() string {
	parts := make([]string, len(r.Metrics))
	for i, m := range r.Metrics {
		parts[i] = m.Name + "=" + m.Value
	}
	return strings.Join(parts, ", ")
}

// Scenario is one seed scenario as the sluice command runs it.
type Scenario struct {
	Name    string // the argument to `sluice demo`, e.g. "recovery"
	Seed    string // the seed it reproduces, e.g. "002"
	Summary string // one line: the failure and the primitive that answers it
	// Run runs both variants, naive first, and returns their results. An
	// error means the scenario could not run at all (not that a variant
	// failed its checks: that is a Result with OK false).
	Run func(ctx context.Context, opt Options) ([]Result, error)
}

// Options are what the sluice command passes to a scenario's Run. The
// zero Options run it as `sluice demo` always has.
type Options struct {
	// Registry, when not nil, is where the scenario registers the
	// primitives its variants build, as it builds them, so that a debug
	// page (`sluice demo -debug ADDR`) shows them while it runs. Names are
	// "<scenario>/<what it is>", e.g. "recovery/slots". Registering
	// changes none of the scenario's figures or checks: the registry only
	// reads Stats when the page is read, and counts waits on the waiters'
	// own goroutines.
	Registry *debug.Registry
}

// Register registers p in reg under name, or does nothing when reg is nil.
// Its error is the registry's (a name taken twice, say, when one registry
// is given to two runs of a scenario).
func Register(reg *debug.Registry, name string, p any) error {
	if reg == nil {
		return nil
	}
	return reg.Register(name, p)
}
