package queue

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/conctest"
)

// Every exported function and method, called with each of its nil-able
// arguments nil (or on a zero value where that is the mistake), panics
// with a message that starts with "queue: " and names the call and the
// mistake.
func TestNilArguments(t *testing.T) {
	q := New[int](1)
	var nilCtx context.Context
	tests := []struct {
		want string
		call func()
	}{
		{"Reserve with nil Context", func() { q.Reserve(nilCtx) }},
		{"Put with nil Context", func() { q.Put(nilCtx, 1) }},
		{"Recv with nil Context", func() { q.Recv(nilCtx) }},
		{"Send on a zero Reservation", func() { Reservation[int]{}.Send(1) }},
	}
	for _, tt := range tests {
		if msg := conctest.MustPanic(t, tt.call, tt.want); !strings.HasPrefix(msg, "queue: ") {
			t.Fatalf("panic %q, want one starting with \"queue: \" and containing %q", msg, tt.want)
		}
	}
	// The calls that panicked took nothing.
	if got := q.Stats(); got != (Stats{Capacity: 1}) {
		t.Fatalf("Stats after the bad calls = %+v", got)
	}
	if err := q.TryPut(1); err != nil {
		t.Fatalf("TryPut after the bad calls: %v", err)
	}
}

// TestBadInput covers the rest of the bad input: capacities that are not
// positive, and a Reservation used twice. The zero Reservation and Item
// are not mistakes to Cancel and Done: they report false.
func TestBadInput(t *testing.T) {
	q := New[int](2)
	used, err := q.TryReserve()
	if err != nil {
		t.Fatal(err)
	}
	if err := used.Send(1); err != nil {
		t.Fatal(err)
	}
	cancelled, err := q.TryReserve()
	if err != nil {
		t.Fatal(err)
	}
	cancelled.Cancel()
	tests := []struct {
		want string
		call func()
	}{
		{"capacity must be positive", func() { New[int](0) }},
		{"capacity must be positive", func() { New[int](-3) }},
		{"capacity must be positive", func() { New[int](math.MinInt) }},
		{"nil Context", func() { q.Reserve(nil) }}, //nolint:staticcheck
		{"nil Context", func() { q.Recv(nil) }},    //nolint:staticcheck
		{"nil Context", func() { q.Put(nil, 1) }},  //nolint:staticcheck
		{"OnWait with nil func", func() { q.OnWait(nil) }},
		{"zero Reservation", func() { Reservation[int]{}.Send(1) }},
		{"already sent or cancelled", func() { used.Send(2) }},
		{"already sent or cancelled", func() { cancelled.Send(3) }},
	}
	for _, tt := range tests {
		if msg := conctest.MustPanic(t, tt.call, tt.want); !strings.HasPrefix(msg, "queue: ") {
			t.Fatalf("panic %q, want one starting with \"queue: \" and containing %q", msg, tt.want)
		}
	}
	if (Reservation[int]{}).Cancel() {
		t.Fatal("Cancel on a zero Reservation returned true")
	}
	if (Item[int]{}).Done() {
		t.Fatal("Done on a zero Item returned true")
	}
	if got := q.Stats(); got != (Stats{Capacity: 2, Queued: 1, Admitted: 2}) {
		t.Fatalf("Stats after the bad calls = %+v", got)
	}
}
