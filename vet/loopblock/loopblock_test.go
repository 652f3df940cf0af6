// The analysistest suites type-check their testdata's dependencies, the
// standard library included, from source; under the race detector that
// costs minutes of CPU, and the analyzers share nothing between packages
// but a sync.Map of parsed directives. .ci/test runs them without -race.

//go:build !race

package loopblock_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/loopblock"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// TestLoopblock runs the seed shapes and their fixes: a (seed 003's
// consumer, seed 004's dispatcher and its channel and custom waits,
// broadcasts, and the negatives a user writes), handler (handlers posted to
// a sluice loop.Loop, through a factory as in the eventloop demo), and
// xpkg (the blocking call two packages down, through facts).
func TestLoopblock(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), loopblock.Analyzer, "a", "handler", "xpkg")
}
