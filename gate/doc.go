// Package gate is admission control for one shared resource that serves
// short reads, exclusive writes and long-lived streams: a storage task, a
// database handle, a cache being rebuilt.
//
// Use a [Gate] when the reads of a resource must be bounded in number and
// in time, its writes must run alone, and its long-lived producers must
// neither take read capacity nor hold up a write. A Gate has three lanes:
//
//   - Reads ([Gate.Read], [Gate.ReadInline]): up to [WithReaders] at once,
//     each under a deadline (Read enforces it; ReadInline passes it
//     through ctx).
//   - Writes ([Gate.Write]): exclusive. A write waits until the reads in
//     flight drain; reads that arrive while it waits queue behind it.
//   - Streams ([Gate.Stream]): long-lived producers in their own lane
//     ([WithStreams]). A stream never takes or waits for a read permit and
//     never delays a write: the backend is expected to give a stream a
//     snapshot.
//
// # Invariants
//
//   - At most ReadCapacity reads hold a permit at once, and no read holds
//     one while a write runs (a write holds every read permit).
//   - A read holds its permit until its fn has returned, even when its
//     caller has already got control back at the deadline. So no write ever
//     overlaps a read that is still running; such a read is counted in
//     [Stats].ReadOverdue and reported to the hook ([WithHook]).
//   - Streams hold only stream slots; reads and writes never wait for them.
//
// # Fairness
//
// Reads and writes share one strict FIFO queue (a [sem.Semaphore] with a
// permit per reader: a read takes 1 permit, a write takes all of them). A
// waiting write therefore blocks every read that arrives after it, and is
// served before them: writes are never starved by a stream of readers.
// Reads that arrived before a waiting write are admitted before it.
// Streams have their own FIFO queue of stream slots.
//
// # Deadlines
//
// Every [Gate.Read] has a deadline: the read deadline ([WithReadDeadline],
// default 5 s) from the call, or the ctx's own deadline if that comes
// first. It covers both the wait for a permit and fn. fn's ctx ends at the
// deadline. [Gate.Read] runs fn on a goroutine the gate owns, so its
// caller gets an error matching [ErrDeadline] (and
// [context.DeadlineExceeded]) at the deadline even if fn ignores its ctx;
// fn keeps its permit until it returns. That costs a goroutine and a timer
// per call.
//
// [Gate.ReadInline] is the inline mode, for hot paths whose fn honours its
// ctx: fn runs on the caller's goroutine with the caller's ctx unchanged,
// so the deadline reaches fn through that ctx only (give it one). The read
// deadline still bounds the wait for a permit. Uncontended, its admission
// is two atomic operations.
//
// The wait for a stream slot is bounded by the read deadline; a running
// stream's ctx ends after the stream lifetime ([WithStreamLifetime],
// default 60 s) or at the ctx's own deadline, whichever comes first.
//
// Writes have no deadline of their own. A write's wait ends on its ctx or
// on Close; its fn runs on the caller's goroutine under the caller's ctx.
// A write abandoned half way would leave its caller not knowing whether it
// happened, so the gate never returns from a write while its fn runs; give
// ctx a deadline to bound the wait.
//
// # Figures and hooks
//
// [Gate.Stats] keeps, per lane (Read, Write, Stream), running totals
// (Admitted, Cancelled, Panicked; TimedOut for reads and stream
// admissions) and the oldest waiting call's wait (ReadOldestWait,
// WriteOldestWait, StreamOldestWait). [Gate.OnWait] adds a hook called
// with each waiting call's wait, in every lane, once it is admitted. Only
// a call that has to wait reads the clock or the hook list, and, while
// runtime/trace is on, waits inside a region ("sluice/gate: Read wait",
// "... ReadInline wait", "... Write wait", "... Stream wait"). An
// uncontended ReadInline pays for none of it: ReadAdmitted comes from the
// semaphore's own total.
//
// # Errors, panics and Close
//
// Errors are [ErrClosed], [*DeadlineError] (matches [ErrDeadline] and
// [context.DeadlineExceeded]), the caller's ctx error (context.Canceled),
// [*PanicError] (a Read whose fn called runtime.Goexit), or whatever fn
// returned.
//
// A panic in fn gives back every permit fn held and then reaches the
// caller. In [Gate.Read] fn runs on the gate's goroutine, so the caller's
// goroutine re-panics with a [*PanicError] that carries the original value
// and stack. In [Gate.ReadInline] and [Gate.Write] fn runs on the caller's
// goroutine and the panic simply propagates. A panic that has no caller to
// reach (a stream, or a read whose caller already returned) is reported to
// the hook as a [Panicked] event.
//
// [Gate.Close] fails every waiter in every lane at once with [ErrClosed]
// and every later call too. Callers of running [Gate.Read] calls get
// ErrClosed at once and their fn's ctx is cancelled; running streams see
// their ctx cancelled; running inline reads and writes are left to finish.
// [Gate.Wait] waits until every admitted fn, overdue ones included, has
// returned.
package gate
