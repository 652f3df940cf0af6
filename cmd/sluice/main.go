// Command sluice runs sluice's seed scenarios side by side, and finds the
// same hazards in existing code.
//
//	sluice demo [flags] [scenario ...]   run scenarios (all when none is named)
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
//
// With -debug ADDR, demo also serves package debug's live page on ADDR (a
// loopback address such as 127.0.0.1:8080, unless -debug-remote) while the
// scenarios run: every primitive the sluice variants build, registered as
// they build it, with its figures, waits and recent events. The page's URL
// goes to stderr; -debug-wait keeps it up after the scenarios end, until
// the command is interrupted.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
	"unicode/utf8"

	"github.com/sluice-go/sluice/debug"
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
  sluice demo [flags] [scenario ...]
                               run the named scenarios, or all of them
  sluice list                  list the scenarios and the seed each reproduces
  sluice vet [flags] [pkgs]    find the same hazards in existing Go code
                               (sluice vet -h for its flags and rules)
  sluice help                  show this text

A naive variant is expected to show its failure; a sluice variant is
expected to pass every check. demo prints each scenario's rows as soon as
it has run, and says on stderr which one is running. Its exit status is 1
if a sluice variant failed a check or a scenario could not run, and 2 on
a usage error.
` + demoFlags

const demoFlags = `
demo's flags (before the scenario names):
  -debug ADDR     while the scenarios run, serve a live page of the
                  primitives they build on ADDR, host:port (port 0 picks
                  one); the URL goes to stderr. ADDR must be a loopback
                  address (127.0.0.1:8080, [::1]:8080, localhost:8080)
  -debug-wait     with -debug: after the scenarios end, keep serving until
                  interrupted (Ctrl-C)
  -debug-remote   with -debug: allow an ADDR that is not loopback; anyone
                  who reaches it sees the page's figures, events and stacks
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
		return demoCommand(ctx, args[1:], stdout, stderr, all)
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

// demoCommand is `sluice demo [flags] [scenario ...]`.
func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer, all []demo.Scenario) int {
	fs := flag.NewFlagSet("sluice demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are written below, in this command's words
	addr := fs.String("debug", "", "")
	wait := fs.Bool("debug-wait", false, "")
	remote := fs.Bool("debug-remote", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, "Usage:\n  sluice demo [flags] [scenario ...]\n"+demoFlags+"\nScenarios:\n")
			list(stdout, all)
			return 0
		}
		fmt.Fprintf(stderr, "sluice demo: %v\n%s", err, demoFlags)
		return 2
	}
	if *addr == "" && (*wait || *remote) {
		fmt.Fprintf(stderr, "sluice demo: -debug-wait and -debug-remote go with -debug ADDR\n%s", demoFlags)
		return 2
	}
	chosen, err := choose(all, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n\nScenarios:\n", err)
		list(stderr, all)
		return 2
	}
	if *addr == "" {
		return runDemos(ctx, stdout, stderr, chosen, demo.Options{})
	}

	reg := debug.NewRegistry()
	srv, err := startDebug(*addr, *remote, reg)
	switch {
	case errors.Is(err, errNotLoopback):
		fmt.Fprintf(stderr, "sluice demo: -debug %s: %v\n"+
			"  the page shows every figure, event and stack to whoever reaches it:\n"+
			"  use 127.0.0.1:PORT, or add -debug-remote to serve it there anyway\n", *addr, err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "sluice demo: -debug %s: %v\n", *addr, err)
		return 2
	}
	fmt.Fprintf(stderr, "debug page: %s\n", srv.URL)
	code := runDemos(ctx, stdout, stderr, chosen, demo.Options{Registry: reg})
	if *wait && ctx.Err() == nil {
		fmt.Fprintf(stderr, "debug page: the scenarios have ended; still serving %s until interrupted (Ctrl-C)\n", srv.URL)
		<-ctx.Done()
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "sluice demo: debug page: %v\n", err)
	}
	return code
}

// runDemos runs the chosen scenarios one after another. Each scenario's
// rows are written to stdout as soon as it has finished, and a note on
// stderr says which one is running meanwhile, so stdout is only the table.
func runDemos(ctx context.Context, stdout, stderr io.Writer, chosen []demo.Scenario, opt demo.Options) int {
	prog := newProgress(stderr)
	failed := 0
	for i, s := range chosen {
		prog.start(s, i+1, len(chosen))
		start := time.Now()
		results, err := s.Run(ctx, opt)
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
