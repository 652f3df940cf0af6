package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-go/sluice/demo"
)

// The demo table's layout. Every line fits in tableWidth columns: a cell
// too long for its column, and a verdict too long for its line, wraps at
// spaces onto lines of its own (a word longer than the room is cut).
const (
	tableWidth = 100
	variantCol = 10 // "VARIANT" / "SCENARIO" and the gap after it
	nameCol    = 36 // "MEASURED", the longest metric name, and the gap
	valueWidth = tableWidth - variantCol - nameCol
	verdictTag = "verdict: "
)

// writeScenario writes one scenario's block of the table to w in a single
// Write, so its rows reach a terminal or a pipe as soon as the scenario
// has finished, whole. It returns how many checks failed: one for a
// scenario that could not run, one for each sluice variant that failed.
func writeScenario(w io.Writer, s demo.Scenario, results []demo.Result, runErr error, took time.Duration) (failed int) {
	var b bytes.Buffer
	hanging(&b, 0, "SCENARIO  ", fmt.Sprintf("%s (seed %s), ran in %v", s.Name, s.Seed, took))
	if runErr != nil {
		hanging(&b, 0, "ERROR     ", "could not run: "+runErr.Error())
		b.WriteString("\n")
		w.Write(b.Bytes())
		return 1
	}
	row(&b, "VARIANT", "MEASURED", "VALUE")
	for _, r := range results {
		if r.Variant == demo.Sluice && !r.OK {
			failed++
		}
		metrics := r.Metrics
		if len(metrics) == 0 {
			metrics = []demo.Metric{{Name: "-", Value: "-"}}
		}
		for i, m := range metrics {
			variant := ""
			if i == 0 {
				variant = r.Variant
			}
			row(&b, variant, m.Name, m.Value)
		}
		hanging(&b, variantCol, verdictTag, verdictOf(r))
	}
	b.WriteString("\n")
	w.Write(b.Bytes())
	return failed
}

// row writes one table row: variant, measured and value, each wrapped to
// its column, side by side.
func row(b *bytes.Buffer, variant, name, value string) {
	vs := wrap(variant, variantCol-2)
	ns := wrap(name, nameCol-2)
	xs := wrap(value, valueWidth)
	for i := range max(len(vs), len(ns), len(xs)) {
		line := fmt.Sprintf("%-*s%-*s%s", variantCol, at(vs, i), nameCol, at(ns, i), at(xs, i))
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteString("\n")
	}
}

// hanging writes label at column indent and text after it, wrapped so
// that continuation lines start under the text's first word.
func hanging(b *bytes.Buffer, indent int, label, text string) {
	pad := strings.Repeat(" ", indent+utf8.RuneCountInString(label))
	for i, line := range wrap(text, tableWidth-len(pad)) {
		if i == 0 {
			b.WriteString(strings.Repeat(" ", indent) + label)
		} else {
			b.WriteString(pad)
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

// wrap breaks s into lines of at most width runes, at spaces (any run of
// white space, newlines included, counts as one); a word longer than
// width is cut. It returns at least one line.
func wrap(s string, width int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		for utf8.RuneCountInString(word) > width {
			if cur != "" {
				lines = append(lines, cur)
				cur = ""
			}
			r := []rune(word)
			lines = append(lines, string(r[:width]))
			word = string(r[width:])
		}
		switch {
		case cur == "":
			cur = word
		case utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(word) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
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

// progress is the one-line note on stderr that says which scenario is
// running. On a terminal the note is rewritten in place and erased before
// the scenario's rows are printed, so the screen shows only the table;
// elsewhere (a pipe, a file, a test) it is one line per scenario.
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(w io.Writer) progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil {
			tty = fi.Mode()&os.ModeCharDevice != 0
		}
	}
	return progress{w: w, tty: tty}
}

func (p progress) start(s demo.Scenario, i, n int) {
	if p.tty {
		fmt.Fprintf(p.w, "\rrunning %s (%d/%d)...\x1b[K", s.Name, i, n)
		return
	}
	fmt.Fprintf(p.w, "running %s (%d/%d)...\n", s.Name, i, n)
}

// done erases the note on a terminal; stdout and stderr often share one,
// and the rows must not land after the note on its line.
func (p progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
