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
