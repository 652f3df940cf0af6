package keyed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/sluice-go/sluice/conctest"
)

// The lock model: what a FIFO keyed (RW)mutex must do, written as plainly
// as possible. The real lock is driven through the same random operations,
// one at a time, with synctest.Wait between them so every goroutine has
// settled; then both are compared: who holds each key, who waits, what
// each finished call returned, Len and the waiter count.
type lockModel struct {
	keys   map[int]*modelKey
	closed bool
	// the running totals: holds granted (at once, by a Try, or from the
	// queue), waits given up, Trys that failed
	admitted, cancelled, rejected int64
}

type modelKey struct {
	writer  int // actor id, or -1
	readers []int
	queue   []modelReq // oldest first
}

type modelReq struct {
	id    int
	write bool
}

func (m *lockModel) key(k int) *modelKey {
	mk := m.keys[k]
	if mk == nil {
		mk = &modelKey{writer: -1}
		m.keys[k] = mk
	}
	return mk
}

// grant admits from the head while the head can go.
func (mk *modelKey) grant(granted func(id int)) {
	for len(mk.queue) > 0 {
		r := mk.queue[0]
		if r.write {
			if mk.writer >= 0 || len(mk.readers) > 0 {
				return
			}
			mk.writer = r.id
		} else {
			if mk.writer >= 0 {
				return
			}
			mk.readers = append(mk.readers, r.id)
		}
		mk.queue = mk.queue[1:]
		granted(r.id)
	}
}

func (mk *modelKey) canGo(write bool) bool {
	if write {
		return mk.writer < 0 && len(mk.readers) == 0 && len(mk.queue) == 0
	}
	return mk.writer < 0 && len(mk.queue) == 0
}

func (mk *modelKey) used() bool {
	return mk.writer >= 0 || len(mk.readers) > 0 || len(mk.queue) > 0
}

// lockUnderTest is a Mutex or an RWMutex behind the model's operations.
type lockUnderTest interface {
	lock(ctx context.Context, k int, write bool) error
	try(k int, write bool) bool
	unlock(k int, write bool)
	len() int
	waiters() int
	// totals returns Admitted, Cancelled and Rejected from Stats.
	totals() [3]int64
	close()
}

type mutexUT struct{ m Mutex[int] }

func (u *mutexUT) lock(ctx context.Context, k int, _ bool) error { return u.m.Lock(ctx, k) }
func (u *mutexUT) try(k int, _ bool) bool                        { return u.m.TryLock(k) }
func (u *mutexUT) unlock(k int, _ bool)                          { u.m.Unlock(k) }
func (u *mutexUT) len() int                                      { return u.m.Len() }
func (u *mutexUT) waiters() int                                  { return int(u.m.Stats().Waiting) }
func (u *mutexUT) close()                                        { u.m.Close() }
func (u *mutexUT) totals() [3]int64 {
	st := u.m.Stats()
	return [3]int64{st.Admitted, st.Cancelled, st.Rejected}
}

type rwUT struct{ m RWMutex[int] }

func (u *rwUT) lock(ctx context.Context, k int, write bool) error {
	if write {
		return u.m.Lock(ctx, k)
	}
	return u.m.RLock(ctx, k)
}

func (u *rwUT) try(k int, write bool) bool {
	if write {
		return u.m.TryLock(k)
	}
	return u.m.TryRLock(k)
}

func (u *rwUT) unlock(k int, write bool) {
	if write {
		u.m.Unlock(k)
	} else {
		u.m.RUnlock(k)
	}
}
func (u *rwUT) len() int     { return u.m.Len() }
func (u *rwUT) waiters() int { return int(u.m.Stats().Waiting) }
func (u *rwUT) close()       { u.m.Close() }
func (u *rwUT) totals() [3]int64 {
	st := u.m.Stats()
	return [3]int64{st.Admitted, st.Cancelled, st.Rejected}
}

func TestMutexModel(t *testing.T) {
	runLockModel(t, func() lockUnderTest { return &mutexUT{} }, false)
}

