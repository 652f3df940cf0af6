package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/sem"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func nop(context.Context) error { return nil }

func TestRunsEveryTask(t *testing.T) {
	for _, q := range []int{0, 1, 3, 64} {
		t.Run(fmt.Sprint("queue", q), func(t *testing.T) {
			p := New(context.Background(), 4, WithQueueSize(q))
			var n atomic.Int64
			for range 1000 {
				if err := p.Go(func(context.Context) error { n.Add(1); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			if n.Load() != 1000 {
				t.Fatalf("%d tasks ran, want 1000", n.Load())
			}
			st := p.Stats()
			if st.Completed != 1000 || st.InUse != 0 || st.Queued != 0 || st.Waiting != 0 || !st.Done || st.Capacity != 4 {
				t.Fatalf("stats after Wait: %+v", st)
			}
		})
	}
}

// blocker hands out tasks that block until released, and records which
// started, in order.
type blocker struct {
	mu      sync.Mutex
	started []int
	release map[int]chan error
	tr      conctest.Tracker
}

func newBlocker() *blocker { return &blocker{release: map[int]chan error{}} }

func (b *blocker) task(id int) Task {
	ch := make(chan error, 1)
	b.mu.Lock()
	b.release[id] = ch
	b.mu.Unlock()
	return func(ctx context.Context) error {
		defer b.tr.Enter()()
		b.mu.Lock()
		b.started = append(b.started, id)
		b.mu.Unlock()
		return <-ch
	}
}

func (b *blocker) finish(id int, err error) { b.release[id] <- err }

func (b *blocker) startedIDs() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.started...)
}

func TestLimitAndQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background(), 2, WithQueueSize(2))
		b := newBlocker()
		for id := range 4 {
			if err := p.Go(b.task(id)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if got := b.startedIDs(); len(got) != 2 {
			t.Fatalf("started %v, want 2 tasks", got)
		}
		if st := p.Stats(); st.InUse != 2 || st.Queued != 2 || st.Waiting != 0 {
			t.Fatalf("stats: %+v", st)
		}
		// Slots and queue are full: TryGo fails, Go blocks.
		if p.TryGo(b.task(99)) {
			t.Fatal("TryGo admitted a task with slots and queue full")
		}
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(b.task(4)) }()
		synctest.Wait()
		select {
		case err := <-goErr:
			t.Fatalf("Go returned %v with slots and queue full", err)
		default:
		}
		if st := p.Stats(); st.Waiting != 1 {
			t.Fatalf("stats: %+v, want one blocked Go", st)
		}
		// One task returns: the oldest queued one starts; the queue is then
		// half empty, so the blocked Go is admitted.
		b.finish(0, nil)
		synctest.Wait()
		if got := b.startedIDs(); len(got) != 3 || got[2] != 2 {
			t.Fatalf("started %v, want 0 and 1, then 2", got)
		}
		if err := <-goErr; err != nil {
			t.Fatal(err)
		}
		// The rest start one at a time, in the order Go admitted them.
		for i, id := range []int{1, 2, 3, 4} {
			b.finish(id, nil)
			synctest.Wait()
			if got := b.startedIDs(); i < 2 && got[len(got)-1] != id+2 {
				t.Fatalf("started %v, want %d last", got, id+2)
			}
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if b.tr.Max() != 2 {
			t.Fatalf("max running %d, want 2", b.tr.Max())
		}
	})
}

func TestQueueSizeZeroHandsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background(), 1, WithQueueSize(0))
		b := newBlocker()
		if err := p.Go(b.task(0)); err != nil {
			t.Fatal(err)
		}
		if p.TryGo(nop) {
			t.Fatal("TryGo admitted with the only slot busy and no queue")
		}
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(b.task(1)) }()
		synctest.Wait()
		if st := p.Stats(); st.Waiting != 1 || st.Queued != 0 {
			t.Fatalf("stats: %+v", st)
		}
		b.finish(0, nil)
		if err := <-goErr; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := b.startedIDs(); fmt.Sprint(got) != "[0 1]" {
			t.Fatalf("started %v", got)
		}
		b.finish(1, nil)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGoReturnsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := New(ctx, 1, WithQueueSize(1))
		b := newBlocker()
		p.Go(b.task(0))
		p.Go(b.task(1)) // queued
		var ran atomic.Bool
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(func(context.Context) error { ran.Store(true); return nil }) }()
		synctest.Wait()
		cancel()
		if err := <-goErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("blocked Go returned %v, want context.Canceled", err)
		}
		if err := p.Go(nop); !errors.Is(err, context.Canceled) {
			t.Fatalf("Go after cancel returned %v", err)
		}
		if p.TryGo(nop) {
			t.Fatal("TryGo after cancel admitted")
		}
		b.finish(0, nil)
		b.finish(1, nil) // the queued task was admitted: it still runs
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if ran.Load() {
			t.Fatal("the task whose Go returned an error ran")
		}
		if got := b.startedIDs(); fmt.Sprint(got) != "[0 1]" {
			t.Fatalf("started %v, want the admitted task to run", got)
		}
	})
}

func TestBlockedOnSemaphoreReturnsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.New(1)
		s.Acquire(context.Background(), 1) // held by someone else
		ctx, cancel := context.WithCancel(context.Background())
		p := Shared(ctx, s)
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(nop) }()
		synctest.Wait()
		if st := p.Stats(); st.Waiting != 1 || st.InUse != 0 {
			t.Fatalf("stats: %+v", st)
		}
		cancel()
		if err := <-goErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("Go returned %v", err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.InUse != 1 || st.Waiting != 0 {
			t.Fatalf("semaphore after: %+v", st)
		}
		s.Release(1)
	})
}

func TestFirstErrorAndCancelOnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("a")
		p := New(context.Background(), 2, WithCancelOnError(), WithQueueSize(0))
		b := newBlocker()
		p.Go(b.task(0))
		p.Go(b.task(1))
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(nop) }()
		synctest.Wait()
		b.finish(0, errA)
		if err := <-goErr; !errors.Is(err, context.Canceled) {
			// The blocked Go either got the slot before the cancel or
			// returned the context's error: with a hand-off the worker
			// records the error (and cancels) before looking for more.
			t.Fatalf("blocked Go returned %v, want context.Canceled", err)
		}
		if cause := context.Cause(p.Context()); cause != errA {
			t.Fatalf("cause %v, want %v", cause, errA)
		}
		b.finish(1, errors.New("b"))
		if err := p.Wait(); err != errA {
			t.Fatalf("Wait returned %v, want the first error", err)
		}
		if st := p.Stats(); st.Failed != 2 || st.Completed != 2 {
			t.Fatalf("stats: %+v", st)
		}
	})
}

func TestErrorDoesNotCancelByDefault(t *testing.T) {
	p := New(context.Background(), 2)
	errA := errors.New("a")
	p.Go(func(context.Context) error { return errA })
	p.Go(func(context.Context) error { return errA })
	if err := p.Wait(); err != errA {
		t.Fatalf("Wait: %v", err)
	}
	// Only Wait cancelled it, with context.Canceled as the cause.
	if cause := context.Cause(p.Context()); cause != context.Canceled {
		t.Fatalf("cause %v", cause)
	}
}

func TestCollectErrors(t *testing.T) {
	p := New(context.Background(), 3, WithCollectErrors())
	var want []error
	for i := range 10 {
		err := fmt.Errorf("task %d", i)
		if i%3 == 0 {
			want = append(want, err)
		} else {
			err = nil
		}
		p.Go(func(context.Context) error { return err })
	}
	err := p.Wait()
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("Wait error %q lacks %q", err, w)
		}
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(want) {
		t.Fatalf("%d errors joined, want %d", n, len(want))
	}
}

type boom struct{ n int }

//go:noinline
func panickingTaskBody() { panic(boom{7}) }

