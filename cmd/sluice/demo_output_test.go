package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `sluice demo` as a user runs it: the real binary (built without -race,
// so the figures are the scenarios' own), every scenario, stdout and stderr
// apart. Whether each sluice variant passes is up to the demo packages'
// tests (their timing checks need an unloaded machine); this checks the
// output's shape: the table fits 100 columns, progress goes to stderr only,
// and the README's excerpt has every row that real output has.
func TestDemoRealOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario for real (about 10 s)")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "demo")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 1) {
		t.Fatalf("sluice demo: %v\nstdout:\n%s\nstderr:\n%s", err, o.String(), e.String())
	}
	out, errOut := o.String(), e.String()
	if err != nil {
		t.Logf("a sluice variant failed a check on this machine (exit 1):\n%s", errOut)
	}

	t.Run("width", func(t *testing.T) { checkWidth(t, out) })

	t.Run("progress", func(t *testing.T) {
		all := scenarios()
		var want []string
		for i, s := range all {
			want = append(want, fmt.Sprintf("running %s (%d/%d)...", s.Name, i+1, len(all)))
		}
		got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if len(got) > len(want) && strings.HasSuffix(got[len(want)], "check(s) failed") {
			got = got[:len(want)] // the failure count, on exit 1
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("stderr:\n%s\nwant one progress line per scenario:\n%s", errOut, strings.Join(want, "\n"))
		}
		if strings.Contains(out, "running ") {
			t.Errorf("progress on stdout:\n%s", out)
		}
		for _, s := range all {
			if !strings.Contains(out, "SCENARIO  "+s.Name+" (seed "+s.Seed+")") {
				t.Errorf("no rows for %s", s.Name)
			}
		}
	})

	// The README quotes `sluice demo recovery` whole; figures vary from
	// run to run, the rows do not.
	t.Run("readme", func(t *testing.T) {
		readme, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		excerpt, ok := readmeExcerpt(string(readme), "`go run ./cmd/sluice demo recovery`")
		if !ok {
			t.Fatal("README has no excerpt of `go run ./cmd/sluice demo recovery`")
		}
		checkWidth(t, excerpt)
		real, ok := block(out, "SCENARIO  recovery ")
		if !ok {
			t.Fatalf("no recovery block in the output:\n%s", out)
		}
		got, want := rowLabels(excerpt), rowLabels(real+"\nall 1 scenario(s): every sluice variant passed its checks\n")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("README excerpt's rows differ from real output's (figures masked):\n%s\n\nreal:\n%s",
				strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// readmeExcerpt returns the first fenced block after the sentence that
// introduces it.
func readmeExcerpt(readme, intro string) (string, bool) {
	_, rest, ok := strings.Cut(readme, intro)
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, "\n```\n")
	if !ok {
		return "", false
	}
	body, _, ok := strings.Cut(rest, "\n```")
	return body + "\n", ok
}

// block returns the lines of out from the one starting with head up to the
// blank line that ends its scenario.
func block(out, head string) (string, bool) {
	i := strings.Index(out, head)
	if i < 0 {
		return "", false
	}
	b, _, _ := strings.Cut(out[i:], "\n\n")
	return b + "\n", true
}

var figure = regexp.MustCompile(`[0-9][0-9.]*(µs|ms|s)?`)

// rowLabels is what is the same in every run of a block: its lines up to
// the value column, figures masked, one "verdict" line for each verdict
// however it wraps, and any line that is not part of the table whole.
func rowLabels(b string) []string {
	var labels []string
	verdictPad := strings.Repeat(" ", variantCol+len(verdictTag))
	for _, line := range strings.Split(strings.TrimSuffix(b, "\n"), "\n") {
		switch {
		case strings.HasPrefix(strings.TrimLeft(line, " "), verdictTag):
			labels = append(labels, "verdict")
		case strings.HasPrefix(line, verdictPad):
			// a verdict's continuation: where it wraps depends on the figures
		default:
			if r := []rune(line); len(r) > variantCol+nameCol && !strings.HasPrefix(line, "SCENARIO") {
				line = string(r[:variantCol+nameCol])
			}
			labels = append(labels, strings.TrimRight(figure.ReplaceAllString(line, "#"), " "))
		}
	}
	return labels
}
