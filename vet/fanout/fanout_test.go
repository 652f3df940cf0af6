// The analysistest suites type-check their testdata's dependencies, the
// standard library included, from source; under the race detector that
// costs minutes of CPU, and the analyzers share nothing between packages
// but a sync.Map of parsed directives. .ci/test runs them without -race.

//go:build !race

package fanout_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/fanout"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// TestFanout runs the seed's shapes (seed) and the bounded shapes a user
// writes (ok: fixed arrays, worker pools, semaphores, SetLimit, pools,
// CPU-only work, barriers, accept loops, a _test.go file).
func TestFanout(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), fanout.Analyzer, "seed", "ok")
}
