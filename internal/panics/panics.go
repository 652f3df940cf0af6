// Package panics runs a function and reports how it ended: it returned, it
// panicked, or it called runtime.Goexit. It holds sluice's one PanicError,
// which each package that reports panics exports as an alias.
package panics

import (
	"fmt"
	"runtime/debug"
)

// Error reports a function that panicked or called runtime.Goexit instead
// of returning. It is the PanicError of every sluice package (pool.PanicError,
// gate.PanicError, ... are aliases of it), so one errors.As target matches
// a panic from any of them.
type Error struct {
	// Op says what panicked, starting with the package's name, for
	// example "pool: task" or `gate: read "fetch"`.
	Op string
	// Value is the value passed to panic; nil when Goexit is true.
	Value any
	// Goexit reports that the function called runtime.Goexit (t.FailNow,
	// for one) rather than panicking.
	Goexit bool
	// Stack is the panicking goroutine's stack, taken at the panic.
	Stack []byte
}

// Error gives Op, the panic value and the stack.
func (e *Error) Error() string {
	if e.Goexit {
		return fmt.Sprintf("%s called runtime.Goexit\n\n%s", e.Op, e.Stack)
	}
	return fmt.Sprintf("%s panicked: %v\n\n%s", e.Op, e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error, so that errors.Is
// finds, say, a context.Canceled passed to panic.
func (e *Error) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Run calls fn and reports how it ended: nil when fn returned normally, an
// *Error with op, the value and the stack when fn panicked (the panic is
// recovered and goes no further).
//
// If fn calls runtime.Goexit, Run cannot return: Go has no way to stop a
// Goexit. Run then calls onGoexit (when not nil) with an *Error whose Goexit
// is set, while the goroutine unwinds, and the goroutine goes on exiting.
// That is where a caller releases what it holds and wakes its waiters.
func Run(op string, fn func(), onGoexit func(*Error)) (err *Error) {
	normal, panicked := false, false
	defer func() {
		if normal || panicked {
			return
		}
		// fn neither returned nor panicked (that would have reached the
		// recover below): runtime.Goexit.
		if onGoexit != nil {
			onGoexit(&Error{Op: op, Goexit: true, Stack: debug.Stack()})
		}
	}()
	func() {
		defer func() {
			if normal {
				return
			}
			if r := recover(); r != nil {
				panicked = true
				err = &Error{Op: op, Value: r, Stack: debug.Stack()}
			}
		}()
		fn()
		normal = true
	}()
	return err
}
