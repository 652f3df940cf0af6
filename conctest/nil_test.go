package conctest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNilArguments calls every exported function and method with each
// argument that can be nil set to nil, one at a time: each must panic with
// a message that starts with "conctest: " and names the call and the
// mistake. None of them may get as far as starting a goroutine.
func TestNilArguments(t *testing.T) {
	g := NewTurnstile()
	g.Open() // an open turnstile must still refuse a nil ctx
	var nilCtx context.Context
	var nilTB testing.TB
	cases := []struct {
		name string
		want string
		call func()
	}{
		{"VerifyTestMain nil m", "VerifyTestMain with nil *testing.M", func() { VerifyTestMain(nil) }},
		{"CheckLeaks nil t", "CheckLeaks with nil testing.TB", func() { CheckLeaks(nilTB) }},
		{"WaitFor nil t", "WaitFor with nil testing.TB", func() { WaitFor(nilTB, time.Second, "x", func() bool { return true }) }},
		{"WaitFor nil cond", "WaitFor with nil cond", func() { WaitFor(t, time.Second, "x", nil) }},
		{"NoDeadlock nil t", "NoDeadlock with nil testing.TB", func() { NoDeadlock(nilTB, time.Second, "x", func() {}) }},
		{"NoDeadlock nil fn", "NoDeadlock with nil fn", func() { NoDeadlock(t, time.Second, "x", nil) }},
		{"Seed nil t", "Seed with nil testing.TB", func() { Seed(nilTB) }},
		{"Turnstile.Pass nil ctx", "Turnstile.Pass with nil Context", func() { _ = g.Pass(nilCtx) }},
		{"Turnstile.WaitEntered nil ctx", "Turnstile.WaitEntered with nil Context", func() { _ = g.WaitEntered(nilCtx, 0) }},
		{"Turnstile.WaitBlocked nil ctx", "Turnstile.WaitBlocked with nil Context", func() { _ = g.WaitBlocked(nilCtx, 0) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := panicMessage(tc.call)
			if !strings.HasPrefix(msg, "conctest: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %q; want one starting with %q and naming %q", msg, "conctest: ", tc.want)
			}
		})
	}
	if g.Entered() != 0 {
		t.Fatalf("a nil-ctx Pass entered the turnstile: %d entered", g.Entered())
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

// seedTB records what Seed does with its testing.TB: the cleanup it
// registers, what it logs, and whether it fails the test.
type seedTB struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	cleanups []func()
	logs     []string
	fatal    string
}

func (s *seedTB) Helper()                 {}
func (s *seedTB) Cleanup(f func())        { s.cleanups = append(s.cleanups, f) }
func (s *seedTB) Failed() bool            { s.mu.Lock(); defer s.mu.Unlock(); return s.failed }
func (s *seedTB) Logf(f string, a ...any) { s.logs = append(s.logs, fmt.Sprintf(f, a...)) }
func (s *seedTB) Fatalf(f string, a ...any) {
	s.mu.Lock()
	s.failed, s.fatal = true, fmt.Sprintf(f, a...)
	s.mu.Unlock()
	panic(fatal{})
}

func (s *seedTB) end() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
}

func TestSeedFromEnv(t *testing.T) {
	t.Setenv(SeedEnv, "-42")
	passing := &seedTB{TB: t}
	if got := Seed(passing); got != -42 {
		t.Fatalf("Seed = %d with %s=-42", got, SeedEnv)
	}
	passing.end()
	if len(passing.logs) != 0 {
		t.Fatalf("a passing test logged %q", passing.logs)
	}

	failing := &seedTB{TB: t}
	_ = Seed(failing)
	failing.failed = true
	failing.end()
	if want := "seed -42 (replay with SLUICE_SEED=-42)"; len(failing.logs) != 1 || failing.logs[0] != want {
		t.Fatalf("a failing test logged %q; want %q", failing.logs, want)
	}
}

func TestSeedBadEnv(t *testing.T) {
	t.Setenv(SeedEnv, "12abc")
	r := &seedTB{TB: t}
	catchFatal(func() { Seed(r) })
	if !strings.HasPrefix(r.fatal, "conctest: SLUICE_SEED=\"12abc\"") {
		t.Fatalf("fatal %q", r.fatal)
	}
}

func TestSeedFresh(t *testing.T) {
	t.Setenv(SeedEnv, "")
	// Two fresh seeds are equal with probability 2^-63; a repeat means the
	// source is not random (as the clock inside a bubble would not be).
	a, b := Seed(t), Seed(t)
	if a == b {
		t.Fatalf("two fresh seeds are both %d", a)
	}
}
