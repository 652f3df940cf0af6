// Package golangci registers sluice's analyzers as a golangci-lint module
// plugin named "sluice". It is a module of its own so golangci-lint's plugin
// registry never becomes a dependency of sluice's root module.
//
// Add it to .custom-gcl.yml:
//
//	version: v2.15.0
//	plugins:
//	  - module: github.com/sluice-go/sluice/vet/golangci
//	    version: latest
//
// build with golangci-lint custom, and enable it in .golangci.yml:
//
//	linters:
//	  enable: [sluice]
//	  settings:
//	    custom:
//	      sluice:
//	        type: module
//	        settings:
//	          disable: [fanout] # optional: rules to leave out
//
// Every rule is on unless disabled; the //sluice:ignore directive check is
// always on, so a suppression with a typo never silently hides a finding.
package golangci

import (
	"fmt"
	"slices"
	"strings"

	"github.com/golangci/plugin-module-register/register"
	"golang.org/x/tools/go/analysis"

	"github.com/sluice-go/sluice/vet"
)

func init() { register.Plugin("sluice", New) }

// Settings are the plugin's settings in .golangci.yml.
type Settings struct {
	// Disable lists rule IDs (lockheld, guardedby, checkact, fanout,
	// notimeout, loopblock) not to run.
	Disable []string `json:"disable"`
}

// Plugin is sluice's golangci-lint plugin.
type Plugin struct{ settings Settings }

// New decodes the plugin's settings; an unknown setting or rule is an error.
func New(raw any) (register.LinterPlugin, error) {
	s, err := register.DecodeSettings[Settings](raw)
	if err != nil {
		return nil, fmt.Errorf("sluice: %w", err)
	}
	known := ruleNames()
	for _, r := range s.Disable {
		if !slices.Contains(known, r) {
			return nil, fmt.Errorf("sluice: unknown rule %q in disable (known: %s)", r, strings.Join(known, ", "))
		}
	}
	return &Plugin{settings: s}, nil
}

// BuildAnalyzers returns sluice's analyzers less the disabled ones.
func (p *Plugin) BuildAnalyzers() ([]*analysis.Analyzer, error) {
	var out []*analysis.Analyzer
	for _, a := range vet.Analyzers() {
		if !slices.Contains(p.settings.Disable, a.Name) {
			out = append(out, a)
		}
	}
	return out, nil
}

// GetLoadMode asks for type information: every rule needs it.
func (p *Plugin) GetLoadMode() string { return register.LoadModeTypesInfo }

func ruleNames() []string {
	var names []string
	for _, a := range vet.Analyzers() {
		if a.Name != "ignore" {
			names = append(names, a.Name)
		}
	}
	return names
}
