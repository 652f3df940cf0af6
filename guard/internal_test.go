package guard

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func TestHoldCache(t *testing.T) {
	// Calls made with the same context reuse one hold (no allocation);
	// another context replaces it.
	var l lock
	ctx := context.Background()
	h1, err := l.acquire(ctx)
	if err != nil || h1 == nil {
		t.Fatal(h1, err)
	}
	l.release(h1)
	h2, _ := l.acquire(ctx)
	l.release(h2)
	if h1 != h2 {
		t.Fatal("same context: hold not reused")
	}
	other, cancel := context.WithCancel(ctx)
	defer cancel()
	h3, _ := l.acquire(other)
	l.release(h3)
	if h3 == h1 || h3.parent != other {
		t.Fatal("other context: hold not replaced")
	}
	if allocs := testing.AllocsPerRun(100, func() {
		h, _ := l.acquire(ctx)
		l.release(h)
	}); allocs > 0.01 {
		// (the first run refills the cache)
		t.Logf("allocs per acquire/release with one context: %v", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		h, _ := l.acquire(other)
		l.release(h)
	}); allocs != 0 {
		t.Fatalf("allocs per acquire/release with one context: %v, want 0", allocs)
	}
}

func TestSafeToCompare(t *testing.T) {
	type mapCtx struct {
		context.Context
		m map[int]int
	}
	if !safeToCompare(context.Background()) {
		t.Error("Background reported unsafe")
	}
	if safeToCompare(mapCtx{context.Background(), nil}) {
		t.Error("a context struct with a map field reported safe")
	}
	// A comparable wrapper around an uncomparable one is unsafe too.
	if safeToCompare(detached{mapCtx{context.Background(), nil}}) {
		t.Error("a wrapper around an uncomparable context reported safe")
	}
	if !safeToCompare(detached{context.Background()}) {
		t.Error("a wrapper around Background reported unsafe")
	}
}

func TestHoldContextDelegates(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, 1), time.Hour)
	defer cancel()
	var l lock
	h, _ := l.acquire(parent)
	defer l.release(h)
	if h.Value(key{}) != 1 || h.Value(&l) != h || h.Value(new(lock)) != nil {
		t.Fatal("hold Value")
	}
	if d1, _ := h.Deadline(); d1.IsZero() {
		t.Fatal("hold Deadline")
	}
	if h.Done() != parent.Done() || h.Err() != nil {
		t.Fatal("hold Done/Err")
	}
	if !strings.Contains(h.String(), "WithGuardHold") {
		t.Fatalf("String %q", h.String())
	}
	// A child of the hold is cancelled with the parent.
	child, stop := context.WithCancel(h)
	defer stop()
	cancel()
	<-child.Done()
}

func TestHandoffWhenStarving(t *testing.T) {
	// Once a waiter has waited starveAfter and lost to a newcomer, the
	// handoff bit is set: a release hands the lock to the oldest waiter,
	// and a newcomer can no longer barge in, it queues. We set the bit
	// directly (losing a race to a newcomer cannot be arranged
	// deterministically) and check the hand-off that follows.
	synctest.Test(t, func(t *testing.T) {
		var l lock
		holder, _ := l.acquire(context.Background())

		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		run := func(name string) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.WithValue(context.Background(), struct{}{}, name)
				h, err := l.acquire(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				l.release(h)
			}()
			synctest.Wait()
		}
		run("old")
		l.mu.Lock()
		l.setFlags(handoffBit, 0)
		l.mu.Unlock()
		// A newcomer cannot take the lock even at the moment it is free:
		// it must queue.
		if l.tryTake(12345 << flagBits) {
			t.Fatal("barged in during hand-off")
		}
		run("new")
		if st := l.stats(); st.Waiting != 2 {
			t.Fatalf("stats %+v, want 2 waiting", st)
		}
		l.release(holder)
		wg.Wait()
		if got := strings.Join(order, ","); got != "old,new" {
			t.Fatalf("order %q, want old,new", got)
		}
		if s := l.state.Load(); s != 0 {
			t.Fatalf("state %#x after everyone left, want 0", s)
		}
	})
}

