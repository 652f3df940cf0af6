package prom_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/prom"
	"github.com/sluice-go/sluice/sem"
)

// A sem exported to Prometheus on /metrics and shown on the debug page at
// /debug/sluice/, both served on a loopback listener only.
func Example() {
	reg := debug.NewRegistry()
	db := sem.New(8)
	if err := reg.Register("db", db); err != nil {
		fmt.Println(err)
		return
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(prom.NewCollector(reg))

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.Handle("/debug/sluice/", http.StripPrefix("/debug/sluice", reg.Handler()))
	// httptest listens on 127.0.0.1; a program would say
	// http.ListenAndServe("127.0.0.1:6060", mux).
	srv := httptest.NewServer(mux)
	defer srv.Close()

	if err := db.Acquire(context.Background(), 3); err != nil {
		fmt.Println(err)
		return
	}
	defer db.Release(3)

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "sluice_sem_permits") || strings.HasPrefix(line, "sluice_sem_in_use") {
			fmt.Println(line)
		}
	}
	resp.Body.Close()

	resp, err = srv.Client().Get(srv.URL + "/debug/sluice/?format=json")
	if err != nil {
		fmt.Println(err)
		return
	}
	var entries []debug.Entry
	err = json.NewDecoder(resp.Body).Decode(&entries)
	resp.Body.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range entries {
		fmt.Println("debug page:", e.Kind, e.Name)
	}
	// Output:
	// sluice_sem_in_use{name="db"} 3
	// sluice_sem_permits{name="db"} 8
	// debug page: sem db
}
