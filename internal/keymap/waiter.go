package keymap

import (
	"context"
	"runtime/trace"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// Waiter is one caller blocked on a key. It is allocated when the caller
// must block and dropped when it stops waiting, never pooled: a channel
// made inside a testing/synctest bubble and used outside it (or in another
// bubble) kills the process, and a pooled waiter would carry its channel
// from one test to the next. Every field except ready is guarded by the
// lock of the shard whose queue holds (or held) it.
type Waiter struct {
	// ready receives one token when the waiter is granted what it waited
	// for, failed by Close, or given a result. Buffered, so the waker
	// never blocks.
	ready chan struct{}
	fifo.Node[Waiter]
	// wait is w's place in its shard's list of waits, which holds every
	// waiter of the shard, whatever its key, oldest first.
	wait Wait

	Write  bool   // waits to write (RWMutex)
	Closed bool   // woken by Fail, not granted
	Err    error  // a result it was woken with (Fail sets the close error)
	Gen    uint64 // the generation the waiter arrived in (Once: of Forget)
	Run    bool   // woken to run the function itself (Once)
}

// NewWaiter returns a waiter with its channel, in no queue.
func NewWaiter() *Waiter {
	return &Waiter{ready: make(chan struct{}, 1)}
}

// Since returns when w began to wait: when [Shard.Enqueue] queued it.
func (w *Waiter) Since() time.Time { return w.wait.Since }

// Wake sends w its token. Each waiter is woken at most once and the
// channel is buffered, so this never blocks.
func (w *Waiter) Wake() { w.ready <- struct{}{} }

// Woken reports whether w has its token, taking it, without blocking.
// The caller holds the shard lock, so nobody can wake w concurrently.
func (w *Waiter) Woken() bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}

// Await blocks until w is woken (true) or done is closed (false). A nil
// done never closes. Called without the shard lock. While runtime/trace
// is on, the wait is a trace region named region, in ctx's task.
func (w *Waiter) Await(ctx context.Context, done <-chan struct{}, region string) bool {
	if trace.IsEnabled() {
		defer trace.StartRegion(ctx, region).End()
	}
	if done == nil {
		<-w.ready
		return true
	}
	select {
	case <-w.ready:
		return true
	case <-done:
		return false
	}
}

// Queue is a FIFO of waiters, oldest first; a cancelled waiter leaves from
// the middle in O(1). The zero value is empty; it is small enough to live
// inside an entry.
type Queue struct {
	fifo.List[Waiter, *Waiter]
}

// Empty reports whether q has no waiter.
func (q *Queue) Empty() bool { return q.Len() == 0 }
