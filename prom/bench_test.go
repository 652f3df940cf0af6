package prom_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/guard"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/prom"
	"github.com/sluice-go/sluice/queue"
	"github.com/sluice-go/sluice/run"
	"github.com/sluice-go/sluice/sem"
)

// thousand registers 1,000 primitives, an even mix of eight kinds.
func thousand(b *testing.B) *debug.Registry {
	b.Helper()
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
	return reg
}

// BenchmarkScrape1000 is one Gather of 1,000 registered primitives: every
// Stats call, every metric built, the families sorted and checked. The
// target is under 10ms.
func BenchmarkScrape1000(b *testing.B) {
	preg := prometheus.NewRegistry()
	preg.MustRegister(prom.NewCollector(thousand(b)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := preg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrape1000HTTP is the same scrape as Prometheus makes it: over
// promhttp, encoded as text (the server end only; no network).
func BenchmarkScrape1000HTTP(b *testing.B) {
	preg := prometheus.NewRegistry()
	preg.MustRegister(prom.NewCollector(thousand(b)))
	h := promhttp.HandlerFor(preg, promhttp.HandlerOpts{})
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
