package gate

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrDeadline matches (with errors.Is) every deadline error the gate
// returns. It also matches [context.DeadlineExceeded], so code that
// checks for the standard error keeps working.
var ErrDeadline error = &DeadlineError{}

// DeadlineError is returned when a read's deadline, or a stream's
// admission deadline, passes before the call is done. errors.Is matches it
// against [ErrDeadline] and [context.DeadlineExceeded].
type DeadlineError struct {
	Op      string        // the name set with Op, or ""
	Lane    string        // "read" or "stream"
	Limit   time.Duration // the deadline, from the call
	Waiting bool          // it passed while waiting for a permit or slot, not while fn ran
}

func (e *DeadlineError) Error() string {
	if e.Lane == "" {
		return "gate: deadline exceeded"
	}
	op := ""
	if e.Op != "" {
		op = e.Op + ": "
	}
	where := "while fn ran"
	if e.Waiting {
		where = "while waiting for admission"
	}
	return fmt.Sprintf("gate: %s%s deadline (%v) exceeded %s", op, e.Lane, e.Limit, where)
}

// Is reports whether target is ErrDeadline or context.DeadlineExceeded.
func (e *DeadlineError) Is(target error) bool {
	return target == ErrDeadline || target == context.DeadlineExceeded
}

// Timeout reports true, as net.Error's Timeout does.
func (e *DeadlineError) Timeout() bool { return true }

func newDeadlineError(wctx context.Context, start time.Time, lane string, waiting bool) *DeadlineError {
	var limit time.Duration
	if dl, ok := wctx.Deadline(); ok {
		limit = dl.Sub(start)
	}
	return &DeadlineError{Op: OpName(wctx), Lane: lane, Limit: limit, Waiting: waiting}
}

// PanicError carries a panic out of the goroutine that ran fn. [Gate.Read]
// re-panics with it on the caller's goroutine; Config.Hook receives it for
// panics that have no caller.
type PanicError struct {
	Op    string // the name set with Op, or ""
	Value any    // what fn panicked with
	Stack []byte // fn's goroutine stack at the panic
}

func (p *PanicError) Error() string {
	op := ""
	if p.Op != "" {
		op = p.Op + ": "
	}
	return fmt.Sprintf("gate: %sfn panicked: %v\n\n%s", op, p.Value, p.Stack)
}

// Unwrap returns the panic value if it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// newPanicError must be called from the deferred function that recovered,
// so that the stack still shows where fn panicked.
func newPanicError(op string, v any) *PanicError {
	return &PanicError{Op: op, Value: v, Stack: debug.Stack()}
}
