package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/internal/panics"
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

// PanicError reports a fn that panicked or called runtime.Goexit. It is
// sluice's one PanicError (an alias: errors.As with a *pool.PanicError
// target matches it too). Its Op names the lane and the name set with
// [Op], as in `gate: read "fetch"`. [Gate.Read] re-panics with it on the
// caller's goroutine (or returns it, after a Goexit); the hook receives it
// for panics that have no caller.
type PanicError = panics.Error
