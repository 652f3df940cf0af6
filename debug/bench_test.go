package debug_test

import (
	"fmt"
	"testing"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/sem"
)

// BenchmarkSnapshot1000 reads 1,000 registered semaphores: the cost of one
// page refresh or one exporter scrape.
func BenchmarkSnapshot1000(b *testing.B) {
	reg := debug.NewRegistry()
	for i := range 1000 {
		if err := reg.Register(fmt.Sprintf("sem%04d", i), sem.New(8)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(reg.Snapshot()); n != 1000 {
			b.Fatal(n)
		}
	}
}
