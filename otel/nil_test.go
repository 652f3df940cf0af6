package otel_test

import (
	"testing"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/otel"
)

// Bad input panics with a message that names the package and the mistake.
func TestBadInput(t *testing.T) {
	meter := noop.NewMeterProvider().Meter("x")
	for _, tc := range []struct {
		name string
		fn   func()
		want []string
	}{
		{"Register(nil meter)", func() { _, _ = otel.Register(nil, debug.NewRegistry()) }, []string{"otel: Register", "nil metric.Meter"}},
		{"Register(nil registry)", func() { _, _ = otel.Register(meter, nil) }, []string{"otel: Register", "nil *debug.Registry"}},
	} {
		t.Run(tc.name, func(t *testing.T) { conctest.MustPanic(t, tc.fn, tc.want...) })
	}
}

// Register on a no-op meter works and does nothing.
func TestNoopMeter(t *testing.T) {
	reg := debug.NewRegistry()
	if err := reg.Register("x", new(WidgetA)); err != nil {
		t.Fatal(err)
	}
	r, err := otel.Register(noop.NewMeterProvider().Meter("x"), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Unregister(); err != nil {
		t.Fatal(err)
	}
}
