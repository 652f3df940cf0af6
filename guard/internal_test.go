package guard

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/internal/fifo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func TestCallbackContexts(t *testing.T) {
	// Every hold gets a context of its own, cut from the block for its
	// parent context: calls made with the same context share the block
	// and allocate almost nothing; another context gets a block of its
	// own and replaces the cached one.
	var l lock
	ctx := context.Background()
	c1, err := l.acquire(ctx)
	if err != nil || c1 == nil {
		t.Fatal(c1, err)
	}
	l.release(c1.word())
	c2, _ := l.acquire(ctx)
	l.release(c2.word())
	if c1 == c2 || c1.word() == c2.word() {
		t.Fatal("same context: two holds got the same context")
	}
	if c1.block() != c2.block() {
		t.Fatal("same context: block not reused")
	}
	other, cancel := context.WithCancel(ctx)
	defer cancel()
	c3, _ := l.acquire(other)
	l.release(c3.word())
	if c3.block() == c1.block() || c3.block().parent != other || l.cache.Load() != c3.block() {
		t.Fatal("other context: block not replaced")
	}
	// head steps back from a lockCtx to its slab's head: every kind of
	// slab must keep its cells at the same offset.
	if a, b, c := unsafe.Offsetof(slab[[1]lockCtx]{}.cells), unsafe.Offsetof(slab[[smallSlab]lockCtx]{}.cells),
		unsafe.Offsetof(slab[[bigSlab]lockCtx]{}.cells); a != b || a != c {
		t.Fatalf("slab arrays at offsets %d, %d, %d", a, b, c)
	}
	seen := make(map[*lockCtx]bool, 20*bigSlab) // sized up front: AllocsPerRun counts its growth too
	if allocs := testing.AllocsPerRun(10*bigSlab, func() {
		c, _ := l.acquire(other)
		seen[c] = true
		l.release(c.word())
		if c.block() != c3.block() {
			t.Fatal("a context from a later slab does not find its block")
		}
	}); allocs > 2.0/bigSlab {
		t.Fatalf("allocs per acquire/release with one context: %v, want at most one per %d", allocs, bigSlab/2)
	}
	if len(seen) != 10*bigSlab+1 {
		t.Fatalf("%d distinct contexts in %d holds", len(seen), 10*bigSlab+1)
	}
}

func TestStaleContextNeverHolds(t *testing.T) {
	// The context of a hold that ended never counts as the holder's: not
	// while the lock is free, and not under a later hold made with the
	// same parent context, from the same block.
	var l lock
	ctx := context.Background()
	kept, _ := l.acquire(ctx)
	if !l.holding(kept) {
		t.Fatal("holder not recognised")
	}
	l.release(kept.word())
	if l.holding(kept) {
		t.Fatal("a free lock held by a stale context")
	}
	for range 3 * bigSlab {
		c, _ := l.acquire(ctx)
		if c.block() != kept.block() {
			t.Fatal("block not reused")
		}
		if l.holding(kept) || !l.holding(c) {
			t.Fatalf("stale context taken for the holder's (gen %#x, now %#x)", kept.word(), c.word())
		}
		l.release(c.word())
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
	defer l.release(h.word())
	if h.Value(key{}) != 1 || h.Value(&l) != h || h.Value(new(lock)) != nil || h.Value(new(rwLock)) != nil {
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
				l.release(h.word())
			}()
			synctest.Wait()
		}
		run("old")
		l.mu.Lock()
		l.setFlags(handoffBit, 0)
		l.mu.Unlock()
		// A newcomer cannot take the lock even at the moment it is free:
		// it must queue.
		if l.tryTake() {
			t.Fatal("barged in during hand-off")
		}
		run("new")
		if st := l.stats(); st.Waiting != 2 {
			t.Fatalf("stats %+v, want 2 waiting", st)
		}
		l.release(holder.word())
		wg.Wait()
		if got := strings.Join(order, ","); got != "old,new" {
			t.Fatalf("order %q, want old,new", got)
		}
		if s := l.state.Load(); s&(heldBit|flagMask) != 0 {
			t.Fatalf("state %#x after everyone left, want free with no flags", s)
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
				l.release(h.word())
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
		l.release(h.word())
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
		l.pushLocked(a)
		l.mu.Unlock()

		bGot := make(chan error)
		go func() {
			ctx := context.WithValue(context.Background(), struct{}{}, "b")
			h, err := l.acquire(ctx)
			if err == nil {
				l.release(h.word())
			}
			bGot <- err
		}()
		synctest.Wait()
		if st := l.stats(); st.Waiting != 2 {
			t.Fatalf("stats %+v, want a and b waiting", st)
		}

		l.release(holder.word()) // wakes a, the head
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
		if s := l.state.Load(); s&(heldBit|flagMask) != 0 {
			t.Fatalf("state %#x, want free with no flags", s)
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
	w.since = fifo.Now()
	l.pushLocked(w)
	l.mu.Unlock()

	l.release(holder.word()) // frees the lock and wakes w
	<-w.ready
	if l.woken != w || l.state.Load()&wokenBit == 0 {
		t.Fatal("release did not wake the waiter")
	}
	if !l.tryTake() {
		t.Fatal("a newcomer could not barge in")
	}
	barger := l.heldWord()
	took := l.tryTake() // w's first try loses
	l.release(barger)   // frees the lock, wakes nobody
	if len(w.ready) != 0 {
		t.Fatal("the release woke the waiter again")
	}
	settled, err := l.answer(w, took)
	if !settled || err != nil || l.state.Load()&heldBit == 0 {
		t.Fatalf("answer: settled %v, err %v, state %#x; want the lock", settled, err, l.state.Load())
	}
	l.release(l.heldWord())
	if s := l.state.Load(); s&(heldBit|flagMask) != 0 {
		t.Fatalf("state %#x, want free with no flags", s)
	}
}

func TestLostHandOffNotAdmitted(t *testing.T) {
	// A waiter handed the lock just as its context ends gives the lock
	// back and returns ctx.Err(): gen counted the hand-off, Admitted must
	// not. We play the waiter by hand: queue it, switch to hand-off,
	// release (which hands it the lock), then run its cancellation path.
	var l lock
	holder, _ := l.acquire(context.Background())
	l.mu.Lock()
	l.setFlags(queuedBit|handoffBit, 0)
	a := newWaiter()
	a.since = fifo.Now()
	l.pushLocked(a)
	l.mu.Unlock()
	l.release(holder.word())
	if !a.granted || len(a.ready) != 1 {
		t.Fatal("release did not hand the lock to the waiter")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.cancelWait(ctx, a); err != context.Canceled {
		t.Fatalf("cancelWait: %v", err)
	}
	if st := l.stats(); st.Admitted != 1 || st.Cancelled != 1 || st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v, want the holder admitted and the waiter cancelled", st)
	}
	if s := l.state.Load(); s&(heldBit|flagMask) != 0 {
		t.Fatalf("state %#x, want free with no flags", s)
	}
}
