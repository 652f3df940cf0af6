package keyed

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestNilArguments calls every exported method with each argument that
// can be nil set to nil, one at a time: each must panic with a message
// that starts with "keyed: " and names the call and the mistake, and must
// leave no entry behind.
func TestNilArguments(t *testing.T) {
	var m Mutex[string]
	var rw RWMutex[string]
	var o Once[string]
	var nilCtx context.Context
	fn := func(context.Context) error { return nil }
	cases := []struct {
		name string
		want string
		call func()
	}{
		{"Mutex.Lock nil ctx", "Mutex.Lock with nil Context", func() { _ = m.Lock(nilCtx, "k") }},
		{"RWMutex.Lock nil ctx", "RWMutex.Lock with nil Context", func() { _ = rw.Lock(nilCtx, "k") }},
		{"RWMutex.RLock nil ctx", "RWMutex.RLock with nil Context", func() { _ = rw.RLock(nilCtx, "k") }},
		{"Once.Do nil ctx", "Once.Do with nil Context", func() { _ = o.Do(nilCtx, "k", fn) }},
		{"Once.Do nil fn", "Once.Do with nil fn", func() { _ = o.Do(context.Background(), "k", nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := panicMessage(tc.call)
			if !strings.HasPrefix(msg, "keyed: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %q; want one starting with %q and naming %q", msg, "keyed: ", tc.want)
			}
		})
	}
	if m.Len() != 0 || rw.Len() != 0 || o.Len() != 0 {
		t.Fatalf("entries left by the nil calls: %d, %d, %d", m.Len(), rw.Len(), o.Len())
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
