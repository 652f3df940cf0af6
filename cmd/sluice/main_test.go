package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func fake(name string, naiveOK, sluiceOK bool, err error) demo.Scenario {
	return demo.Scenario{
		Name: name, Seed: "999", Summary: "a fake " + name,
		Run: func(context.Context, demo.Options) ([]demo.Result, error) {
			if err != nil {
				return nil, err
			}
			return []demo.Result{
				{Scenario: name, Variant: demo.Naive, OK: naiveOK, Verdict: "orphans",
					Metrics: []demo.Metric{demo.M("orphans", 12), demo.M("peak", 400)}},
				{Scenario: name, Variant: demo.Sluice, OK: sluiceOK, Verdict: "one\nstream",
					Metrics: []demo.Metric{demo.M("orphans", 0)}},
			}, nil
		},
	}
}

func runArgs(all []demo.Scenario, args ...string) (code int, out, errOut string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e, all)
	return code, o.String(), e.String()
}

func TestDemoAllPass(t *testing.T) {
	all := []demo.Scenario{fake("a", true, true, nil), fake("b", false, true, nil)}
	code, out, errOut := runArgs(all, "demo")
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, errOut)
	}
	for _, want := range []string{"SCENARIO", "a (seed 999)", "b (seed 999)", "orphans", "400",
		"shows the failure: orphans", "ok: one stream", "did not reproduce", "every sluice variant passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoSluiceFailureExitsNonZero(t *testing.T) {
	all := []demo.Scenario{fake("a", true, true, nil), fake("b", true, false, nil)}
	code, out, errOut := runArgs(all, "demo", "b")
	if code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(errOut, "1 check(s) failed") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "a (seed") {
		t.Fatal("ran a scenario that was not named")
	}
}

func TestDemoRunErrorExitsNonZero(t *testing.T) {
	all := []demo.Scenario{fake("a", true, true, errors.New("no loopback"))}
	code, out, _ := runArgs(all, "demo")
	if code != 1 || !strings.Contains(out, "could not run: no loopback") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	all := []demo.Scenario{fake("a", true, true, nil)}
	if code, _, e := runArgs(all, "demo", "nope"); code != 2 || !strings.Contains(e, `unknown scenario "nope"`) || !strings.Contains(e, "a fake a") {
		t.Fatalf("unknown scenario: exit %d, %q", code, e)
	}
	if code, _, e := runArgs(all, "frobnicate"); code != 2 || !strings.Contains(e, "unknown command") {
		t.Fatalf("unknown command: exit %d, %q", code, e)
	}
	if code, _, e := runArgs(all); code != 2 || !strings.Contains(e, "Usage:") {
		t.Fatalf("no args: exit %d, %q", code, e)
	}
	if code, o, _ := runArgs(all, "help"); code != 0 || !strings.Contains(o, "sluice demo [flags] [scenario ...]") || !strings.Contains(o, "a fake a") {
		t.Fatalf("help: exit %d, %q", code, o)
	}
	if code, o, _ := runArgs(all, "list"); code != 0 || !strings.Contains(o, "seed 999") {
		t.Fatalf("list: exit %d, %q", code, o)
	}
}

// Every seed has its scenario, under the name the README gives.
func TestScenariosRegistered(t *testing.T) {
	want := map[string]string{"sharedconn": "000", "peerstreams": "001", "recovery": "002", "eventloop": "003", "coldstore": "004"}
	got := scenarios()
	if len(got) != len(want) {
		t.Fatalf("%d scenarios; want %d", len(got), len(want))
	}
	for _, s := range got {
		if want[s.Name] != s.Seed {
			t.Errorf("scenario %q has seed %q; want %q", s.Name, s.Seed, want[s.Name])
		}
		if s.Summary == "" || s.Run == nil {
			t.Errorf("scenario %q lacks a summary or a Run", s.Name)
		}
	}
}

