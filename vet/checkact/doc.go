// Package checkact finds check-then-act on shared state across a yield: a
// function checks shared state ("has this peer an outbound stream?"), then
// acts on the same state (registers a stream it just opened), and between the
// check and the act something lets another goroutine pass the same check: the
// lock the check ran under was released, the act runs in a goroutine started
// after the check, or (for sync.Map and atomics) nothing at all joins the two
// steps. Two callers both see "absent", both open, one result is orphaned.
// This is seed 001: two paths checked "has outbound stream?" and both opened
// one; a sleep papered over it.
//
// # What it finds
//
// A check is a read of shared state that decides a branch or feeds the value
// stored: a map lookup (v, ok := s.m[k]; s.m[k] == nil), a field test
// (s.conn == nil, if !s.started), sync.Map.Load, an atomic Load. An act is a
// store to the same state (s.m[k] = v, s.conn = c, sync.Map.Store, an atomic
// Store) on a branch of that check, or of a value computed from it. Shared
// state is reached from a parameter or receiver, a package-level variable or
// a captured variable; values made in the function (a constructor's new
// struct, a local map) are not shared yet and are skipped, and so is init.
//
// Plain maps and fields are reported when the check ran under a lock and no
// lock is held continuously from the check to the act: the classic "lock;
// check; unlock; open; lock; store". An act in a goroutine started after the
// check never counts as under the caller's lock. A re-check of the same state
// after the last yield, guarding the act, with a lock held continuously from
// the re-check to the act (double-checked locking done right) clears the act,
// and so does a re-check of a sibling field (a version or generation
// counter). Per-key locks (keyed.Mutex, Locker types with Lock(key)) count as
// held for state indexed by the same key.
// sync.Map and atomics are reported for Load then Store with no lock held
// across both, yield or not: they advertise concurrent use, and LoadOrStore /
// CompareAndSwap exist to make the two steps one. An atomic store made
// through a setter method (if term > r.getTerm() { r.setTerm(term) }) is not
// reported unless it stores a value computed from the load: atomic getters
// and setters are how a single writer (a raft goroutine, an apply loop)
// publishes state to lock-free readers.
//
// Checks and acts are followed through calls to functions of the same
// package: a method that returns "s.m[k] != nil" under its own lock is a
// check at its call site, and one that opens a stream and registers it (with
// no check of its own) is an act there, so the seed's shape "if
// n.hasOutbound(p) { return }; n.openAndRegister(ctx, p)" is found.
//
// # What it does not find
//
//   - Plain maps and fields with no lock anywhere near the check: that is a
//     data race (or single-goroutine code), left to the race detector.
//   - A check made without a lock and an act under one (an unguarded read of
//     guarded state; guardedby's domain, and single-writer code does this on
//     purpose).
//   - Checks and acts through calls into other packages, interface methods
//     or function values, locks taken through wrappers (s.lock()) or
//     sync.Locker, and state reached through a value the function got from
//     a call or a map (p := s.peers[k]; p.conn == nil).
//   - Deletes, and plain stores of constants (nil, a flag): two callers
//     store the same thing; a flag that guards non-idempotent work done
//     across an unlock ("if !s.started { unlock; start(); lock; s.started =
//     true }") is missed. Atomic constant stores are still reported.
//   - Idempotent fills: when every goroutine that passed the check would
//     store the same value (a cache entry computed from the key, a value
//     read back from the state or a backend, a constant passed to a
//     setter), the race costs duplicate work, not a wrong state. The value
//     must be made by a call that may block, takes a context, starts a
//     goroutine, is named like an opener or constructor (open, dial, new,
//     start, create, connect, spawn, register, ...), reads the clock or
//     rand, or is a function value; or come from a caller (a parameter that
//     is not the key). A read-modify-write of the checked state (c.n =
//     v + 1) is always reported, and so is an act in a goroutine.
//   - A helper whose every caller in the package holds a lock at the call
//     ("assumes the lock is held"), unless it releases the lock itself; an
//     exported or escaping function's callers are unknown, so it is judged
//     alone.
//   - Single-writer code: a check made with no lock and an act made under
//     one (the writer locks for its readers), for sync.Map and atomics too.
//     One goroutine that owns the state (a func literal started once,
//     outside a loop, on a value its starter made) is not reported; other
//     single-writer code with no lock at all (a run loop's callback doing
//     an atomic Load then Store, say) is.
//   - Functions past the exploration caps (a work budget per function, at
//     most 128 acts per function, 16 acts per summary, callee chains of 3):
//     they are given up silently, so the analyzer's cost stays near that of
//     the other rules.
//
// # Fix
//
//   - sync.Map Load then Store: LoadOrStore (or CompareAndSwap /
//     CompareAndDelete for a read-modify-write).
//   - atomic Load then Store: a CompareAndSwap loop.
//   - A map or field set up across a yield (open-and-register): sluice
//     keyed.Once, per-key idempotent setup with Forget on disconnect, or
//     keyed.Mutex to hold the key across the setup; or re-check the state
//     after re-locking, before storing.
package checkact
