package prom

import (
	"testing"

	"github.com/sluice-go/sluice/debug"
)

func TestMetricName(t *testing.T) {
	for _, tc := range []struct {
		kind, field      string
		counter, seconds bool
		want             string
	}{
		{"sem", "Capacity", false, false, "sluice_sem_permits"},
		{"pool", "Capacity", false, false, "sluice_pool_capacity"},
		{"gate", "ReadCapacity", false, false, "sluice_gate_read_capacity"},
		{"sem", "InUse", false, false, "sluice_sem_in_use"},
		{"sem", "Waiting", false, false, "sluice_sem_waiters"},
		{"gate", "StreamWaiting", false, false, "sluice_gate_stream_waiters"},
		{"keyed.RWMutex", "WriteWaiting", false, false, "sluice_keyed_rwmutex_write_waiters"},
		{"sem", "Admitted", true, false, "sluice_sem_admitted_total"},
		{"gate", "TimedOut", true, false, "sluice_gate_timed_out_total"},
		{"loop", "SlowReports", true, false, "sluice_loop_slow_reports_total"},
		{"sem", "OldestWait", false, true, "sluice_sem_oldest_wait_seconds"},
		{"gate", "ReadOldestWait", false, true, "sluice_gate_read_oldest_wait_seconds"},
		{"keyed.Mutex", "Closed", false, false, "sluice_keyed_mutex_closed"},
		{"keyed.Cache", "Fetching", false, false, "sluice_keyed_cache_fetching"},
		{"guard.Access", "Serial", false, false, "sluice_guard_access_serial"},
		{"mypkg.HTTPThing", "TTLHits", true, false, "sluice_mypkg_httpthing_ttl_hits_total"},
		{"my-pkg.X", "Awaiting", false, false, "sluice_my_pkg_x_awaiting"},
	} {
		f := debug.Figure{Field: tc.field, Counter: tc.counter, Seconds: tc.seconds}
		if got := metricName(tc.kind, f); got != tc.want {
			t.Errorf("metricName(%q, %q) = %q, want %q", tc.kind, tc.field, got, tc.want)
		}
	}
	if got, want := waitName("keyed.Mutex"), "sluice_keyed_mutex_wait_seconds"; got != want {
		t.Errorf("waitName = %q, want %q", got, want)
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct{ kind, field, want string }{
		{"sem", "Capacity", "Permits in all."},
		{"pool", "Capacity", "How many may hold the resource at once (permits, slots, room)."},
		{"gate", "ReadWaiting", "Read lane: callers blocked now, waiting to be admitted."},
		{"loop", "OffloadInUse", "Offload lane: how many hold the resource now."},
		{"keyed.Once", "Done", "Keys whose success is remembered."},
		{"pool", "Done", "1 once Wait has returned, else 0."},
		{"x.Y", "Zap", "The x.Y Stats field Zap."},
	} {
		if got := help(tc.kind, tc.field); got != tc.want {
			t.Errorf("help(%q, %q) = %q, want %q", tc.kind, tc.field, got, tc.want)
		}
	}
	for field, h := range helps {
		if h == "" || h[len(h)-1] != '.' {
			t.Errorf("help of %s: %q", field, h)
		}
	}
}
