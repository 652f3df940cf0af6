package conctest

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyTestMain runs the package's tests and then fails the run if any
// goroutine started by them is still alive. Use it as the whole body of
// TestMain:
//
//	func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }
//
// It panics if m is nil.
func VerifyTestMain(m *testing.M) {
	if m == nil {
		panic("conctest: VerifyTestMain with nil *testing.M")
	}
	goleak.VerifyTestMain(m)
}

// CheckLeaks registers a cleanup that fails t if goroutines started during
// the test are still running when it ends. Goroutines that were already
// running when CheckLeaks was called are ignored, so it is safe in parallel
// packages as long as the test itself is not parallel. It panics if t is
// nil.
func CheckLeaks(t testing.TB) {
	if t == nil {
		panic("conctest: CheckLeaks with nil testing.TB")
	}
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := goleak.Find(opt); err != nil {
			t.Errorf("conctest: goroutine leak: %v", err)
		}
	})
}
