// Package guard makes a shared value or client reachable only under its
// rule, so that no code path can forget the lock.
//
// In Go a mutex sits beside the data it protects, and every path must
// remember to take it; the one that forgets compiles, passes its tests and
// races in production. guard puts the value inside the lock instead:
//
//   - [Value]: the value is reachable only inside [Value.Do], while its lock
//     is held.
//   - [RW]: shared [RW.Read] and exclusive [RW.Write] access to a value.
//   - [Access]: one interface for using a client that may or may not be safe
//     for concurrent use; [Serial] allows one call at a time, [Concurrent]
//     adds no lock. The provider that owns the client decides once; its
//     callers cannot get it wrong.
//
// Use Value or RW for state that several goroutines read and change; use
// Access for a connection or client shared by several users.
//
// # Invariants
//
//   - The value (or client) is reached only through the callback, under the
//     guard's rule, and the pointer or client passed to the callback is
//     valid only until it returns.
//   - Every wait is cancellable through its context, and a waiter that
//     gives up never blocks the ones behind it.
//   - Close fails every waiter and every later call with [ErrClosed];
//     callbacks already running finish.
//
// # Fairness
//
// [Value] and [Serial] wake waiters oldest first and, like sync.Mutex, let
// a newly arriving caller take a lock just released ahead of the woken
// waiter, until a waiter has waited 1 ms: from then on the lock is handed
// to the oldest waiter directly. [RW] is strict FIFO over one queue of
// readers and writers, so a waiting writer is never starved by readers.
//
// # Nested calls and the callback's context
//
// Go's mutexes are not re-entrant: a callback that calls Do on the same
// guard again would wait for itself forever. Every guard passes its
// callback a context that carries a token for the hold, and a call made
// with that context (or one derived from it) while the hold lasts is
// recognised as nested and runs inline. Every hold has a token of its own:
// once the callback has returned, its context no longer counts as nested,
// and a call made with it waits like any other. Two rules follow:
//
//  1. Pass the callback's ctx down. A nested call made with some other
//     context (the outer function's ctx, context.Background()) is not
//     recognised and deadlocks until that context ends.
//  2. Keep the callback's ctx on the callback's goroutine. A call made with
//     it on another goroutine while the callback runs would also run
//     inline, without the lock. To hand a context to a goroutine started in
//     the callback, use [Detach].
//
// # Figures and hooks
//
// Stats keeps running totals (Admitted, Contended, Cancelled; per lane
// for RW) and the oldest queued caller's wait (OldestWait), and OnWait
// adds a hook called with each queued caller's wait once it is admitted.
// Only a caller that queues reads the clock or the hook list, and, while
// runtime/trace is on, waits inside a region ("sluice/guard: Value.Do
// wait", "... Access.Do wait", "... RW.Read wait", "... RW.Write wait").
// The uncontended Do pays for none of it: Admitted is the hold number the
// lock keeps anyway.
//
// # Errors
//
// Calls return the callback's error, the caller's ctx.Err() when its
// context ends before the lock is granted, [ErrClosed] after Close, or
// [ErrUpgrade] for a Write nested in a Read of the same RW. A callback that
// panics releases the lock, and the panic continues.
package guard
