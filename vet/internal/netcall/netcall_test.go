package netcall_test

import (
	"testing"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/vet/internal/netcall"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// The classification itself is tested through vet/notimeout's testdata
// (every rule, positive and negative); this checks the chain-name helper
// the other analyzers use.
func TestIsCallName(t *testing.T) {
	for name, want := range map[string]bool{
		"http.Post":             true,
		"(*http.Client).Do":     true,
		"net.Dial":              true,
		"tls.Dial":              true,
		"(*net.Dialer).Dial":    true,
		"WaitGroup.Wait":        false,
		"time.Sleep":            false,
		"validateWithPayloads":  false,
		"<-ch":                  false,
		"sem.Semaphore.Acquire": false,
	} {
		if got := netcall.IsCallName(name); got != want {
			t.Errorf("IsCallName(%q) = %v, want %v", name, got, want)
		}
	}
}
