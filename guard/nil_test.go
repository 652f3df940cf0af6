package guard_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/guard"
)

// TestBadInput calls every exported function and method with each
// argument that can be nil (the receiver included) set to nil, one at a
// time: each must panic with a message that starts with "guard: " and
// names the call and the mistake, and must leave the guard free.
func TestBadInput(t *testing.T) {
	v, rw := guard.New(0), guard.NewRW(0)
	serial, conc := guard.Serial(new(int)), guard.Concurrent(new(int))
	ctx := context.Background()
	var nilCtx context.Context
	fn := func(context.Context, *int) error { return nil }
	var nilFn func(context.Context, *int) error
	var nilV *guard.Value[int]
	var nilRW *guard.RW[int]
	cases := []struct {
		name string
		want string
		call func()
	}{
		{"Detach nil ctx", "Detach with nil Context", func() { guard.Detach(nilCtx) }},
		{"Value.Do nil ctx", "Value.Do with nil Context", func() { _ = v.Do(nilCtx, fn) }},
		{"Value.Do nil fn", "Value.Do with nil func", func() { _ = v.Do(ctx, nilFn) }},
		{"RW.Read nil ctx", "RW.Read with nil Context", func() { _ = rw.Read(nilCtx, fn) }},
		{"RW.Read nil fn", "RW.Read with nil func", func() { _ = rw.Read(ctx, nilFn) }},
		{"RW.Write nil ctx", "RW.Write with nil Context", func() { _ = rw.Write(nilCtx, fn) }},
		{"RW.Write nil fn", "RW.Write with nil func", func() { _ = rw.Write(ctx, nilFn) }},
		{"Serial nil pointer", "Serial with a nil client", func() { guard.Serial[*int](nil) }},
		{"Serial nil interface", "Serial with a nil client", func() { guard.Serial[any](nil) }},
		{"Serial nil map", "Serial with a nil client", func() { guard.Serial[map[string]int](nil) }},
		{"Concurrent nil pointer", "Concurrent with a nil client", func() { guard.Concurrent[*http.Client](nil) }},
		{"Concurrent nil func", "Concurrent with a nil client", func() { guard.Concurrent[func()](nil) }},
		{"Serial Access.Do nil ctx", "Access.Do with nil Context", func() { _ = serial.Do(nilCtx, fn) }},
		{"Serial Access.Do nil fn", "Access.Do with nil func", func() { _ = serial.Do(ctx, nilFn) }},
		{"Concurrent Access.Do nil ctx", "Access.Do with nil Context", func() { _ = conc.Do(nilCtx, fn) }},
		{"Concurrent Access.Do nil fn", "Access.Do with nil func", func() { _ = conc.Do(ctx, nilFn) }},
		{"nil Value Do", "Value.Do on a nil receiver", func() { _ = nilV.Do(ctx, fn) }},
		{"nil Value Close", "Value.Close on a nil receiver", func() { nilV.Close() }},
		{"nil Value Stats", "Value.Stats on a nil receiver", func() { nilV.Stats() }},
		{"nil RW Read", "RW.Read on a nil receiver", func() { _ = nilRW.Read(ctx, fn) }},
		{"nil RW Write", "RW.Write on a nil receiver", func() { _ = nilRW.Write(ctx, fn) }},
		{"nil RW Close", "RW.Close on a nil receiver", func() { nilRW.Close() }},
		{"nil RW Stats", "RW.Stats on a nil receiver", func() { nilRW.Stats() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if msg := conctest.MustPanic(t, tc.call, tc.want); !strings.HasPrefix(msg, "guard: ") {
				t.Fatalf("panic %q does not start with %q", msg, "guard: ")
			}
		})
	}
	if st := v.Stats(); st != (guard.Stats{}) {
		t.Fatalf("Value after the nil calls: %+v", st)
	}
	if st := rw.Stats(); st != (guard.RWStats{}) {
		t.Fatalf("RW after the nil calls: %+v", st)
	}
	if st := serial.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("Serial after the nil calls: %+v", st)
	}

	// New and NewRW hold a value the callbacks may replace, so a nil
	// starting value is allowed; values that are not nillable never panic.
	for name, f := range map[string]func(){
		"New nil map":      func() { guard.New[map[string]int](nil) },
		"NewRW nil ptr":    func() { guard.NewRW[*int](nil) },
		"Serial int":       func() { guard.Serial(0) },
		"Concurrent slice": func() { guard.Concurrent[[]int](nil) },
	} {
		t.Run(name, func(t *testing.T) { f() }) // must not panic
	}
}
