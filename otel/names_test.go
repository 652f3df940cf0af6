package otel

import (
	"testing"

	"github.com/sluice-go/sluice/debug"
)

func TestInstrumentName(t *testing.T) {
	for _, tc := range []struct {
		kind, field string
		want        string
	}{
		{"sem", "Capacity", "sluice.sem.permits"},
		{"pool", "Capacity", "sluice.pool.capacity"},
		{"sem", "Waiting", "sluice.sem.waiters"},
		{"gate", "StreamWaiting", "sluice.gate.stream_waiters"},
		{"keyed.RWMutex", "WriteWaiting", "sluice.keyed.rwmutex.write_waiters"},
		{"sem", "Admitted", "sluice.sem.admitted"},
		{"gate", "TimedOut", "sluice.gate.timed_out"},
		{"sem", "OldestWait", "sluice.sem.oldest_wait"},
		{"loop", "OffloadInUse", "sluice.loop.offload_in_use"},
		{"mypkg.HTTPThing", "TTLHits", "sluice.mypkg.httpthing.ttl_hits"},
		{"my-pkg.X", "Awaiting", "sluice.my_pkg.x.awaiting"},
	} {
		if got := instrumentName(tc.kind, debug.Figure{Field: tc.field}); got != tc.want {
			t.Errorf("instrumentName(%q, %q) = %q, want %q", tc.kind, tc.field, got, tc.want)
		}
	}
	if got, want := waitsName("keyed.Mutex"), "sluice.keyed.mutex.waits"; got != want {
		t.Errorf("waitsName = %q, want %q", got, want)
	}
	if got, want := waitTimeName("sem"), "sluice.sem.wait_time"; got != want {
		t.Errorf("waitTimeName = %q, want %q", got, want)
	}
	if got, want := help("gate", "ReadWaiting"), "Read lane: callers blocked now, waiting to be admitted."; got != want {
		t.Errorf("help = %q, want %q", got, want)
	}
}
