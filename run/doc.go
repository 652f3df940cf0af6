// Package run keeps an operation to one run at a time, however many
// callers trigger it.
//
// Use a [Guard] where several paths (a timer, a new event, an admin
// request) may each start the same job, and two copies of it must never
// run at once; use [Keyed] for one such job per key. Each call says what
// it wants when a run is already in progress:
//
//   - [Reject]: return [ErrRunning] at once.
//   - [Join]: wait for the run in progress and return its result.
//   - [Again]: make sure a run starts after this call began (the state it
//     must see may have changed after the current run looked); calls that
//     arrive during a run coalesce into one trailing run, and each gets
//     that run's result.
//
// With no run in progress, every mode starts one.
//
//	var recovery run.Guard
//	err := recovery.Do(ctx, run.Reject, recoverMissed) // from each trigger path
//
// # Who runs, and with which context
//
// A run executes on the goroutine of the call that starts it, with that
// call's ctx and fn, unchanged: nothing is detached and the Guard starts
// no goroutine. Calls that join a run or coalesce into one get its result;
// their own fn is not called. A trailing run ([Again]) is started by the
// oldest call still waiting for it, on its goroutine with its ctx and fn;
// if that call's ctx ends first, the next oldest starts it instead, and if
// every call waiting for it has left, it does not run at all.
//
// So when the ctx of the call running a run ends, the run is expected to
// stop, and the calls waiting for it get what it returned (typically that
// ctx's error), even though their own ctx is still live. A waiter that
// needs a result of its own can check for that (errors.Is(err,
// context.Canceled) while its own ctx.Err() is nil) and call Do again.
//
// # Invariants
//
//   - At most one run of fn at any instant per Guard (per key of a Keyed).
//   - An [Again] call's result comes from a run that started after the
//     call began; a [Reject] call's result is its own run's or
//     [ErrRunning].
//   - A waiting call whose own ctx ends returns ctx.Err() at once; the run
//     goes on for the others.
//   - A Keyed holds an entry for a key only while a call for it is in
//     progress.
//
// # Fairness
//
// Waiters are not ordered among themselves: when a run finishes, all its
// waiters get its result together. The trailing run is started by the
// oldest of its waiters.
//
// # Errors
//
// If fn panics or calls runtime.Goexit, the calls waiting for that run get
// an error that matches [ErrPanicked] (errors.Is) and [*PanicError]
// (errors.As), the Guard is free again, and the panic (its value
// unchanged) or the Goexit goes on up the goroutine that ran fn. The panic
// is resumed from where it was caught, so that a crash trace still shows
// the frames that panicked.
//
// Close fails every waiting call and every later one with [ErrClosed]; a
// run in progress finishes, and only the call running it gets its result.
//
// # Observing
//
// Stats has running totals (Admitted: runs started plus results shared;
// Cancelled; Rejected: ErrRunning; Panicked) and OldestWait, the wait so
// far of the oldest call waiting now (over all keys, for a Keyed). OnWait
// registers a function called with each waiting call's wait once it is
// served. Only a call that has to wait reads the clock, loads the hooks,
// and opens a runtime/trace region ("sluice/run: Guard.Do wait",
// "sluice/run: Keyed.Do wait").
package run
