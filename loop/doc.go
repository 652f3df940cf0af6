// Package loop provides a single-owner loop: one goroutine owns a state
// value and runs handlers on it one at a time, so the state needs no lock.
// Blocking work goes off the loop through [Offload], and a watchdog names
// any handler that blocks the loop anyway.
//
// Use it for an actor, a dispatcher, or any select loop that owns state
// and serves requests one at a time. Blocking work is written as
//
//	loop.Offload(ctx, l, fetch, func(s *State, res Result, err error) { ... })
//
// fetch runs on one of a bounded set of workers; then runs on the loop
// with its result. A handler that blocks anyway is reported, with its
// name and the loop goroutine's stack, once it has run longer than a
// threshold ([WithSlowThreshold]; by default a warning on the
// [WithLogger] logger).
//
// # Invariants
//
//   - Handlers run one at a time, on the loop's goroutine, in the order
//     they were queued. The state is only ever touched by them.
//   - Everything waiting to run is held in a queue of fixed capacity
//     ([WithQueueSize]): a flood of Do and Post calls waits for room
//     (ctx-aware) or fails with [ErrFull]; memory never grows with the
//     flood.
//   - Offloaded work holds room in that queue for its result from the
//     moment it is admitted, so delivering the result never fails for
//     lack of room. At most [WithWorkers] works run at once.
//   - Nothing waits for its own loop: from a handler, Post and Offload
//     fail with [ErrFull] instead of waiting for room, and Do (which would
//     wait for itself) panics.
//   - [Loop.Close] fails every waiting and later call with [ErrClosed].
//     Handlers queued but not started never run; offloaded work sees its
//     ctx cancelled, work not started never runs and results not yet run
//     are dropped. A handler already running finishes. [Loop.Wait]
//     returns once every goroutine the loop started has exited.
//
// # Fairness
//
// Handlers run in the order they were queued (FIFO). Do and Post callers
// waiting for room are admitted in arrival order, and each queues its
// handler before the next is admitted, so their handlers run in arrival
// order however fast room frees up. TryPost never jumps that line: it
// fails while anyone waits. Admitted offloaded works start in the order
// Offload admitted them as workers come free.
//
// # Figures, hooks and tracing
//
// [Loop.Stats] keeps running totals of calls (Admitted, Cancelled,
// Rejected), handlers (Handled, Panicked) and watchdog reports, the
// oldest wait of a caller waiting for room (OldestWait) and of offloaded
// work waiting for a worker (OffloadOldestWait). [Loop.OnWait] adds a
// hook called with each caller's wait for room once it has room. Only a
// caller that waits reads the clock or the hook list, and, while
// runtime/trace is on, waits inside a region ("sluice/loop: Do wait",
// "... Post wait", "... Offload wait"). The loop goroutine runs with the
// pprof label sluice=loop, set once as it starts. [WithFlightRecorder]
// writes a runtime/trace flight-recorder snapshot with each watchdog
// report, so a slow handler comes with the trace of what led up to it.
//
// # Errors and panics
//
// Waiting calls return ctx.Err() when ctx ends first and [ErrClosed] once
// the loop is closed; TryPost, and Post and Offload from a handler, return
// [ErrFull] when there is no room now. A handler's panic reaches its Do
// caller as a *[PanicError] and the loop goes on; with nobody waiting
// (Post, an Offload result, offloaded work) a panic ends the program, as
// on any goroutine. A handler that calls runtime.Goexit ends the loop
// goroutine, so the loop closes. Bad input (a nil Context, function or
// Option, a size that is not positive) panics with a message that starts
// with "loop: ".
package loop
