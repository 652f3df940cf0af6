package debug_test

import (
	"strings"
	"testing"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/sem"
)

// TestNilAndEmpty: methods on a nil *Registry, and hooks, events and
// expvar names that are empty, panic with a message that starts with
// "debug: " and names the call.
func TestNilAndEmpty(t *testing.T) {
	var nilReg *debug.Registry
	reg := debug.NewRegistry()
	cases := []struct {
		name, want string
		call       func()
	}{
		{"Register nil registry", "Register on a nil *Registry", func() { _ = nilReg.Register("a", sem.New(1)) }},
		{"Unregister nil registry", "Unregister on a nil *Registry", func() { nilReg.Unregister("a") }},
		{"Snapshot nil registry", "Snapshot on a nil *Registry", func() { nilReg.Snapshot() }},
		{"Handler nil registry", "Handler on a nil *Registry", func() { nilReg.Handler() }},
		{"PublishExpvar nil registry", "PublishExpvar on a nil *Registry", func() { nilReg.PublishExpvar("x") }},
		{"GateHook nil registry", "GateHook on a nil *Registry", func() { nilReg.GateHook("x") }},
		{"SlowHook nil registry", "SlowHook on a nil *Registry", func() { nilReg.SlowHook("x") }},
		{"Record nil registry", "Record on a nil *Registry", func() { nilReg.Record("x", debug.Event{}) }},
		{"GateHook empty name", "GateHook with an empty name", func() { reg.GateHook("") }},
		{"SlowHook empty name", "SlowHook with an empty name", func() { reg.SlowHook("") }},
		{"Record empty name", "Record with an empty name", func() { reg.Record("", debug.Event{}) }},
		{"PublishExpvar empty name", "PublishExpvar with an empty name", func() { reg.PublishExpvar("") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := conctest.MustPanic(t, tc.call, tc.want)
			if !strings.HasPrefix(msg, "debug: ") {
				t.Fatalf("panic %q; want one starting with %q", msg, "debug: ")
			}
		})
	}
}

// The zero Registry is ready to use.
func TestZeroRegistry(t *testing.T) {
	var reg debug.Registry
	if n := len(reg.Snapshot()); n != 0 {
		t.Fatalf("%d entries in a zero Registry", n)
	}
	reg.Record("nobody", debug.Event{Kind: "lost"})
	if reg.Unregister("nobody") {
		t.Fatal("Unregister on a zero Registry: true")
	}
	s := sem.New(1)
	if err := reg.Register("s", s); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("t", s); err == nil {
		t.Fatal("the same primitive twice in a zero Registry: no error")
	}
	if n := len(reg.Snapshot()); n != 1 {
		t.Fatalf("%d entries; want 1", n)
	}
}
