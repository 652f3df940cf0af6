package queue

import (
	"testing"
)

// Every exported function and method, called with each of its nil-able
// arguments nil (or on a zero value where that is the mistake), panics
// with a message that starts with "queue: " and names the call and the
// mistake.
func TestNilArguments(t *testing.T) {
	q := New[int](1)
	tests := []struct {
		want string
		call func()
	}{
		{"Reserve with nil Context", func() { q.Reserve(nil) }}, //nolint:staticcheck
		{"Put with nil Context", func() { q.Put(nil, 1) }},      //nolint:staticcheck
		{"Recv with nil Context", func() { q.Recv(nil) }},       //nolint:staticcheck
		{"Send on a zero Reservation", func() { Reservation[int]{}.Send(1) }},
	}
	for _, tt := range tests {
		mustPanic(t, tt.want, tt.call)
	}
	// The calls that panicked took nothing.
	if got := q.Stats(); got != (Stats{Capacity: 1}) {
		t.Fatalf("Stats after the bad calls = %+v", got)
	}
	if err := q.TryPut(1); err != nil {
		t.Fatalf("TryPut after the bad calls: %v", err)
	}
}