func TestPanicIsReraisedFromWaitWithTaskStack(t *testing.T) {
	p := New(context.Background(), 2)
	var others atomic.Int64
	if err := p.Go(func(context.Context) error { panickingTaskBody(); return nil }); err != nil {
		t.Fatal(err)
	}
	// The panic cancels the group, so the Go calls made after it return
	// the context's error and their tasks never run; the ones admitted
	// before it must all run.
	admitted := int64(0)
	for range 20 {
		err := p.Go(func(context.Context) error { others.Add(1); return nil })
		switch {
		case err == nil:
			admitted++
		case !errors.Is(err, context.Canceled):
			t.Fatalf("Go after the panic: %v, want nil or context.Canceled", err)
		}
	}
	var got any
	func() {
		defer func() { got = recover() }()
		p.Wait()
	}()
	pe, ok := got.(*PanicError)
	if !ok {
		t.Fatalf("Wait panicked with %T %v, want *PanicError", got, got)
	}
	if pe.Value != (boom{7}) {
		t.Fatalf("panic value %v", pe.Value)
	}
	if pe.Op != "pool: task" || pe.Goexit || !strings.HasPrefix(pe.Error(), "pool: task panicked: ") {
		t.Fatalf("PanicError Op %q Goexit %v, message %q", pe.Op, pe.Goexit, pe.Error())
	}
	if !strings.Contains(string(pe.Stack), "panickingTaskBody") || !strings.Contains(pe.Error(), "panickingTaskBody") {
		t.Fatalf("stack lacks the task's frames:\n%s", pe.Stack)
	}
	if others.Load() != admitted {
		t.Fatalf("%d other tasks ran, want %d (admitted tasks all run)", others.Load(), admitted)
	}
	if st := p.Stats(); st.Panicked != 1 || st.Completed != admitted+1 {
		t.Fatalf("stats: %+v", st)
	}
	if p.Context().Err() == nil {
		t.Fatal("group context not cancelled")
	}
	// A second Wait re-panics with the same value.
	func() {
		defer func() {
			if r := recover(); r != pe {
				t.Fatalf("second Wait panicked with %v", r)
			}
		}()
		p.Wait()
	}()
}

func TestPanicWithErrorUnwraps(t *testing.T) {
	p := New(context.Background(), 1)
	errX := errors.New("x")
	p.Go(func(context.Context) error { panic(errX) })
	defer func() {
		pe := recover().(*PanicError)
		if !errors.Is(pe, errX) {
			t.Fatalf("PanicError does not unwrap to the panic error")
		}
		if !errors.Is(context.Cause(p.Context()), errX) {
			t.Fatalf("cause %v", context.Cause(p.Context()))
		}
	}()
	p.Wait()
}

func TestGoexitInTask(t *testing.T) {
	p := New(context.Background(), 1, WithQueueSize(4))
	var n atomic.Int64
	gate := make(chan struct{})
	p.Go(func(context.Context) error { <-gate; runtime.Goexit(); return nil })
	for range 4 {
		p.Go(func(context.Context) error { n.Add(1); return nil })
	}
	close(gate)
	err := p.Wait()
	if !errors.Is(err, errGoexit) {
		t.Fatalf("Wait returned %v", err)
	}
	if n.Load() != 4 {
		t.Fatalf("%d queued tasks ran after Goexit, want 4", n.Load())
	}
	// The error is the one PanicError, with Goexit set.
	var pe *PanicError
	if !errors.As(err, &pe) || !pe.Goexit || pe.Op != "pool: task" || pe.Value != nil {
		t.Fatalf("Wait returned %#v, want a *PanicError with Goexit set and Op \"pool: task\"", err)
	}
	if !strings.Contains(err.Error(), "pool: task called runtime.Goexit") {
		t.Fatalf("error %q does not say what happened", err)
	}
	if st := p.Stats(); st.Panicked != 1 || st.Failed != 0 || st.Completed != 5 {
		t.Fatalf("stats: %+v, want the Goexit counted in Panicked", st)
	}
}

func TestGoAfterWait(t *testing.T) {
	p := New(context.Background(), 1)
	p.Go(nop)
	p.Wait()
	if err := p.Go(nop); !errors.Is(err, ErrDone) {
		t.Fatalf("Go after Wait returned %v", err)
	}
	if p.TryGo(nop) {
		t.Fatal("TryGo after Wait admitted")
	}
	if !strings.HasPrefix(ErrDone.Error(), "pool: ") {
		t.Fatal("error does not name the package")
	}
}

