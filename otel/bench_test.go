package otel_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/guard"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/queue"
	"github.com/sluice-go/sluice/run"
	"github.com/sluice-go/sluice/sem"
)

// BenchmarkCollect1000 is one collection of 1,000 registered primitives,
// an even mix of eight kinds, through the SDK's ManualReader.
func BenchmarkCollect1000(b *testing.B) {
	reg := debug.NewRegistry()
	var all []closer
	for i := range 1000 {
		var p closer
		switch i % 8 {
		case 0:
			p = sem.New(8)
		case 1:
			p = queue.New[int](8)
		case 2:
			p = new(keyed.Mutex[string])
		case 3:
			p = guard.New(0)
		case 4:
			p = gate.New()
		case 5:
			p = new(run.Guard)
		case 6:
			p = keyed.NewCache(func(context.Context, int) (int, error) { return 0, nil }, func(int) bool { return true })
		case 7:
			p = pool.New(context.Background(), 4)
		}
		if err := reg.Register(fmt.Sprintf("p%04d", i), p); err != nil {
			b.Fatal(err)
		}
		all = append(all, p)
	}
	b.Cleanup(func() { closeAll(b, all) })
	meter, rdr := newMeter(b)
	register(b, meter, reg)
	var rm metricdata.ResourceMetrics
	b.ReportAllocs()
	for b.Loop() {
		if err := rdr.Collect(context.Background(), &rm); err != nil {
			b.Fatal(err)
		}
	}
}