func TestRWMutexModel(t *testing.T) {
	runLockModel(t, func() lockUnderTest { return &rwUT{} }, true)
}

func runLockModel(t *testing.T, mk func() lockUnderTest, rw bool) {
	conctest.Runs(t, 150, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { lockModelRun(t, seed, mk(), rw) })
	})
}

// actor is one Lock/RLock call (or a TryLock that succeeded, with no call).
type actor struct {
	key    int
	write  bool
	c      *call // nil for TryLock holders
	cancel context.CancelFunc
	// what the model says
	holds    bool
	waiting  bool
	finished bool  // returned with an error
	wantErr  error // when finished
	unlocked bool
}

func lockModelRun(t *testing.T, seed uint64, u lockUnderTest, rw bool) {
	rng := rand.New(rand.NewPCG(seed, 0x6b6579))
	m := &lockModel{keys: map[int]*modelKey{}}
	var actors []*actor
	const nkeys = 3
	steps := 60 + rng.IntN(60)
	closeAt := -1
	if rng.IntN(4) == 0 {
		closeAt = rng.IntN(steps)
	}
	granted := func(id int) {
		actors[id].holds, actors[id].waiting = true, false
		m.admitted++
	}
	pickWrite := func() bool { return !rw || rng.IntN(2) == 0 }
	unlock := func(id int) {
		a := actors[id]
		u.unlock(a.key, a.write)
		a.holds, a.unlocked = false, true
		mk := m.key(a.key)
		if a.write {
			mk.writer = -1
		} else {
			mk.readers = slices.DeleteFunc(mk.readers, func(x int) bool { return x == id })
		}
		mk.grant(granted)
	}

	check := func(step int, op string) {
		t.Helper()
		synctest.Wait()
		for id, a := range actors {
			if a.c == nil {
				continue
			}
			ret := a.c.returned()
			switch {
			case a.waiting:
				if ret {
					t.Fatalf("seed %d step %d (%s): actor %d returned %v, the model has it waiting", seed, step, op, id, a.c.err)
				}
			case a.holds || (a.unlocked && a.wantErr == nil):
				if !ret || a.c.err != nil {
					t.Fatalf("seed %d step %d (%s): actor %d (returned %v, err %v) should hold key %d", seed, step, op, id, ret, a.c.err, a.key)
				}
			case a.finished:
				if !ret || !errors.Is(a.c.err, a.wantErr) {
					t.Fatalf("seed %d step %d (%s): actor %d (returned %v) err %v, want %v", seed, step, op, id, ret, a.c.err, a.wantErr)
				}
			}
		}
		used, waiting := 0, 0
		for _, mk := range m.keys {
			if mk.used() {
				used++
			}
			waiting += len(mk.queue)
		}
		if got := u.len(); got != used {
			t.Fatalf("seed %d step %d (%s): Len = %d, model has %d keys in use", seed, step, op, got, used)
		}
		if got := u.waiters(); got != waiting {
			t.Fatalf("seed %d step %d (%s): Waiters = %d, model has %d", seed, step, op, got, waiting)
		}
		if got, want := u.totals(), [3]int64{m.admitted, m.cancelled, m.rejected}; got != want {
			t.Fatalf("seed %d step %d (%s): Admitted, Cancelled, Rejected = %v, model has %v", seed, step, op, got, want)
		}
	}

	for step := range steps {
		op := ""
		switch r := rng.IntN(10); {
		case step == closeAt:
			op = "close"
			u.close()
			m.closed = true
			for _, mk := range m.keys {
				for _, r := range mk.queue {
					a := actors[r.id]
					a.waiting, a.finished, a.wantErr = false, true, ErrClosed
				}
				mk.queue = nil
			}
		case r < 4: // Lock or RLock on its own goroutine
			k, write := rng.IntN(nkeys), pickWrite()
			op = fmt.Sprintf("lock(%d, write=%v)", k, write)
			ctx, cancel := context.WithCancel(context.Background())
			a := &actor{key: k, write: write, cancel: cancel}
			id := len(actors)
			actors = append(actors, a)
			mk := m.key(k)
			switch {
			case m.closed:
				a.finished, a.wantErr = true, ErrClosed
			case mk.canGo(write):
				if write {
					mk.writer = id
				} else {
					mk.readers = append(mk.readers, id)
				}
				a.holds = true
				m.admitted++
			default:
				mk.queue = append(mk.queue, modelReq{id, write})
				a.waiting = true
			}
			a.c = start(func() error { return u.lock(ctx, k, write) })
		case r < 5: // TryLock / TryRLock
			k, write := rng.IntN(nkeys), pickWrite()
			op = fmt.Sprintf("try(%d, write=%v)", k, write)
			mk := m.key(k)
			want := !m.closed && mk.canGo(write)
			if got := u.try(k, write); got != want {
				t.Fatalf("seed %d step %d: %s = %v, model says %v", seed, step, op, got, want)
			}
			if !want {
				m.rejected++
			} else {
				m.admitted++
				id := len(actors)
				actors = append(actors, &actor{key: k, write: write, holds: true})
				if write {
					mk.writer = id
				} else {
					mk.readers = append(mk.readers, id)
				}
			}
		case r < 8: // unlock a random holder
			var holders []int
			for id, a := range actors {
				if a.holds {
					holders = append(holders, id)
				}
			}
			if len(holders) == 0 {
				continue
			}
			id := holders[rng.IntN(len(holders))]
			op = fmt.Sprintf("unlock(%d, write=%v) by %d", actors[id].key, actors[id].write, id)
			unlock(id)
		case r < 9: // cancel a random waiter
			var waiting []int
			for id, a := range actors {
				if a.waiting {
					waiting = append(waiting, id)
				}
			}
			if len(waiting) == 0 {
				continue
			}
			id := waiting[rng.IntN(len(waiting))]
			a := actors[id]
			op = fmt.Sprintf("cancel %d", id)
			a.cancel()
			a.waiting, a.finished, a.wantErr = false, true, context.Canceled
			m.cancelled++
			mk := m.key(a.key)
			mk.queue = slices.DeleteFunc(mk.queue, func(r modelReq) bool { return r.id == id })
			mk.grant(granted)
		default: // unlock of a key not held in that mode: must panic
			k, write := rng.IntN(nkeys), pickWrite()
			mk := m.key(k)
			if (write && mk.writer >= 0) || (!write && len(mk.readers) > 0) {
				continue
			}
			op = fmt.Sprintf("bad unlock(%d, write=%v)", k, write)
			conctest.MustPanic(t, func() { u.unlock(k, write) }, "keyed:", "not")
		}
		check(step, op)
	}
	// Wind down: cancel every waiter, release every holder.
	for id, a := range actors {
		if a.waiting {
			a.cancel()
			a.waiting, a.finished, a.wantErr = false, true, context.Canceled
			m.cancelled++
			mk := m.key(a.key)
			mk.queue = slices.DeleteFunc(mk.queue, func(r modelReq) bool { return r.id == id })
			mk.grant(granted)
		}
	}
	check(steps, "cancel all")
	for {
		id := slices.IndexFunc(actors, func(a *actor) bool { return a.holds })
		if id < 0 {
			break
		}
		unlock(id)
	}
	check(steps+1, "unlock all")
	if n := u.len(); n != 0 {
		t.Fatalf("seed %d: Len = %d at the end", seed, n)
	}
	for _, a := range actors {
		if a.cancel != nil {
			a.cancel()
		}
	}
}

