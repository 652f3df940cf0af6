// The analysistest suites type-check their testdata's dependencies, the
// standard library included, from source; under the race detector that
// costs minutes of CPU, and the analyzers share nothing between packages
// but a sync.Map of parsed directives. .ci/test runs them without -race.

//go:build !race

package notimeout_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/notimeout"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// TestNotimeout runs the seed's shapes (seed), the timed and unknown
// shapes that must stay quiet (ok, including a _test.go file), and dials.
func TestNotimeout(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), notimeout.Analyzer, "seed", "ok", "dial")
}
