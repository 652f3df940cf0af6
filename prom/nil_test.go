package prom_test

import (
	"testing"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/prom"
)

// Bad input panics with a message that names the package and the mistake.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func()
		want []string
	}{
		{"NewCollector(nil)", func() { prom.NewCollector(nil) }, []string{"prom: NewCollector", "nil *debug.Registry"}},
	} {
		t.Run(tc.name, func(t *testing.T) { conctest.MustPanic(t, tc.fn, tc.want...) })
	}
}
