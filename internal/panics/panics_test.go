package panics

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestRunReturns(t *testing.T) {
	ran := false
	if err := Run("x: fn", func() { ran = true }, nil); err != nil || !ran {
		t.Fatalf("Run = %v, ran %v; want nil, true", err, ran)
	}
}

func TestRunPanics(t *testing.T) {
	err := Run("x: fn", func() { panic(io.EOF) }, func(*Error) { t.Error("onGoexit called for a panic") })
	if err == nil || err.Goexit || err.Value != io.EOF {
		t.Fatalf("Run = %+v, want the panic value io.EOF", err)
	}
	if !errors.Is(err, io.EOF) {
		t.Error("errors.Is(err, io.EOF) = false, want true")
	}
	msg := err.Error()
	for _, want := range []string{"x: fn panicked: EOF", "TestRunPanics"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to mention %q", msg, want)
		}
	}
}

// A panic with a nil value is a *runtime.PanicNilError since Go 1.21, so it
// is never mistaken for a Goexit.
func TestRunPanicNil(t *testing.T) {
	err := Run("x: fn", func() { panic(nil) }, nil)
	var pn *runtime.PanicNilError
	if err == nil || err.Goexit || !errors.As(err, &pn) {
		t.Fatalf("Run = %+v, want a *runtime.PanicNilError value", err)
	}
}

func TestRunGoexit(t *testing.T) {
	var wg sync.WaitGroup
	var got *Error
	after := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		Run("x: fn", runtime.Goexit, func(e *Error) { got = e })
		after = true
	}()
	wg.Wait()
	if got == nil || !got.Goexit || got.Value != nil {
		t.Fatalf("onGoexit got %+v, want Goexit set", got)
	}
	if after {
		t.Fatal("code after Run ran: the Goexit was stopped")
	}
	if !strings.Contains(got.Error(), "x: fn called runtime.Goexit") {
		t.Errorf("Error() = %q", got.Error())
	}
}
