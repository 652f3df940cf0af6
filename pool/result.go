package pool

import (
	"errors"

	"github.com/sluice-go/sluice/internal/panics"
)

// ErrDone is returned by [Pool.Go] once [Pool.Wait] has returned: a
// finished group runs nothing more.
var ErrDone = errors.New("pool: Go after Wait: the group is finished")

// ErrClosed is returned by [Pool.Go] once [Pool.Close] has been called,
// including to the Go calls that were waiting to be admitted when it was.
var ErrClosed = errors.New("pool: closed")

// PanicError is what [Pool.Wait] panics with when a task panicked, and
// the error it returns for a task that called runtime.Goexit: Op is
// "pool: task", Value the value the task panicked with, Goexit set for a
// Goexit, and Stack the stack of the task's goroutine at the moment of
// the panic. It is the same type as every sluice package's PanicError.
type PanicError = panics.Error

// opTask is the Op of the group's PanicErrors.
const opTask = "pool: task"

// errGoexit matches (with errors.Is) the error recorded for a task that
// called runtime.Goexit; that error is a goexitError.
var errGoexit = errors.New("pool: task called runtime.Goexit")

// goexitError is the task error for a runtime.Goexit: the *PanicError
// with Goexit set (errors.As finds it), which also matches errGoexit.
type goexitError struct{ pe *PanicError }

func (e goexitError) Error() string        { return e.pe.Error() }
func (e goexitError) Unwrap() error        { return e.pe }
func (e goexitError) Is(target error) bool { return target == errGoexit }

// recordLocked records how a task ended: err is what it returned, pe is
// not nil if it panicked or called runtime.Goexit.
func (p *Pool) recordLocked(err error, pe *PanicError) {
	p.completed++
	switch {
	case pe != nil && pe.Goexit:
		// A Goexit cannot be re-raised in Wait's goroutine (that would end
		// the caller's goroutine), so it is reported like an error: first
		// error, collected, cancelling with WithCancelOnError.
		p.nPanicked++
		p.recordErrLocked(goexitError{pe})
	case pe != nil:
		p.nPanicked++
		if p.panicked == nil {
			p.panicked = pe
			p.cancelSent = true
		}
	case err != nil:
		p.failed++
		p.recordErrLocked(err)
	}
}

func (p *Pool) recordErrLocked(err error) {
	if p.firstErr == nil {
		p.firstErr = err
		if p.cfg.cancelOnError {
			p.cancelSent = true
		}
	}
	if p.cfg.collect {
		p.errs = append(p.errs, err)
	}
}

// takeCauseLocked returns the cause to cancel the group's context with,
// if a recorded result asked for it and it was not sent yet, else nil.
func (p *Pool) takeCauseLocked() error {
	if !p.cancelSent {
		return nil
	}
	p.cancelSent = false
	if p.panicked != nil {
		return p.panicked
	}
	return p.firstErr
}

// failingLocked reports whether a recorded result cancels the group: a
// panic, or an error with WithCancelOnError.
func (p *Pool) failingLocked() bool {
	return p.panicked != nil || p.cfg.cancelOnError && p.firstErr != nil
}

// resultLocked returns what Wait returns: the first error (all of them
// joined, with WithCollectErrors), and the panic to re-raise, if any.
func (p *Pool) resultLocked() (error, *PanicError) {
	err := p.firstErr
	if p.cfg.collect {
		err = errors.Join(p.errs...)
	}
	return err, p.panicked
}
