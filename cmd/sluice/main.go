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
// measured and whether it behaved as expected. The exit status is 1 if any
// sluice variant failed its checks or a scenario could not run, 2 on a
// usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

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
expected to pass every check. The exit status of demo is 1 if a sluice
variant failed a check or a scenario could not run, and 2 on a usage error.
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

func list(w io.Writer, all []demo.Scenario) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range all {
		fmt.Fprintf(tw, "  %s\tseed %s\t%s\n", s.Name, s.Seed, s.Summary)
	}
	tw.Flush()
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

func runDemos(ctx context.Context, stdout, stderr io.Writer, chosen []demo.Scenario) int {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tVARIANT\tMEASURED\tVALUE\tVERDICT")
	failed := 0
	for _, s := range chosen {
		start := time.Now()
		results, err := s.Run(ctx)
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			fmt.Fprintf(tw, "%s (seed %s)\t-\t-\t-\tERROR: could not run: %v\n", s.Name, s.Seed, err)
			failed++
			continue
		}
		for _, r := range results {
			verdict := oneLine(verdictOf(r))
			if r.Variant == demo.Sluice && !r.OK {
				failed++
			}
			metrics := r.Metrics
			if len(metrics) == 0 {
				metrics = []demo.Metric{{Name: "-", Value: "-"}}
			}
			for i, m := range metrics {
				name, variant, v := "", "", ""
				if i == 0 {
					name = fmt.Sprintf("%s (seed %s)", s.Name, s.Seed)
					variant, v = r.Variant, verdict
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, variant, oneLine(m.Name), oneLine(m.Value), v)
			}
		}
		fmt.Fprintf(tw, "\t\t(ran in %v)\t\t\n", took)
	}
	tw.Flush()
	if failed > 0 {
		fmt.Fprintf(stderr, "sluice: %d check(s) failed\n", failed)
		return 1
	}
	fmt.Fprintf(stdout, "\nall %d scenario(s): every sluice variant passed its checks\n", len(chosen))
	return 0
}

func verdictOf(r demo.Result) string {
	switch {
	case r.Variant == demo.Sluice && r.OK:
		return "ok: " + r.Verdict
	case r.Variant == demo.Sluice:
		return "FAILED: " + r.Verdict
	case r.OK:
		return "shows the failure: " + r.Verdict
	default:
		return "did not reproduce the failure this run: " + r.Verdict
	}
}

// oneLine keeps table rows on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
