package cluster

import (
	"errors"

	"github.com/sluice-go/sluice/internal/panics"
	"github.com/sluice-go/sluice/run"
)

var (
	// ErrClosed is returned by every call once the Semaphore, Mutex, Once
	// or Guard has been closed, and by the calls that were waiting when it
	// was.
	ErrClosed = errors.New("cluster: closed")

	// ErrInvalid is matched (errors.Is) by the error a constructor or call
	// returns for bad input: a nil client, an empty prefix, a capacity or
	// weight that is not positive, a TTL or margin that cannot work.
	ErrInvalid = errors.New("cluster: invalid argument")

	// ErrTooLarge is matched by the error Acquire returns for a weight
	// above the capacity: it could never be admitted.
	ErrTooLarge = errors.New("cluster: request exceeds capacity")

	// ErrCapacityMismatch is matched by the error a replica gets when the
	// capacity stored in etcd for its prefix is not the one it was given.
	ErrCapacityMismatch = errors.New("cluster: capacity stored in etcd differs")

	// ErrLeaseLost is the cause (context.Cause) of a Permit's Context when
	// this process can no longer prove that it holds its etcd lease: no
	// keepalive has succeeded within the TTL less the margin, etcd said
	// the lease is gone, or the Permit's key was deleted. A waiter whose
	// lease is lost gets it from Acquire, Lock or Do.
	ErrLeaseLost = errors.New("cluster: lease lost")

	// ErrReleased is the cause (context.Cause) of a Permit's Context once
	// the Permit has been released.
	ErrReleased = errors.New("cluster: permit released")

	// ErrRunning is returned by [Guard.Do] in [Reject] mode while a run is
	// in progress on any replica. It is run.ErrRunning, so code written
	// for a local run.Guard matches it unchanged.
	ErrRunning = run.ErrRunning

	// ErrRunLost is returned to the calls waiting for a run whose replica
	// lost its lease (crashed, partitioned, paused) before it published a
	// result: nobody knows how that run ended.
	ErrRunLost = errors.New("cluster: the run's replica lost its lease before it finished")

	// ErrPanicked is matched by the result the waiters of a run get when
	// its fn panicked or called runtime.Goexit (on this replica the error
	// also matches [*PanicError]).
	ErrPanicked = errors.New("cluster: the run panicked")
)

// PanicError reports a run's fn that panicked or called runtime.Goexit; it
// is the PanicError of every sluice package.
type PanicError = panics.Error

// RunError is the error a waiting call gets when the run it waited for,
// on another replica, returned an error: only its message crosses etcd.
// On the replica that ran it, waiters get the error value itself.
type RunError struct {
	Msg string
}

func (e *RunError) Error() string { return e.Msg }
