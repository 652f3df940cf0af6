// Package guard makes a shared value or client reachable only under its
// rule, so that no code path can forget the lock.
//
// In Go a mutex sits beside the data it protects, and every path must
// remember to take it. The one path that forgets compiles and passes its
// tests, and fails in production (seed 000: a validator's handlers and
// forward loop shared one websocket that allows one reader at a time; every
// path took the lock except one balance check, and recv calls collided).
// guard puts the value inside the lock instead:
//
//   - [Value]: the value is reachable only inside [Value.Do], while its lock
//     is held.
//   - [RW]: shared [RW.Read] and exclusive [RW.Write] access to a value.
//   - [Access]: one interface for using a client that may or may not be safe
//     for concurrent use; [Serial] allows one call at a time, [Concurrent]
//     adds no lock. The provider that owns the client decides once; its
//     callers cannot get it wrong.
//
// Every wait is cancellable through its context, and a waiter that gives
// up never blocks the ones behind it.
//
// # Nested calls and the callback's context
//
// Go's mutexes are not re-entrant: a callback that calls Do on the same
// guard again would wait for itself forever. Every guard passes its
// callback a context that carries a token for the hold, and a call made
// with that context (or one derived from it) is recognised as nested and
// runs inline. Two rules follow:
//
//  1. Pass the callback's ctx down. A nested call made with some other
//     context (the outer function's ctx, context.Background()) is not
//     recognised and deadlocks until that context ends.
//  2. Keep the callback's ctx on the callback's goroutine, and do not use it
//     after the callback returns. A call made with it on another goroutine
//     while the callback runs would also run inline, without the lock. So
//     may one made after the callback returned: [Value] and [Serial] reuse
//     one token for every call made with the same parent context (that is
//     what keeps them allocation-free), so a kept ctx matches the token of
//     any later holder whose Do was called with the same context as the
//     callback's was (say context.Background()), and runs alongside it.
//     ([RW] makes a token per hold, so there a kept ctx just waits.) To
//     hand a context to a goroutine started in the callback, or to keep
//     one, use [Detach].
//
// The same holds for the pointer or client passed to the callback: it is
// valid only until the callback returns.
package guard
