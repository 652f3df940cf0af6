// Package ignore checks sluice's own suppression directives. A directive
//
//	//sluice:ignore RULE[,RULE...] reason
//
// silences the findings of the named rules on its line, the line below it,
// or in the function it stands above (see vet/internal/diag). A directive
// that names a rule sluice does not have, or gives no reason, silences
// nothing, and this analyzer reports it, so a typo never hides a finding
// and every suppression says why it is safe.
package ignore

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"

	"github.com/sluice-go/sluice/vet/internal/diag"
)

// Analyzer reports malformed //sluice:ignore directives.
var Analyzer = &analysis.Analyzer{
	Name: "ignore",
	Doc:  "report //sluice:ignore directives with an unknown rule or no reason",
	URL:  "https://github.com/sluice-go/sluice/tree/main/vet/ignore",
	Run:  run,
}

func run(pass *analysis.Pass) (any, error) {
	for _, file := range pass.Files {
		for _, d := range diag.Directives(pass.Fset, file) {
			var unknown []string
			for _, r := range d.Rules {
				if !diag.KnownRule(r) {
					unknown = append(unknown, fmt.Sprintf("%q", r))
				}
			}
			switch {
			case slices.Contains(d.Rules, ""):
				// "lockheld, fanout why": the space ends the rule list, so
				// fanout would silently become part of the reason.
				pass.Reportf(d.Pos, "//sluice:ignore has an empty rule name in %q; separate rules with commas and no spaces", strings.Join(d.Rules, ","))
			case len(d.Rules) == 0:
				pass.Reportf(d.Pos, "//sluice:ignore names no rule; write //sluice:ignore RULE reason, with RULE one of %s", strings.Join(diag.Rules, ", "))
			case len(unknown) > 0:
				pass.Reportf(d.Pos, "//sluice:ignore names unknown rule %s (known: %s); it suppresses nothing", strings.Join(unknown, ", "), strings.Join(diag.Rules, ", "))
			case d.Reason == "":
				pass.Reportf(d.Pos, "//sluice:ignore %s gives no reason; say why the finding is safe, e.g. //sluice:ignore %s held only at startup", strings.Join(d.Rules, ","), d.Rules[0])
			}
		}
	}
	return nil, nil
}
