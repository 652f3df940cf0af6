package sem

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/conctest"
)

// TestNilArguments calls every exported function and method with each
// argument that can be nil set to nil, one at a time (a nil Context, and a
// nil *Permit, which TryPermit returns when it fails): each must panic
// with a message that starts with "sem: " and names the call and the
// mistake, and must not have taken or queued anything.
func TestNilArguments(t *testing.T) {
	s := New(2)
	var nilCtx context.Context
	var nilPermit *Permit
	cases := []struct {
		name string
		want string
		call func()
	}{
		{"Acquire nil ctx", "Acquire with nil Context", func() { _ = s.Acquire(nilCtx, 1) }},
		{"Acquire nil ctx n=0", "Acquire with nil Context", func() { _ = s.Acquire(nilCtx, 0) }},
		{"Acquire nil ctx n<0", "Acquire with nil Context", func() { _ = s.Acquire(nilCtx, -1) }},
		{"Permit nil ctx", "Permit with nil Context", func() { _, _ = s.Permit(nilCtx, 1) }},
		{"Permit nil ctx n=0", "Permit with nil Context", func() { _, _ = s.Permit(nilCtx, 0) }},
		{"Permit.Release nil", "Release of a nil *Permit", func() { nilPermit.Release() }},
		{"Permit.N nil", "N of a nil *Permit", func() { nilPermit.N() }},
		{"Permit.Released nil", "Released of a nil *Permit", func() { nilPermit.Released() }},
		{"OnWait nil", "OnWait with nil func", func() { s.OnWait(nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := conctest.MustPanic(t, tc.call, tc.want)
			if !strings.HasPrefix(msg, "sem: ") {
				t.Fatalf("panic %q; want one starting with %q and naming %q", msg, "sem: ", tc.want)
			}
		})
	}
	if st := s.Stats(); st != (Stats{Capacity: 2}) {
		t.Fatalf("after the nil calls: %+v", st)
	}
}

// TestBadInputPanics covers the other bad input: sizes that are not
// positive or too large, negative counts, and releasing more than is
// held. Each panics with a message that starts with "sem: " and names the
// mistake, and leaves the semaphore as it was.
func TestBadInputPanics(t *testing.T) {
	ctx := context.Background()
	s := New(2)
	cases := []struct {
		name string
		want string
		call func()
	}{
		{"New zero", "size must be positive", func() { New(0) }},
		{"New negative", "size must be positive", func() { New(-3) }},
		{"New MinInt64", "size must be positive", func() { New(math.MinInt64) }},
		{"New over MaxSize", "MaxSize", func() { New(MaxSize + 1) }},
		{"New MaxInt64", "MaxSize", func() { New(math.MaxInt64) }},
		{"Acquire negative", "negative count", func() { _ = s.Acquire(ctx, -1) }},
		{"TryAcquire negative", "negative count", func() { s.TryAcquire(-1) }},
		{"Release negative", "negative count", func() { s.Release(-1) }},
		{"Permit negative", "negative count", func() { _, _ = s.Permit(ctx, -1) }},
		{"TryPermit negative", "TryPermit(-1): negative count", func() { s.TryPermit(-1) }},
		{"nil Permit Release", "nil *Permit", func() { var p *Permit; p.Release() }},
		{"Acquire nil ctx", "nil Context", func() { _ = s.Acquire(nil, 1) }},  //nolint:staticcheck // testing nil ctx
		{"Permit nil ctx", "nil Context", func() { _, _ = s.Permit(nil, 1) }}, //nolint:staticcheck
		{"Release unheld", "only 0 permits held", func() { s.Release(1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := conctest.MustPanic(t, tc.call, tc.want)
			if !strings.HasPrefix(msg, "sem: ") {
				t.Fatalf("panic %q; want a message starting with %q and mentioning %q", msg, "sem: ", tc.want)
			}
		})
	}
	if !s.TryAcquire(1) {
		t.Fatal("TryAcquire(1) on a free semaphore failed")
	}
	msg := conctest.MustPanic(t, func() { s.Release(2) }, "Release(2) with only 1")
	if !strings.HasPrefix(msg, "sem: ") {
		t.Fatalf("panic %q does not start with %q", msg, "sem: ")
	}
	s.Release(1)
	if st := s.Stats(); st.InUse != 0 {
		t.Fatalf("InUse = %d after the panicking releases; want 0", st.InUse)
	}
}