// Each scenario's rows reach stdout as soon as it has finished, before the
// next one starts: the second scenario looks at what the first printed.
func TestDemoPrintsEachScenarioWhenItFinishes(t *testing.T) {
	var o, e bytes.Buffer
	var sawFirst, sawProgress bool
	second := fake("b", true, true, nil)
	run2 := second.Run
	second.Run = func(ctx context.Context, opt demo.Options) ([]demo.Result, error) {
		// runDemos calls Run on the goroutine that writes the table, so
		// reading o and e here sees every write made before it.
		sawFirst = strings.Contains(o.String(), "a (seed 999)") && strings.Contains(o.String(), "ok: one stream")
		sawProgress = strings.Contains(e.String(), "running b (2/2)...")
		return run2(ctx, opt)
	}
	all := []demo.Scenario{fake("a", true, true, nil), second}
	if code := run(context.Background(), []string{"demo"}, &o, &e, all); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, e.String())
	}
	if !sawFirst {
		t.Error("the first scenario's rows were not written before the second scenario ran")
	}
	if !sawProgress {
		t.Errorf("no progress note for the second scenario while it ran; stderr %q", e.String())
	}
}

// The progress notes go to stderr, one line per scenario when stderr is
// not a terminal; stdout holds only the table.
func TestDemoProgressOnStderrOnly(t *testing.T) {
	all := []demo.Scenario{fake("a", true, true, nil), fake("b", false, true, nil)}
	code, out, errOut := runArgs(all, "demo")
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, errOut)
	}
	if want := "running a (1/2)...\nrunning b (2/2)...\n"; errOut != want {
		t.Errorf("stderr = %q; want %q", errOut, want)
	}
	if strings.Contains(out, "running") {
		t.Errorf("progress on stdout:\n%s", out)
	}
}

// Long names, values, verdicts and errors wrap: no line is wider than the
// table, and no word is lost.
func TestDemoFitsTableWidth(t *testing.T) {
	long := strings.Repeat("word ", 60) + strings.Repeat("x", 150)
	wide := demo.Scenario{Name: "wide", Seed: "999", Summary: "wide",
		Run: func(context.Context, demo.Options) ([]demo.Result, error) {
			return []demo.Result{
				{Variant: demo.Naive, OK: true, Verdict: long,
					Metrics: []demo.Metric{{Name: long, Value: long}, demo.M("µs", "150µs")}},
				{Variant: demo.Sluice, OK: true, Verdict: long},
			}, nil
		}}
	all := []demo.Scenario{wide, fake("err", true, true, errors.New(long))}
	code, out, _ := runArgs(all, "demo")
	if code != 1 {
		t.Fatalf("exit %d; want 1 (a scenario could not run)", code)
	}
	checkWidth(t, out)
	if got, want := strings.Count(out, "word"), 5*60; got != want {
		t.Errorf("%d of the %d words kept", got, want)
	}
	if got, want := strings.Count(out, "x"), 5*150; got != want {
		t.Errorf("%d of the %d letters of the long word kept", got, want)
	}
}

func checkWidth(t *testing.T, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > tableWidth {
			t.Errorf("line %d is %d columns wide, more than %d:\n%s", i+1, n, tableWidth, line)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		s     string
		width int
		want  []string
	}{
		{"", 5, []string{""}},
		{"a b c", 5, []string{"a b c"}},
		{"a  b\ncd", 4, []string{"a b", "cd"}},
		{"abcdefg hi", 3, []string{"abc", "def", "g", "hi"}},
		{"ab abcdefg", 3, []string{"ab", "abc", "def", "g"}},
		{"µµµµ µ", 4, []string{"µµµµ", "µ"}},
	} {
		if got := wrap(c.s, c.width); !slices.Equal(got, c.want) {
			t.Errorf("wrap(%q, %d) = %q; want %q", c.s, c.width, got, c.want)
		}
	}
}
