package main

import (
	"bytes"
	"strings"
	"testing"
)

const sampleOutput = `goos: linux
BenchmarkSemContended/sluice-16     1000   100.0 ns/op   0 B/op   0 allocs/op
BenchmarkSemContended/xsync-16      1000   300.0 ns/op   170 B/op   2 allocs/op
BenchmarkSemContended/sluice-16     1000   120.0 ns/op   0 B/op   0 allocs/op
BenchmarkSemContended/xsync-16      1000   260.0 ns/op   170 B/op   2 allocs/op
BenchmarkSemContended/sluice-16     1000   110.0 ns/op   0 B/op   0 allocs/op
BenchmarkSemContended/xsync-16      1000   280.0 ns/op   170 B/op   2 allocs/op
PASS
`

func TestReport(t *testing.T) {
	var out bytes.Buffer
	if err := report(strings.NewReader(sampleOutput), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| SemContended | sluice | 110 | 0 | 0 | base | 3 |",
		"| SemContended | xsync | 280 | 2.00 | 170 | 2.55x | 3 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing row %q in:\n%s", want, got)
		}
	}
}

func TestReportNoInput(t *testing.T) {
	if err := report(strings.NewReader("PASS\n"), &bytes.Buffer{}); err == nil {
		t.Fatal("no error for input without benchmarks")
	}
}