func TestGoFromTasks(t *testing.T) {
	// A task may add tasks to its own group while Wait waits. (31 tasks
	// never fill the default queue of 64, so no Go here blocks: see the
	// package doc on tasks that block in Go on their own group.)
	p := New(context.Background(), 3)
	var n atomic.Int64
	var spawn func(depth int) Task
	spawn = func(depth int) Task {
		return func(ctx context.Context) error {
			n.Add(1)
			if depth < 4 {
				for range 2 {
					if err := p.Go(spawn(depth + 1)); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	p.Go(spawn(0))
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 31 {
		t.Fatalf("%d tasks, want 31", n.Load())
	}
}

func TestSharedCapAcrossGroups(t *testing.T) {
	// Three groups (three trigger paths) on one semaphore of 4: at most 4
	// of their tasks ever run at once. (That all 4 get used is not
	// asserted here: it depends on scheduling. TestSharedGroupsTakeTurns
	// checks the hand-over deterministically.)
	s := sem.New(4)
	var tr conctest.Tracker
	task := func(ctx context.Context) error {
		defer tr.Enter()()
		runtime.Gosched()
		return nil
	}
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := Shared(context.Background(), s, WithQueueSize(g*3))
			for range 2000 {
				if err := p.Go(task); err != nil {
					t.Error(err)
					return
				}
				admitted.Add(1)
			}
			if err := p.Wait(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if tr.Max() > 4 {
		t.Fatalf("%d tasks ran at once on a semaphore of 4", tr.Max())
	}
	if tr.Total() != 6000 || admitted.Load() != 6000 {
		t.Fatalf("ran %d, admitted %d, want 6000", tr.Total(), admitted.Load())
	}
	if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("semaphore not empty after every Wait: %+v", st)
	}
}

func TestSharedGroupsTakeTurns(t *testing.T) {
	// Group A holds both slots of a shared semaphore with a backlog. Group
	// B's Go waits on the semaphore. When A's next task ends, A gives that
	// slot to B instead of starting its next task on it; A keeps its last
	// slot until its backlog is done.
	synctest.Test(t, func(t *testing.T) {
		s := sem.New(2)
		ba, bb := newBlocker(), newBlocker()
		a := Shared(context.Background(), s, WithQueueSize(4))
		for id := range 6 {
			if err := a.Go(ba.task(id)); err != nil {
				t.Fatal(err)
			}
		}
		b := Shared(context.Background(), s)
		goErr := make(chan error, 1)
		go func() { goErr <- b.Go(bb.task(100)) }()
		synctest.Wait()
		if st := b.Stats(); st.Waiting != 1 {
			t.Fatalf("B: %+v", st)
		}
		ba.finish(0, nil)
		if err := <-goErr; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := bb.startedIDs(); len(got) != 1 {
			t.Fatal("B's task did not get the slot A gave back")
		}
		if st := a.Stats(); st.InUse != 1 || st.Queued != 4 {
			t.Fatalf("A after yielding: %+v", st)
		}
		// B's task holds a slot and nobody waits: A keeps its last slot
		// and works through its backlog on it.
		for _, id := range []int{1, 2, 3, 4, 5} {
			ba.finish(id, nil)
		}
		if err := a.Wait(); err != nil {
			t.Fatal(err)
		}
		bb.finish(100, nil)
		if err := b.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSharedSemaphoreClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sem.New(1)
		p := Shared(context.Background(), s, WithQueueSize(1))
		b := newBlocker()
		p.Go(b.task(0))
		p.Go(b.task(1)) // queued
		s.Close()
		// The group still has a worker: admitted work finishes on it.
		b.finish(0, nil)
		b.finish(1, nil)
		synctest.Wait()
		// No worker now, and the semaphore is closed.
		if err := p.Go(nop); !errors.Is(err, sem.ErrClosed) {
			t.Fatalf("Go on a closed semaphore returned %v", err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := b.startedIDs(); len(got) != 2 {
			t.Fatalf("started %v", got)
		}
	})
}

// TestMemoryFlat feeds a million items through a group of 8 and samples,
// from the submitting loop and from the tasks, the goroutines the group
// owns (started and not yet given their slot back, counted by the group
// itself): they never exceed the limit. (Not runtime.NumGoroutine: while
// goroutines come and go it counts dead ones for a while, by dozens.)
func TestMemoryFlat(t *testing.T) {
	const limit, items = 8, 1_000_000
	p := New(context.Background(), limit)
	var peak atomic.Int64
	sample := func() {
		n := p.goroutines.Load()
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				return
			}
		}
	}
	var ran atomic.Int64
	task := func(context.Context) error {
		if ran.Add(1)%512 == 0 {
			sample()
		}
		return nil
	}
	for i := range items {
		if err := p.Go(task); err != nil {
			t.Fatal(err)
		}
		if i%256 == 0 {
			sample()
		}
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != items {
		t.Fatalf("%d ran", ran.Load())
	}
	if peak.Load() > limit {
		t.Fatalf("the group owned %d goroutines at once, limit %d", peak.Load(), limit)
	}
	if n := p.goroutines.Load(); n != 0 {
		t.Fatalf("%d goroutines still counted after Wait", n)
	}
	t.Logf("peak goroutines owned: %d (limit %d)", peak.Load(), limit)
}

// TestStress runs several submitters and nested submissions on groups
// sharing one semaphore, with random errors, cancellations and queue
// sizes, and checks the contract: every Go that returned nil ran exactly
// once, every Go that returned an error never ran, the shared cap held.
func TestStress(t *testing.T) {
	conctest.Runs(t, 30, func(t *testing.T, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 2))
		size := int64(1 + rng.IntN(5))
		s := sem.New(size)
		var tr conctest.Tracker
		var wg sync.WaitGroup
		for g := range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			opts := []Option{WithQueueSize(rng.IntN(6))}
			if g == 1 {
				opts = append(opts, WithCancelOnError())
			}
			p := Shared(ctx, s, opts...)
			var admitted, ran, rejected atomic.Int64
			var runs sync.Map
			cancelAt := -1
			if rng.IntN(2) == 0 {
				cancelAt = rng.IntN(300)
			}
			failEvery := 50 + rng.IntN(100)
			var mk func(id int64, depth int) Task
			mk = func(id int64, depth int) Task {
				return func(ctx context.Context) error {
					defer tr.Enter()()
					if _, dup := runs.LoadOrStore(id, true); dup {
						t.Errorf("task %d ran twice", id)
					}
					ran.Add(1)
					if depth == 0 && id%7 == 0 {
						// TryGo, not Go: a task blocking in Go on a group
						// whose slots are all held by tasks doing the same
						// would wait forever (see the package doc).
						if p.TryGo(mk(id*1000+1, 1)) {
							admitted.Add(1)
						}
					}
					runtime.Gosched()
					if id%int64(failEvery) == 0 {
						return fmt.Errorf("task %d failed", id)
					}
					return nil
				}
			}
			var subs sync.WaitGroup
			for sub := range 2 {
				wg.Add(1)
				subs.Add(1)
				go func() {
					defer wg.Done()
					defer subs.Done()
					for i := range 200 {
						id := int64(sub*100000 + i + 1)
						if sub == 0 && i == cancelAt {
							cancel()
						}
						var err error
						if i%5 == 0 {
							if !p.TryGo(mk(id, 0)) {
								err = errors.New("not admitted")
							}
						} else {
							err = p.Go(mk(id, 0))
						}
						if err == nil {
							admitted.Add(1)
						} else {
							rejected.Add(1)
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				// Wait once both submitters are done with Go (tasks may
				// still call Go while Wait waits).
				subs.Wait()
				p.Wait()
				if admitted.Load() != ran.Load() {
					t.Errorf("seed %d group %d: %d admitted, %d ran", seed, g, admitted.Load(), ran.Load())
				}
			}()
		}
		wg.Wait()
		if tr.Max() > int(size) {
			t.Fatalf("seed %d: %d ran at once on a semaphore of %d", seed, tr.Max(), size)
		}
		if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
			t.Fatalf("seed %d: semaphore after: %+v", seed, st)
		}
	})
}
