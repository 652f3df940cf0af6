package otel_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/otel"
	"github.com/sluice-go/sluice/sem"
)

// A sem's figures through OpenTelemetry. A program would give the meter
// provider a periodic reader and an exporter; the example reads by hand.
func Example() {
	reg := debug.NewRegistry()
	db := sem.New(8)
	if err := reg.Register("db", db); err != nil {
		fmt.Println(err)
		return
	}

	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	r, err := otel.Register(provider.Meter("example"), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Unregister()

	if err := db.Acquire(context.Background(), 3); err != nil {
		fmt.Println(err)
		return
	}
	defer db.Release(3)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			g, ok := m.Data.(metricdata.Gauge[int64])
			if !ok || (m.Name != "sluice.sem.permits" && m.Name != "sluice.sem.in_use") {
				continue
			}
			for _, dp := range g.DataPoints {
				name, _ := dp.Attributes.Value("name")
				fmt.Printf("%s{name=%s} %d\n", m.Name, name.AsString(), dp.Value)
			}
		}
	}
	// Unordered output:
	// sluice.sem.permits{name=db} 8
	// sluice.sem.in_use{name=db} 3
}
