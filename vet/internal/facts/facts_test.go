// The analysistest suites type-check their testdata's dependencies, the
// standard library included, from source; under the race detector that
// costs minutes of CPU, and the analyzers share nothing between packages
// but a sync.Map of parsed directives. .ci/test runs them without -race.

//go:build !race

package facts_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/internal/facts"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// TestFacts checks the exported facts: blocking chains through calls,
// recursion, generics (keyed by origin, across packages) and leases.
func TestFacts(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), facts.Analyzer, "f", "g")
}
