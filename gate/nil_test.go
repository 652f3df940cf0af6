package gate_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/gate"
)

// TestBadInput calls every exported function and method with each
// argument that can be nil set to nil, one at a time, and every option
// with a value that can never be right: each must panic with a message
// that starts with "gate: " and names the call and the mistake, never
// with a nil-pointer dereference from deep inside.
func TestBadInput(t *testing.T) {
	g := gate.New()
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

		{"New nil option", "New with a nil Option", func() { gate.New(gate.WithReaders(1), nil) }},
		{"WithReaders negative", "WithReaders(-1)", func() { gate.WithReaders(-1) }},
		{"WithReaders zero", "WithReaders(0)", func() { gate.WithReaders(0) }},
		{"WithStreams negative", "WithStreams(-2)", func() { gate.WithStreams(-2) }},
		{"WithStreams zero", "WithStreams(0)", func() { gate.WithStreams(0) }},
		{"WithReadDeadline negative", "WithReadDeadline(-1s)", func() { gate.WithReadDeadline(-time.Second) }},
		{"WithReadDeadline zero", "WithReadDeadline(0s)", func() { gate.WithReadDeadline(0) }},
		{"WithStreamLifetime negative", "WithStreamLifetime(-1ns)", func() { gate.WithStreamLifetime(-1) }},
		{"WithStreamLifetime zero", "WithStreamLifetime(0s)", func() { gate.WithStreamLifetime(0) }},
		{"WithHook nil", "WithHook(nil)", func() { gate.WithHook(nil) }},
		{"WithLogger nil", "WithLogger(nil)", func() { gate.WithLogger((*slog.Logger)(nil)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if msg := conctest.MustPanic(t, tc.call, tc.want); !strings.HasPrefix(msg, "gate: ") {
				t.Fatalf("panic %q does not start with %q", msg, "gate: ")
			}
		})
	}
	// The nil checks fire before anything is admitted: the gate is idle.
	if st := g.Stats(); st.ReadInUse != 0 || st.StreamInUse != 0 || st.WriteInUse != 0 {
		t.Fatalf("after the nil calls: %+v", st)
	}
}
