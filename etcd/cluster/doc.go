// Package cluster gives sluice's contracts across replicas, on etcd: a
// weighted FIFO [Semaphore] (package sem's contract), a per-key [Mutex]
// and a per-key [Once] (package keyed's), and a [Guard] for one run at a
// time with Reject, Join and Again (package run's). It is a module of its
// own, so etcd's client never reaches sluice's core.
//
// Use it when the replicas of a service share a resource: one cap of 10
// validations against one ML node for every replica, one recovery run at
// a time however many replicas' triggers fire.
//
//	slots, err := cluster.NewSemaphore(ctx, cli, "/validator/slots", 10)
//	p, err := slots.Acquire(ctx, 1)
//	if err != nil {
//		return err // ctx ended, closed, lease lost, or etcd refused
//	}
//	defer p.Release()
//	return validate(p.Context(), item) // done if the lease can no longer be proven
//
// # Leases, and the exact over-admission bound
//
// Each primitive holds its keys under one etcd lease per replica, renewed
// every (TTL-margin)/3. A [Permit]'s Context is done when it is released,
// when etcd says the lease is gone, when its key is deleted, or, judged on
// this process's own clock, once TTL-margin has passed since the send
// time of the last keepalive that succeeded. etcd's leader expires the
// lease no earlier than TTL after it received that keepalive (which was
// after it was sent; a new leader extends the leases it inherits), and
// only then deletes the keys that let another replica in. Write T for the
// TTL and m for the margin. Then:
//
//   - The permits of holders whose Context is not done never sum above the
//     capacity, provided (a) the rate errors of the replica's clock and of
//     the leader's clock add up to at most m/T (20% with the defaults,
//     T = 10 s, m = T/5), and (b) nobody deletes the primitive's keys or
//     revokes its leases by hand.
//   - So the cap can be exceeded only by holders whose Context is already
//     done and whose work has not stopped; by at most their permits; and
//     only from the moment their keys are deleted, which is at least
//     m - (rate error) x T after their Context was done (m, with perfect
//     clocks), until their work stops. Work that stops within m of its Context's
//     end never exceeds the cap. A crashed replica's permits come back at
//     most T after its last successful keepalive.
//   - If (b) is broken, the holder learns of the delete from its watch: its
//     Context is done one watch delay after another replica may have been
//     admitted.
//   - No clock check helps a process that is paused (GC, SIGSTOP, a frozen
//     VM) between checking its Context and acting. For state in etcd, put
//     [Permit.Fence] in the transaction's If: it holds only while the
//     permit's key exists with its revision, so a stale holder's write is
//     rejected by etcd itself. For state elsewhere, pass [Permit.Token]
//     and have the resource refuse tokens lower than one it has seen.
//     [Once] and [Guard] record their results this way: a run that lost
//     its lease never records a success.
//
// etcd's own concurrency.Session reports a lost lease only after the
// server has expired it, when another replica may already hold the lock;
// here the Context ends first.
//
// # Invariants and fairness
//
// Each type's doc states its own. In short: FIFO by etcd create revision
// across replicas (a retried put keeps its key, so its place); a waiter
// whose ctx ends holds nothing and its key is deleted at once; Close fails
// every waiter and later call with [ErrClosed], while what is held stays
// held until released; one watch per primitive, and an event wakes only
// the callers it admits. A process-local sem or keyed in front of the
// Semaphore, Mutex and Once keeps local contention off etcd.
//
// # Errors
//
// Constructors return errors matching [ErrInvalid] for bad input (a nil
// client, an empty prefix, a capacity that is not positive, a TTL below
// the cluster's minimum lease TTL, a margin above half the TTL) and
// [ErrCapacityMismatch] for a replica that disagrees with the capacity in
// etcd. Waits fail with ctx.Err(), [ErrClosed], an error matching
// [ErrLeaseLost], or etcd's error once the client is closed; an
// unreachable cluster makes a wait end by its ctx or by the lease's
// deadline, never later. A nil Context or func panics.
package cluster
