package diag_test

import (
	"go/ast"
	"testing"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/sluice-go/sluice/vet/internal/diag"
)

// probe reports every call of a function named hazard as rule "lockheld",
// so the testdata can exercise every way a directive covers a finding.
var probe = &analysis.Analyzer{
	Name: "lockheld",
	Doc:  "test probe",
	Run: func(pass *analysis.Pass) (any, error) {
		for _, f := range pass.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok {
					if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "hazard" {
						diag.Report(pass, diag.Finding{Pos: c.Pos(), Hazard: "hazard called", Fix: "don't"})
					}
				}
				return true
			})
		}
		return nil, nil
	},
}

func TestSuppression(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), probe, "s")
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		f    diag.Finding
		want string
	}{
		{diag.Finding{Hazard: "h"}, "h"},
		{diag.Finding{Hazard: "h", Evidence: "e"}, "h (e)"},
		{diag.Finding{Hazard: "h", Evidence: "e", Fix: "f"}, "h (e); fix: f"},
		{diag.Finding{Hazard: "h", Fix: "f"}, "h; fix: f"},
	} {
		if got := tc.f.Message(); got != tc.want {
			t.Errorf("Message() = %q, want %q", got, tc.want)
		}
	}
}

func TestKnownRule(t *testing.T) {
	for _, r := range []string{"lockheld", "guardedby", "checkact", "fanout", "notimeout", "loopblock"} {
		if !diag.KnownRule(r) {
			t.Errorf("KnownRule(%q) = false", r)
		}
	}
	for _, r := range []string{"", "ignore", "LockHeld", "lockheld,fanout"} {
		if diag.KnownRule(r) {
			t.Errorf("KnownRule(%q) = true", r)
		}
	}
}
