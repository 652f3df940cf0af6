package conctest

import (
	"fmt"
	"strings"
	"testing"
)

// MustPanic runs fn and fails t unless fn panics with a value whose
// message (fmt.Sprint of the value) contains every one of want. It returns
// that message, so a test can check more. It panics if t or fn is nil.
func MustPanic(t testing.TB, fn func(), want ...string) (msg string) {
	if t == nil || fn == nil {
		panic("conctest: MustPanic with nil testing.TB or nil fn")
	}
	t.Helper()
	panicked := true
	func() {
		defer func() {
			if panicked {
				msg = fmt.Sprint(recover())
			}
		}()
		fn()
		panicked = false
	}()
	if !panicked {
		t.Fatalf("no panic, want one mentioning %q", want)
		return ""
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Fatalf("panic %q does not mention %q", msg, w)
		}
	}
	return msg
}