// The Once model: per key, who runs fn, whether a success is remembered,
// the Forget generation, and the queue of waiters with the generation each
// arrived in. A waiter shares the result of the run in progress when it
// arrived unless Forget was called between that run's start and its
// arrival; then it waits for the next run.
type onceModelKey struct {
	runner int // actor id running fn, or -1
	done   bool
	gen    int
	runGen int
	queue  []onceModelWaiter
}

type onceModelWaiter struct{ id, gen int }

type onceActor struct {
	key     int
	c       *call
	cancel  context.CancelFunc
	result  chan error // what its fn returns, when it runs
	inFn    bool       // set by its fn (under mu)
	waiting bool       // model: queued
	running bool       // model: its fn is running
	ret     bool       // model: Do has returned
	want    error      // model: what Do returned
}

func TestOnceModel(t *testing.T) {
	conctest.Runs(t, 150, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { onceModelRun(t, seed) })
	})
}

func onceModelRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6f6e6365))
	const nkeys = 3
	var o Once[int]
	keys := map[int]*onceModelKey{}
	key := func(k int) *onceModelKey {
		if keys[k] == nil {
			keys[k] = &onceModelKey{runner: -1}
		}
		return keys[k]
	}
	var actors []*onceActor
	var inside [nkeys]atomic.Int32 // runs of fn in progress, real
	var mu sync.Mutex              // guards onceActor.inFn
	closed := false
	// the running totals: Do calls let through (ran fn, shared a result,
	// hit), waits given up
	var admitted, cancelled int64

	// finish is the model of a run's end.
	finish := func(k int, err error, gaveUp bool) {
		mk := key(k)
		mk.runner = -1
		fresh := mk.gen == mk.runGen
		if err == nil && fresh {
			mk.done = true
		}
		if !gaveUp {
			mk.queue = slices.DeleteFunc(mk.queue, func(w onceModelWaiter) bool {
				if w.gen != mk.runGen {
					return false
				}
				a := actors[w.id]
				a.waiting, a.ret, a.want = false, true, err
				admitted++
				return true
			})
		}
		if len(mk.queue) > 0 {
			next := mk.queue[0]
			mk.queue = mk.queue[1:]
			mk.runner, mk.runGen = next.id, mk.gen
			for i := range mk.queue {
				mk.queue[i].gen = mk.gen
			}
			actors[next.id].waiting, actors[next.id].running = false, true
			admitted++
			return
		}
		if !mk.done {
			delete(keys, k)
		}
	}

	check := func(step int, op string) {
		t.Helper()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for id, a := range actors {
			ret := a.c.returned()
			switch {
			case a.ret:
				if !ret || !errors.Is(a.c.err, a.want) || (a.want == nil && a.c.err != nil) {
					t.Fatalf("seed %d step %d (%s): actor %d returned %v (err %v), want %v", seed, step, op, id, ret, a.c.err, a.want)
				}
			case a.running:
				if ret || !a.inFn {
					t.Fatalf("seed %d step %d (%s): actor %d should be running fn (returned %v, in fn %v)", seed, step, op, id, ret, a.inFn)
				}
			case a.waiting:
				if ret || a.inFn {
					t.Fatalf("seed %d step %d (%s): actor %d should wait (returned %v, in fn %v)", seed, step, op, id, ret, a.inFn)
				}
			}
		}
		entries, waiting := 0, 0
		for _, mk := range keys {
			if mk.runner >= 0 || mk.done {
				entries++
			}
			waiting += len(mk.queue)
		}
		st := o.Stats()
		if st.Keys != int64(entries) || o.Len() != entries || st.Waiting != int64(waiting) {
			t.Fatalf("seed %d step %d (%s): Stats %+v, model has %d entries, %d waiting", seed, step, op, st, entries, waiting)
		}
		if st.Admitted != admitted || st.Cancelled != cancelled || st.OldestWait != 0 {
			t.Fatalf("seed %d step %d (%s): Stats %+v, model has %d admitted, %d cancelled", seed, step, op, st, admitted, cancelled)
		}
		for k := range inside {
			if n := inside[k].Load(); n > 1 {
				t.Fatalf("seed %d step %d (%s): %d runs of fn for key %d at once", seed, step, op, n, k)
			}
		}
	}

	steps := 60 + rng.IntN(60)
	closeAt := -1
	if rng.IntN(5) == 0 {
		closeAt = rng.IntN(steps)
	}
	for step := range steps {
		op := ""
		switch r := rng.IntN(10); {
		case step == closeAt:
			op = "close"
			o.Close()
			closed = true
			for _, mk := range keys {
				for _, w := range mk.queue {
					a := actors[w.id]
					a.waiting, a.ret, a.want = false, true, ErrClosed
				}
				mk.queue = nil
			}
		case r < 4: // Do
			k := rng.IntN(nkeys)
			op = fmt.Sprintf("do(%d)", k)
			ctx, cancel := context.WithCancel(context.Background())
			a := &onceActor{key: k, cancel: cancel, result: make(chan error)}
			id := len(actors)
			actors = append(actors, a)
			mk := key(k)
			switch {
			case closed:
				a.ret, a.want = true, ErrClosed
			case mk.done:
				a.ret, a.want = true, nil
				admitted++
			case mk.runner >= 0:
				mk.queue = append(mk.queue, onceModelWaiter{id, mk.gen})
				a.waiting = true
			default:
				mk.runner, mk.runGen = id, mk.gen
				a.running = true
				admitted++
			}
			fn := func(ctx context.Context) error {
				inside[k].Add(1)
				defer inside[k].Add(-1)
				mu.Lock()
				a.inFn = true
				mu.Unlock()
				defer func() {
					mu.Lock()
					a.inFn = false
					mu.Unlock()
				}()
				select {
				case err := <-a.result:
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			a.c = start(func() error { return o.Do(ctx, k, fn) })
		case r < 7: // a running fn returns
			var running []int
			for id, a := range actors {
				if a.running {
					running = append(running, id)
				}
			}
			if len(running) == 0 {
				continue
			}
			id := running[rng.IntN(len(running))]
			a := actors[id]
			var err error
			if rng.IntN(3) == 0 {
				err = errSetup
			}
			op = fmt.Sprintf("fn of %d returns %v", id, err)
			a.result <- err
			a.running, a.ret, a.want = false, true, err
			finish(a.key, err, false)
		case r < 8: // cancel a waiting or running actor
			var live []int
			for id, a := range actors {
				if a.running || a.waiting {
					live = append(live, id)
				}
			}
			if len(live) == 0 {
				continue
			}
			id := live[rng.IntN(len(live))]
			a := actors[id]
			op = fmt.Sprintf("cancel %d (running %v)", id, a.running)
			a.cancel()
			if a.running {
				a.running, a.ret, a.want = false, true, context.Canceled
				finish(a.key, context.Canceled, true)
			} else {
				mk := key(a.key)
				mk.queue = slices.DeleteFunc(mk.queue, func(w onceModelWaiter) bool { return w.id == id })
				a.waiting, a.ret, a.want = false, true, context.Canceled
				cancelled++
			}
		default: // Forget
			k := rng.IntN(nkeys)
			op = fmt.Sprintf("forget(%d)", k)
			o.Forget(k)
			if mk := keys[k]; mk != nil {
				if mk.runner >= 0 {
					mk.gen++
				} else {
					delete(keys, k)
				}
			}
		}
		check(step, op)
	}
	// Wind down: cancel everything still in flight.
	for {
		id := slices.IndexFunc(actors, func(a *onceActor) bool { return a.running || a.waiting })
		if id < 0 {
			break
		}
		a := actors[id]
		a.cancel()
		if a.running {
			a.running, a.ret, a.want = false, true, context.Canceled
			finish(a.key, context.Canceled, true)
		} else {
			mk := key(a.key)
			mk.queue = slices.DeleteFunc(mk.queue, func(w onceModelWaiter) bool { return w.id == id })
			a.waiting, a.ret, a.want = false, true, context.Canceled
			cancelled++
		}
		check(steps, "cancel")
	}
	for k := range nkeys {
		o.Forget(k)
	}
	if n := o.Len(); n != 0 {
		t.Fatalf("seed %d: Len = %d after forgetting every key", seed, n)
	}
	for _, a := range actors {
		a.cancel()
	}
}
