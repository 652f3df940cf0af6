package run

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-go/sluice/internal/panics"
)

// ErrRunning is returned by [Guard.Do] in [Reject] mode while a run is in
// progress.
var ErrRunning = errors.New("run: a run is already in progress")

// ErrPanicked is matched (errors.Is) by the error that calls waiting for a
// run get when that run's fn panicked or called runtime.Goexit; the same
// error matches [*PanicError] (errors.As).
var ErrPanicked = errors.New("run: the run panicked")

// ErrClosed is returned by Do once the Guard or Keyed has been closed, and
// by the calls that were waiting when it was.
var ErrClosed = errors.New("run: closed")

// PanicError reports a run's fn that panicked or called runtime.Goexit;
// the calls waiting for that run get it, wrapped with [ErrPanicked]. It is
// the PanicError of every sluice package.
type PanicError = panics.Error

// The runtime/trace regions around the waits that block. Only a call that
// must wait opens one, and only while tracing is on.
const (
	regionGuardDo = "sluice/run: Guard.Do wait"
	regionKeyedDo = "sluice/run: Keyed.Do wait"
)

// Mode says what [Guard.Do] does when a run is already in progress.
type Mode int

const (
	// Reject returns ErrRunning at once. It does so also while a trailing
	// run (see Again) has been handed to one of its waiters and has not
	// started yet; if every waiter for it then leaves, that run does not
	// happen, so a Reject call in that moment is not covered by any run.
	Reject Mode = iota + 1
	// Join waits for the run in progress and returns its result.
	Join
	// Again waits for a run that starts after this call began: the
	// trailing run that every call arriving during the current run
	// shares.
	Again
)

func (m Mode) String() string {
	switch m {
	case Reject:
		return "Reject"
	case Join:
		return "Join"
	case Again:
		return "Again"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// checkDo panics, naming method, on a nil ctx or fn or an unknown mode.
func checkDo(method string, ctx context.Context, mode Mode, fn func(context.Context) error) {
	if ctx == nil {
		panic("run: " + method + " with nil Context")
	}
	if fn == nil {
		panic("run: " + method + " with nil func")
	}
	if mode != Reject && mode != Join && mode != Again {
		panic(fmt.Sprintf("run: %s with invalid %v", method, mode))
	}
}
