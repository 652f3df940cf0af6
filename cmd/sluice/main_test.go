package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func fake(name string, naiveOK, sluiceOK bool, err error) demo.Scenario {
	return demo.Scenario{
		Name: name, Seed: "999", Summary: "a fake " + name,
		Run: func(context.Context) ([]demo.Result, error) {
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
	if code, o, _ := runArgs(all, "help"); code != 0 || !strings.Contains(o, "sluice demo [scenario ...]") || !strings.Contains(o, "a fake a") {
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