func TestStarvingWaiterGetsThrough(t *testing.T) {
	// Liveness under real contention: two goroutines take the lock in a
	// tight loop; a third caller still gets it, thanks to the hand-off
	// after starveAfter. (Without it, it would usually get through too.)
	var l lock
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				h, _ := l.acquire(context.Background())
				l.release(h)
			}
		}()
	}
	// No wall-clock bound: the hand-off works on real time and real
	// contention, so this cannot run in a bubble, and on a loaded machine
	// any bound could be too short. A starved caller would hang until go
	// test's -timeout, which fails the run with every goroutine's stack.
	for range 20 {
		ctx := context.WithValue(context.Background(), struct{}{}, 1)
		h, err := l.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l.release(h)
	}
	close(stop)
	wg.Wait()
}

func TestCancelWithWakeUpPassesItOn(t *testing.T) {
	// A waiter that was woken (its token is in its channel) but leaves
	// because its context ended must pass the wake-up to the next waiter.
	// We play the leaving waiter by hand: push it, release (which wakes
	// it), then run its cancellation path.
	synctest.Test(t, func(t *testing.T) {
		var l lock
		holder, _ := l.acquire(context.Background())
		l.mu.Lock()
		l.setFlags(queuedBit, 0)
		a := newWaiter()
		a.h = newHold(context.Background(), &l, true)
		a.h.id = holdIDs.Add(1)
		l.pushLocked(a)
		l.mu.Unlock()

		bGot := make(chan error)
		go func() {
			ctx := context.WithValue(context.Background(), struct{}{}, "b")
			h, err := l.acquire(ctx)
			if err == nil {
				l.release(h)
			}
			bGot <- err
		}()
		synctest.Wait()
		if st := l.stats(); st.Waiting != 2 {
			t.Fatalf("stats %+v, want a and b waiting", st)
		}

		l.release(holder) // wakes a, the head
		if l.woken != a || len(a.ready) != 1 {
			t.Fatal("release did not wake the head")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.cancelWait(ctx, a); err != context.Canceled {
			t.Fatalf("cancelWait: %v", err)
		}
		if err := <-bGot; err != nil {
			t.Fatalf("b: %v", err)
		}
		if s := l.state.Load(); s != 0 {
			t.Fatalf("state %#x, want 0", s)
		}
	})
}

func TestWokenWaiterRechecksUnderMu(t *testing.T) {
	// While a woken waiter has not answered, a release frees the lock
	// without waking anyone. So a woken waiter whose first try lost to a
	// newcomer must look again under mu: the newcomer may have released
	// in between, and no other wake-up is coming. We play the steps in
	// that order by hand.
	var l lock
	holder, _ := l.acquire(context.Background())
	l.mu.Lock()
	l.setFlags(queuedBit, 0)
	w := newWaiter()
	w.h = newHold(context.Background(), &l, true)
	w.h.id = holdIDs.Add(1)
	w.since = time.Now()
	l.pushLocked(w)
	l.mu.Unlock()

	l.release(holder) // frees the lock and wakes w
	<-w.ready
	if l.woken != w || l.state.Load()&wokenBit == 0 {
		t.Fatal("release did not wake the waiter")
	}
	barger := newHold(context.Background(), &l, true)
	barger.id = holdIDs.Add(1)
	if !l.tryTake(barger.id << flagBits) {
		t.Fatal("a newcomer could not barge in")
	}
	took := l.tryTake(w.h.id << flagBits) // w's first try loses
	l.release(barger)                     // frees the lock, wakes nobody
	if len(w.ready) != 0 {
		t.Fatal("the release woke the waiter again")
	}
	settled, err := l.answer(w, took)
	if !settled || err != nil || !l.holding(w.h) {
		t.Fatalf("answer: settled %v, err %v, holding %v; want the lock", settled, err, l.holding(w.h))
	}
	l.release(w.h)
	if s := l.state.Load(); s != 0 {
		t.Fatalf("state %#x, want 0", s)
	}
}
