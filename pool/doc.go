// Package pool runs tasks in a bounded group: at most a fixed number run
// at once, on slots of their own ([New]) or on a *sem.Semaphore shared
// with other groups ([Shared]), so that several call paths keep one
// process-wide cap.
//
// Use it instead of a goroutine per item when items come in bulk (a
// backlog, a batch, a fan-out): a group's goroutines never exceed its
// slots, however long the backlog.
//
//	p := pool.New(ctx, 10)
//	for _, item := range backlog {
//		if err := p.Go(func(ctx context.Context) error { return validate(ctx, item) }); err != nil {
//			break // ctx ended or the group was closed: item never runs
//		}
//	}
//	err := p.Wait()
//
// Every running task holds one slot. Tasks run on workers, goroutines that
// each hold a slot and take the group's next task when theirs returns, so
// a backlog costs one goroutine per slot, not one per item. [Pool.Go]
// returns once fn is admitted: started on a worker, or placed in the
// group's hand-off queue ([WithQueueSize]) behind running workers. It
// blocks while every slot is busy and the queue is full.
//
// # Invariants
//
//   - Tasks running at once never exceed the slots: the limit for New,
//     the semaphore's size across every group sharing it for Shared.
//   - Go never returns nil for a task that will not run, and never runs a
//     task for which it returned an error. An admitted task runs even if
//     the group's context ends or the group is closed before it starts.
//   - Live goroutines never exceed the slots (plus workers on their way
//     out, and one replacement for a task that calls runtime.Goexit), and
//     at most the queue's size of tasks wait: memory is flat in the
//     backlog.
//
// # Fairness
//
// Admitted tasks start in the order Go admitted them; blocked Go calls
// are admitted in arrival order. While anyone waits on a shared semaphore
// a group takes no new work onto the slots it holds: its workers give
// their slots back after their current task, except the last, which
// finishes the tasks already admitted and then hands the blocked Go calls
// to the semaphore, behind the waiters that came first. So a group fed
// without pause cannot keep a slot from the others.
//
// # Errors, panics and Close
//
// [Pool.Wait] returns the first task error ([WithCollectErrors]: all of
// them joined); [WithCancelOnError] makes the first error cancel the
// group's context. A task's panic is recovered with its stack, cancels the
// group, and is re-raised by Wait as a *[PanicError]; a runtime.Goexit is
// returned by Wait as a *PanicError with Goexit set. [Pool.Close] makes
// waiting and later Go calls return [ErrClosed] and lets admitted tasks
// finish; after Wait, Go returns [ErrDone].
//
// A task may call Go on its own group, but Go blocks while the group is
// full, so tasks that block in Go while they hold every slot wait forever.
// From inside a task, prefer TryGo, or a queue large enough.
//
// # Figures, hooks, profiles and traces
//
// [Pool.Stats] keeps running totals (Admitted, Cancelled, Rejected beside
// Completed, Failed, Panicked) and the oldest waiting Go call's wait
// (OldestWait); [Pool.OnWait] adds a hook called with each waiting Go
// call's wait once it is admitted. Only a Go call that waits reads the
// clock or the hook list, and, while runtime/trace is on, runs in a region
// "sluice/pool: Go wait". Workers carry the pprof labels {"sluice": "pool
// worker"} (beside those of the group's parent context), set once per
// worker goroutine, so CPU and goroutine profiles show the group's tasks
// apart.
package pool
