package ignore_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/vet/ignore"
)

func TestIgnore(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), ignore.Analyzer, "a")
}
