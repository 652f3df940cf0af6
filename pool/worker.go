package pool

import (
	"runtime/pprof"

	"github.com/sluice-go/sluice/internal/panics"
)

// testHookBeforeCancel, if set, runs in a worker between recording a
// failure that cancels the group and cancelling it (tests only).
var testHookBeforeCancel func()

// spawn starts a worker on a slot the caller holds for it. It is the only
// place the group starts a goroutine, so that Wait waits for every one and
// the goroutines count sees every one.
func (p *Pool) spawn(fn Task) {
	p.workers.Add(1)
	p.goroutines.Add(1)
	go p.worker(fn)
}

// worker runs fn (if not nil), then the group's next pending tasks, until
// none is pending or it yields its slot to a waiter on a shared semaphore.
// It holds one slot for its whole life and gives it back as it exits.
//
// Why workers pull instead of one goroutine per task: starting a goroutine
// (errgroup's design) or waking a parked one (a hand-off channel) costs
// far more per task than taking the next task from the queue under the
// group's lock (bench/pool_test.go, BenchmarkPool).
//
// The goroutine carries the pprof labels {"sluice": "pool worker"} (with
// those of the group's parent context), set once here for its whole life,
// never per task: profiles show the group's tasks under its workers.
func (p *Pool) worker(fn Task) {
	pprof.SetGoroutineLabels(p.labels)
	defer p.workers.Done()
	for {
		if fn != nil {
			var err error
			pe := panics.Run(opTask, func() { err = fn(p.ctx) }, p.goexited)
			p.mu.Lock()
			p.recordLocked(err, pe)
			if cause := p.takeCauseLocked(); cause != nil {
				// Cancel before picking the next task, so that Go calls
				// blocked now return the context's error rather than being
				// admitted into a group that is failing. (Not under mu:
				// cancelling runs context machinery we keep out of our
				// lock.)
				p.mu.Unlock()
				if testHookBeforeCancel != nil {
					testHookBeforeCancel()
				}
				p.cancel(cause)
				p.mu.Lock()
			}
		} else {
			p.mu.Lock()
		}
		fn = p.nextLocked()
		if fn == nil {
			// The slot goes back under mu, in the same step as running
			// drops: a Go call that sees running below the limit must find
			// the slot free. Released after unlocking, a Go call in between
			// failed TryAcquire and queued its task behind workers that
			// were all busy, though a slot was about to be free: it waited
			// for one of them to finish its task (a whole task's time),
			// with fewer than the limit running.
			p.running--
			// Uncounted before the slot is free, so that a worker started
			// on it is never counted alongside this one, which only
			// returns from here.
			p.goroutines.Add(-1)
			p.sem.Release(1)
			p.checkIdleLocked()
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// goexited runs while a worker's goroutine unwinds from a task that called
// runtime.Goexit (t.FailNow, say): the goroutine is going away, but its
// slot and the group's pending tasks are not. It records the task and
// hands the slot to a replacement worker.
func (p *Pool) goexited(pe *PanicError) {
	p.mu.Lock()
	p.recordLocked(nil, pe)
	cause := p.takeCauseLocked()
	p.mu.Unlock()
	if cause != nil {
		p.cancel(cause)
	}
	// This goroutine hands its slot to the replacement and only returns
	// from here: uncount it first, as at a clean exit. The replacement is
	// added to workers before this goroutine's deferred Done runs, so Wait
	// never sees the count touch zero in between.
	p.goroutines.Add(-1)
	p.spawn(nil)
}

// nextLocked picks the worker's next task, or nil when the worker should
// give its slot back: nothing is pending, or other callers wait on the
// semaphore for a slot (other groups sharing it, or a Go call of this
// group that found no worker running) and another worker of this group
// remains to finish what is pending. The last worker never yields while
// tasks are pending: they were admitted, so they must run, and they need
// a slot to run on.
func (p *Pool) nextLocked() Task {
	// Once the group's context has ended, blocked Go calls are not
	// admitted: they return the context's error (they are waking up to do
	// so). Tasks already admitted to the queue still run. The same holds
	// from the moment a failure that cancels the group is recorded: the
	// worker that recorded it cancels outside mu, and until it has, another
	// worker must not admit the calls that cancel is for. (After Close the
	// blocked list is empty: Close failed every call in it.)
	admitBlocked := p.blocked.Len() > 0 && !p.ctxDone() && !p.failingLocked()
	yield := p.yieldLocked()
	if p.queue.len() == 0 && !admitBlocked {
		return nil
	}
	if p.running > 1 && (p.acquiring.Len() > 0 || yield) {
		return nil
	}
	if yield && p.queue.len() == 0 {
		// The last worker, with only blocked Go calls left, while others
		// wait on the shared semaphore: keeping the slot for them would let
		// a group fed without pause hold it for ever, and a waiter that
		// needs every slot would never get in. Hand the oldest blocked call
		// to the semaphore instead (it acquires a slot itself, in FIFO
		// order behind those waiters, and its worker then serves the
		// others), and give this slot back.
		w := p.blocked.PopFront()
		w.state = wAcquire
		p.acquiring.PushBack(w) // keeps its start: OldestWait
		w.ready <- struct{}{}
		return nil
	}
	if yield {
		admitBlocked = false // the queue takes nothing new; see admitLocked
	}
	if p.queue.len() == 0 {
		// Only blocked Go calls (WithQueueSize(0), or all of the queue was
		// just drained): take the oldest one's task directly.
		w := p.blocked.PopFront()
		w.state = wTaken
		p.admitted++
		w.ready <- struct{}{}
		return w.fn
	}
	fn := p.queue.pop()
	// Admit blocked Go calls into the queue once it is half empty, not at
	// every free place: a submitter that blocks on a full queue is then
	// woken once per half a queue of tasks, not once per task.
	if admitBlocked && p.queue.len() <= p.queue.cap()/2 {
		for p.blocked.Len() > 0 && !p.queue.full() {
			w := p.blocked.PopFront()
			p.queue.push(w.fn)
			w.state = wAdmitted
			p.admitted++
			w.ready <- struct{}{}
		}
	}
	return fn
}

func (p *Pool) ctxDone() bool {
	select {
	case <-p.ctx.Done():
		return true
	default:
		return false
	}
}
