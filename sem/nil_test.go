package sem

import (
	"context"
	"fmt"
	"strings"
	"testing"
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
		{"Permit nil ctx", "Permit with nil Context", func() { _, _ = s.Permit(nilCtx, 1) }},
		{"Permit.Release nil", "Release of a nil *Permit", func() { nilPermit.Release() }},
		{"Permit.N nil", "N of a nil *Permit", func() { nilPermit.N() }},
		{"Permit.Released nil", "Released of a nil *Permit", func() { nilPermit.Released() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := panicMessage(tc.call)
			if !strings.HasPrefix(msg, "sem: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %q; want one starting with %q and naming %q", msg, "sem: ", tc.want)
			}
		})
	}
	if st := s.Stats(); st != (Stats{Size: 2}) {
		t.Fatalf("after the nil calls: %+v", st)
	}
}

func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return "no panic"
}
