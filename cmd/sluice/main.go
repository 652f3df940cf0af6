// Command sluice runs sluice's seed scenarios side by side, and finds the
// same hazards in existing code.
//
//	sluice demo [scenario ...]   run scenarios (all when none is named)
//	sluice list                  list the scenarios
//	sluice vet [flags] [pkgs]    find the seeds' hazards in Go code (like go vet)
//	sluice help                  explain the commands
//
// Each scenario reproduces one of the production failures sluice grew out
// of, twice: a naive variant written the way the original code was, and a
// sluice variant built on the primitives. The table shows what each
// measured and whether it behaved as expected; each scenario's rows are
// printed as soon as it has run, and a note on stderr says which one is
// running meanwhile. The table fits 100 columns. The exit status is 1 if any
// sluice variant failed its checks or a scenario could not run, 2 on a
// usage error.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
	"unicode/utf8"

	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/vet"
)

func main() {
	if vet.IsVetTool(os.Args[1:]) {
		vet.VetTool() // go vet -vettool runs this binary once per package
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, scenarios()))
}

const usage = `sluice runs the scenarios behind sluice's primitives: each one is a real
production concurrency failure, run twice, once written naively (as the
original code was) and once on sluice, with what each variant measured.

Usage:
  sluice demo [scenario ...]   run the named scenarios, or all of them
  sluice list                  list the scenarios and the seed each reproduces
  sluice vet [flags] [pkgs]    find the same hazards in existing Go code
                               (sluice vet -h for its flags and rules)
  sluice help                  show this text

A naive variant is expected to show its failure; a sluice variant is
expected to pass every check. demo prints each scenario's rows as soon as
it has run, and says on stderr which one is running. Its exit status is 1
if a sluice variant failed a check or a scenario could not run, and 2 on
a usage error.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer, all []demo.Scenario) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\nScenarios:")
		list(stdout, all)
		return 0
	case "list":
		list(stdout, all)
		return 0
	case "vet":
		return vet.Command(ctx, args[1:], stdout, stderr)
	case "demo":
		chosen, err := choose(all, args[1:])
		if err != nil {
			fmt.Fprintf(stderr, "sluice: %v\n\nScenarios:\n", err)
			list(stderr, all)
			return 2
		}
		return runDemos(ctx, stdout, stderr, chosen)
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// list writes one entry per scenario, its summary wrapped to the table's
// width.
func list(w io.Writer, all []demo.Scenario) {
	nameW := 0
	for _, s := range all {
		nameW = max(nameW, utf8.RuneCountInString(s.Name))
	}
	var b bytes.Buffer
	for _, s := range all {
		hanging(&b, 2, fmt.Sprintf("%-*s  seed %s  ", nameW, s.Name, s.Seed), s.Summary)
	}
	w.Write(b.Bytes())
}

func choose(all []demo.Scenario, names []string) ([]demo.Scenario, error) {
	if len(names) == 0 {
		return all, nil
	}
	byName := make(map[string]demo.Scenario, len(all))
	for _, s := range all {
		byName[s.Name] = s
	}
	var chosen []demo.Scenario
	seen := map[string]bool{}
	for _, n := range names {
		s, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q", n)
		}
		if !seen[n] {
			seen[n] = true
			chosen = append(chosen, s)
		}
	}
	return chosen, nil
}

// runDemos runs the chosen scenarios one after another. Each scenario's
// rows are written to stdout as soon as it has finished, and a note on
// stderr says which one is running meanwhile, so stdout is only the table.
func runDemos(ctx context.Context, stdout, stderr io.Writer, chosen []demo.Scenario) int {
	prog := newProgress(stderr)
	failed := 0
	for i, s := range chosen {
		prog.start(s, i+1, len(chosen))
		start := time.Now()
		results, err := s.Run(ctx)
		took := time.Since(start).Round(time.Millisecond)
		prog.done()
		failed += writeScenario(stdout, s, results, err, took)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "sluice: %d check(s) failed\n", failed)
		return 1
	}
	fmt.Fprintf(stdout, "all %d scenario(s): every sluice variant passed its checks\n", len(chosen))
	return 0
}
