package gate_test

import (
	"math"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/gate"
)

// A size too large for the gate's semaphores panics naming the gate and
// the field, not the semaphore underneath.
func TestBadInputTooLarge(t *testing.T) {
	for _, tc := range []struct {
		field string
		cfg   gate.Config
	}{
		{"Config.Readers", gate.Config{Readers: math.MaxInt}},
		{"Config.Streams", gate.Config{Streams: math.MaxInt}},
	} {
		func() {
			defer func() {
				s, _ := recover().(string)
				if !strings.HasPrefix(s, "gate: ") || !strings.Contains(s, tc.field) {
					t.Errorf("New with %s = MaxInt: panic %q, want a gate panic naming %s", tc.field, s, tc.field)
				}
			}()
			gate.New(tc.cfg)
		}()
	}
}
