// The analysistest suites type-check their testdata's dependencies, the
// standard library included, from source; under the race detector that
// costs minutes of CPU, and the analyzers share nothing between packages
// but a sync.Map of parsed directives. .ci/test runs them without -race.

//go:build !race

package checkact_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/checkact"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// TestCheckact runs the seed's shapes and their fixed shapes (a: the seed
// as one function and split over methods, sync.Map, atomics, goroutine
// hand-off, generics; the negatives a user writes), and the seed's node
// fixed with keyed.Once / keyed.Mutex (b).
func TestCheckact(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), checkact.Analyzer, "a", "b")
}
