package gate_test

import (
	"math"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/gate"
)

// A size too large for the gate's semaphores panics naming the gate and
// the option, not the semaphore underneath.
func TestOptionSizeTooLarge(t *testing.T) {
	for name, opt := range map[string]func(int) gate.Option{
		"WithReaders": gate.WithReaders,
		"WithStreams": gate.WithStreams,
	} {
		conctest.MustPanic(t, func() { opt(math.MaxInt) }, "gate: ", name, "at most")
	}
}

// Options set what they name; the last of two of a kind wins; the rest
// keep their defaults.
func TestOptions(t *testing.T) {
	g := gate.New(gate.WithReaders(3), gate.WithStreams(1), gate.WithStreams(2))
	defer g.Close()
	if st := g.Stats(); st.ReadCapacity != 3 || st.StreamCapacity != 2 {
		t.Fatalf("Stats = %+v, want 3 read permits and 2 stream slots", st)
	}
	d := gate.New()
	defer d.Close()
	if st := d.Stats(); st.ReadCapacity != gate.DefaultReaders || st.StreamCapacity != gate.DefaultStreams {
		t.Fatalf("defaults: Stats = %+v", st)
	}
	_ = gate.WithReadDeadline(time.Nanosecond) // the smallest positive values are fine
	_ = gate.WithStreamLifetime(time.Nanosecond)
}
