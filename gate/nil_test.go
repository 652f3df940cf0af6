package gate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/gate"
)

// TestNilArguments calls every exported function and method with each
// argument that can be nil set to nil, one at a time: each must panic with
// a message that starts with "gate: " and names the call and the mistake,
// never with a nil-pointer dereference from deep inside.
func TestNilArguments(t *testing.T) {
	g := gate.New(gate.Config{})
	defer g.Close()
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	vfn := func(context.Context) (int, error) { return 1, nil }
	var nilCtx context.Context // a nil Context, without tripping vet's SA1012

	cases := []struct {
		name string
		want string // the panic message holds this
		call func()
	}{
		{"Op nil ctx", "Op with nil Context", func() { gate.Op(nilCtx, "x") }},
		{"OpName nil ctx", "OpName with nil Context", func() { gate.OpName(nilCtx) }},
		{"ReadValue nil ctx", "ReadValue with nil Context", func() { _, _ = gate.ReadValue(nilCtx, g, vfn) }},
		{"ReadValue nil gate", "ReadValue with nil *Gate", func() { _, _ = gate.ReadValue(ctx, nil, vfn) }},
		{"ReadValue nil fn", "ReadValue with nil fn", func() { _, _ = gate.ReadValue[int](ctx, g, nil) }},
		{"Read nil ctx", "Read with nil Context", func() { _ = g.Read(nilCtx, fn) }},
		{"Read nil fn", "Read with nil fn", func() { _ = g.Read(ctx, nil) }},
		{"ReadInline nil ctx", "ReadInline with nil Context", func() { _ = g.ReadInline(nilCtx, fn) }},
		{"ReadInline nil fn", "ReadInline with nil fn", func() { _ = g.ReadInline(ctx, nil) }},
		{"Write nil ctx", "Write with nil Context", func() { _ = g.Write(nilCtx, fn) }},
		{"Write nil fn", "Write with nil fn", func() { _ = g.Write(ctx, nil) }},
		{"Stream nil ctx", "Stream with nil Context", func() { _ = g.Stream(nilCtx, fn) }},
		{"Stream nil fn", "Stream with nil fn", func() { _ = g.Stream(ctx, nil) }},
		{"Wait nil ctx", "Wait with nil Context", func() { _ = g.Wait(nilCtx) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := panicMessage(tc.call)
			if !strings.HasPrefix(msg, "gate: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %q; want one starting with %q and naming %q", msg, "gate: ", tc.want)
			}
		})
	}
	// The nil checks fire before anything is admitted: the gate is idle.
	if st := g.Stats(); st.ReadsInFlight != 0 || st.StreamsActive != 0 || st.WriteActive {
		t.Fatalf("after the nil calls: %+v", st)
	}
}

// panicMessage runs f and returns what it panicked with, as text, or
// "no panic".
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return "no panic"
}
