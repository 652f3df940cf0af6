// The analysistest suites type-check their testdata's dependencies, the
// standard library included, from source; under the race detector that
// costs minutes of CPU, and the analyzers share nothing between packages
// but a sync.Map of parsed directives. .ci/test runs them without -race.

//go:build !race

package lockheld_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/lockheld"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// TestLockheld runs the seed shapes and their negatives (a, with the
// blocking call two packages down in c), and lease functions (lease).
func TestLockheld(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), lockheld.Analyzer, "a", "lease")
}
