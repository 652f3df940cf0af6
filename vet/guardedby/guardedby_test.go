// The analysistest suites type-check their testdata's dependencies, the
// standard library included, from source; under the race detector that
// costs minutes of CPU, and the analyzers share nothing between packages
// but a sync.Map of parsed directives. .ci/test runs them without -race.

//go:build !race

package guardedby_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/guardedby"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// TestSeed runs seed 000's shape (a client used outside its lock, directly
// and through a provider holding the same client), a write outside the
// lock, a goroutine, a one-branch lock, an early unlock, a global mutex.
func TestSeed(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), guardedby.Analyzer, "seed")
}

// TestNegatives runs the shapes that must stay quiet: all locked, set only
// in constructors, no consistent lock, atomics, *Locked and caller-holds
// helpers, fresh values, RWMutex reads, parent locks, synchronous
// closures, self-locking clients, suppressions, and etcd's false positives.
func TestNegatives(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), guardedby.Analyzer, "neg")
}

// TestChecklocks runs gVisor checklocks annotations.
func TestChecklocks(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), guardedby.Analyzer, "annot")
}
