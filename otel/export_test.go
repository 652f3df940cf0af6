package otel

import "go.opentelemetry.io/otel/metric"

// WaitSync waits until no sync goroutine of r runs. Call it only while
// nothing collects: a collection may start another.
func WaitSync(r metric.Registration) { r.(*exporter).wg.Wait() }
