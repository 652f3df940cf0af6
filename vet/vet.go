// Package vet lists sluice's analyzers: each finds, in existing Go code, one
// of the hazards behind the production failures sluice's primitives were
// built to prevent, and names the primitive that fixes it.
//
//	lockheld   a call that may block with no deadline while a lock, permit or lease is held
//	guardedby  a field used outside the mutex that guards it everywhere else
//	checkact   a check of shared state and an act on it with a yield between
//	fanout     one goroutine per input item with nothing bounding them
//	notimeout  network I/O that has no timeout and no deadline
//	loopblock  a call that may block inside a goroutine that serves a loop
//
// The command sluice vet runs them (see cmd/sluice); they are also usable
// as a go vet tool and from golangci-lint (vet/golangci).
package vet

import (
	"golang.org/x/tools/go/analysis"

	"github.com/sluice-go/sluice/vet/checkact"
	"github.com/sluice-go/sluice/vet/fanout"
	"github.com/sluice-go/sluice/vet/guardedby"
	"github.com/sluice-go/sluice/vet/ignore"
	"github.com/sluice-go/sluice/vet/lockheld"
	"github.com/sluice-go/sluice/vet/loopblock"
	"github.com/sluice-go/sluice/vet/notimeout"
)

// Analyzers returns sluice's analyzers: the six rules, then the check of
// //sluice:ignore directives.
func Analyzers() []*analysis.Analyzer {
	return []*analysis.Analyzer{
		lockheld.Analyzer,
		guardedby.Analyzer,
		checkact.Analyzer,
		fanout.Analyzer,
		notimeout.Analyzer,
		loopblock.Analyzer,
		ignore.Analyzer,
	}
}
