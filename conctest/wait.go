package conctest

import (
	"runtime"
	"testing"
	"time"
)

// pollEvery is how often WaitFor re-checks its condition. Prefer an event
// (a channel, [Turnstile.WaitEntered]) when the code under test offers one; use
// WaitFor for state that has no event, such as a Stats() field.
const pollEvery = time.Millisecond

// WaitFor re-checks cond until it returns true, and fails t (with every
// goroutine's stack) if that has not happened within d. It blocks on a
// timer between checks, never in time.Sleep, so inside a synctest bubble
// the fake clock advances only when everything else is blocked, and the
// bound is exact. It panics if t or cond is nil.
//
// Outside a bubble d is wall-clock time, and a loaded machine can stretch
// anything: there, use WaitFor only where d is a liveness guard far beyond
// what the condition needs, never to assert how fast something happens.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	switch {
	case t == nil:
		panic("conctest: WaitFor with nil testing.TB")
	case cond == nil:
		panic("conctest: WaitFor with nil cond")
	}
	t.Helper()
	if cond() {
		return
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return
			}
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("conctest: %s: not true within %v\n%s", what, d, Stacks())
		}
	}
}

// NoDeadlock runs fn and fails t with every goroutine's stack if fn has
// not returned within d. fn runs on its own goroutine; if it is still
// stuck when the test fails, it is left behind (the test has failed
// anyway, and the stacks show where it is stuck). It panics if t or fn is
// nil. Outside a testing/synctest bubble d is wall-clock time: the same
// caution as for [WaitFor] applies.
func NoDeadlock(t testing.TB, d time.Duration, what string, fn func()) {
	switch {
	case t == nil:
		panic("conctest: NoDeadlock with nil testing.TB")
	case fn == nil:
		panic("conctest: NoDeadlock with nil fn")
	}
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("conctest: %s: still running after %v (deadlock?)\n%s", what, d, Stacks())
	}
}

// Stacks returns the stacks of all goroutines, as runtime.Stack prints them.
func Stacks() string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}
