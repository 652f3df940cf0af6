package queue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

func TestFIFOAndCapacity(t *testing.T) {
	ctx := context.Background()
	q := New[int](3)
	for i := range 3 {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.TryPut(9); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPut on a full queue: %v, want ErrFull", err)
	}
	// Receiving does not give room back: the item is still in process.
	a, err := q.Recv(ctx)
	if err != nil || a.Value != 0 {
		t.Fatalf("Recv = %v, %v; want 0", a.Value, err)
	}
	if err := q.TryPut(9); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPut with 2 queued + 1 in process: %v, want ErrFull", err)
	}
	if got := q.Stats(); got != (Stats{Capacity: 3, Queued: 2, InUse: 1, Admitted: 3, Rejected: 2}) {
		t.Fatalf("Stats = %+v", got)
	}
	if !a.Done() {
		t.Fatal("first Done returned false")
	}
	if a.Done() {
		t.Fatal("second Done returned true")
	}
	if err := q.TryPut(3); err != nil {
		t.Fatalf("TryPut after Done: %v", err)
	}
	for want := 1; want <= 3; want++ {
		it, err := q.Recv(ctx)
		if err != nil || it.Value != want {
			t.Fatalf("Recv = %v, %v; want %d", it.Value, err, want)
		}
		it.Done()
	}
	if _, ok, err := q.TryRecv(); ok || err != nil {
		t.Fatalf("TryRecv on empty queue: ok=%v err=%v", ok, err)
	}
	if got := q.Stats(); got != (Stats{Capacity: 3, Admitted: 4, Rejected: 2}) {
		t.Fatalf("Stats at rest = %+v", got)
	}
}

func TestReservation(t *testing.T) {
	q := New[string](2)
	r, err := q.TryReserve()
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Stats().Reserved; got != 1 {
		t.Fatalf("Reserved = %d, want 1", got)
	}
	r2 := r // a copy refers to the same room
	if err := r.Send("a"); err != nil {
		t.Fatal(err)
	}
	conctest.MustPanic(t, func() { r2.Send("b") }, "queue: ", "already sent or cancelled")
	if r.Cancel() || r2.Cancel() {
		t.Fatal("Cancel after Send returned true")
	}
	c, err := q.TryReserve()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cancel() {
		t.Fatal("Cancel returned false")
	}
	if c.Cancel() {
		t.Fatal("second Cancel returned true")
	}
	conctest.MustPanic(t, func() { c.Send("c") }, "queue: ", "already sent or cancelled")
	// The cancelled slot may be recycled; the stale copy stays inert.
	d, _ := q.TryReserve()
	if c.Cancel() {
		t.Fatal("stale Cancel returned true")
	}
	if got := q.Stats(); got.Reserved != 1 || got.Queued != 1 {
		t.Fatalf("Stats = %+v, want 1 reserved, 1 queued", got)
	}
	d.Cancel()
	it, _, _ := q.TryRecv()
	if it.Value != "a" {
		t.Fatalf("got %q, want a", it.Value)
	}
	it.Done()
	if got := q.Stats(); got != (Stats{Capacity: 2, Admitted: 3}) {
		t.Fatalf("Stats at rest = %+v", got)
	}
}

// A stale Item (its slot recycled for a later item) must not release the
// later item's room.
func TestStaleItemDone(t *testing.T) {
	ctx := context.Background()
	q := New[int](1)
	q.Put(ctx, 1)
	a, _ := q.Recv(ctx)
	a.Done()
	q.Put(ctx, 2)
	b, _ := q.Recv(ctx)
	if a.Done() {
		t.Fatal("stale Done returned true")
	}
	if got := q.Stats().InUse; got != 1 {
		t.Fatalf("InUse = %d, want 1", got)
	}
	if err := q.TryPut(3); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPut: %v, want ErrFull (b still in process)", err)
	}
	b.Done()
}

func TestReserveWaitsFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := New[int](1)
		q.Put(ctx, 0)
		order := make(chan int, 3)
		var wg sync.WaitGroup
		for i := 1; i <= 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := q.Put(ctx, i); err != nil {
					t.Errorf("Put(%d): %v", i, err)
				}
				order <- i
			}()
			synctest.Wait() // producer i is queued before i+1
		}
		if got := q.Stats().Waiting; got != 3 {
			t.Fatalf("Waiting = %d, want 3", got)
		}
		if err := q.TryPut(9); !errors.Is(err, ErrFull) {
			t.Fatalf("TryPut with waiters: %v, want ErrFull", err)
		}
		for want := 0; want <= 3; want++ {
			it, err := q.Recv(ctx)
			if err != nil || it.Value != want {
				t.Fatalf("Recv = %v, %v; want %d", it.Value, err, want)
			}
			it.Done()
			if want < 3 {
				if got := <-order; got != want+1 {
					t.Fatalf("producer %d admitted, want %d", got, want+1)
				}
			}
		}
		wg.Wait()
	})
}

func TestReserveCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New[int](1)
		q.Put(context.Background(), 0)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		// Behind the one who gives up waits another, who must be admitted.
		got := make(chan error, 1)
		go func() { got <- q.Put(ctx, 1) }()
		synctest.Wait()
		second := make(chan error, 1)
		go func() { second <- q.Put(context.Background(), 2) }()
		synctest.Wait()
		// The fake clock runs to the first producer's deadline once all block.
		if err := <-got; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put: %v, want DeadlineExceeded", err)
		}
		it, _ := q.Recv(context.Background())
		it.Done()
		if err := <-second; err != nil {
			t.Fatalf("second producer: %v", err)
		}
		it, _ = q.Recv(context.Background())
		if it.Value != 2 {
			t.Fatalf("got %d, want 2", it.Value)
		}
		it.Done()
		done, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if _, err := q.Reserve(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Reserve with a done ctx: %v", err)
		}
		// Admitted: the Puts of 0 and 2; Cancelled: the Put of 1. The
		// Reserve with a done ctx never waited: no total.
		if got := q.Stats(); got != (Stats{Capacity: 1, Admitted: 2, Cancelled: 1}) {
			t.Fatalf("Stats = %+v", got)
		}
	})
}

func TestRecvCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New[int](1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := q.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Recv on empty: %v", err)
		}
		q.Put(context.Background(), 1)
		if _, err := q.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Recv with a done ctx: %v (must fail even with an item ready)", err)
		}
		if got := q.Stats().Queued; got != 1 {
			t.Fatalf("Queued = %d, want 1", got)
		}
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := New[int](3)
		q.Put(ctx, 1)
		q.Put(ctx, 2)
		r, _ := q.Reserve(ctx) // reserved before Close, sent after
		var waiting [2]chan error
		for i := range waiting {
			waiting[i] = make(chan error, 1)
			go func() { waiting[i] <- q.Put(ctx, 10+i) }()
		}
		synctest.Wait()
		first, _ := q.Recv(ctx) // in process across Close
		q.Close()
		q.Close() // idempotent
		for i := range waiting {
			if err := <-waiting[i]; !errors.Is(err, ErrClosed) {
				t.Fatalf("waiting producer: %v, want ErrClosed", err)
			}
		}
		if err := r.Send(3); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v, want ErrClosed", err)
		}
		if err := q.Put(ctx, 4); !errors.Is(err, ErrClosed) {
			t.Fatalf("Put after Close: %v", err)
		}
		if err := q.TryPut(4); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryPut after Close: %v", err)
		}
		if _, err := q.TryReserve(); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryReserve after Close: %v", err)
		}
		// Admitted: two Puts and the Reserve; Rejected: the two Trys after
		// Close. The Puts failed by Close count in no total.
		if got := q.Stats(); got != (Stats{Capacity: 3, Queued: 1, InUse: 1, Admitted: 3, Rejected: 2, Closed: true}) {
			t.Fatalf("Stats after Close = %+v", got)
		}
		// Drain: what was queued comes out, then the end.
		it, err := q.Recv(ctx)
		if err != nil || it.Value != 2 {
			t.Fatalf("Recv after Close = %v, %v; want 2", it.Value, err)
		}
		if _, err := q.Recv(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv when drained: %v, want ErrClosed", err)
		}
		if _, _, err := q.TryRecv(); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryRecv when drained: %v, want ErrClosed", err)
		}
		if !first.Done() || !it.Done() {
			t.Fatal("Done after Close returned false")
		}
		if got := q.Stats(); got != (Stats{Capacity: 3, Admitted: 3, Rejected: 2, Closed: true}) {
			t.Fatalf("Stats at the end = %+v", got)
		}
	})
}

func TestCloseWakesConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New[int](1)
		got := make(chan error, 1)
		go func() {
			_, err := q.Recv(context.Background())
			got <- err
		}()
		synctest.Wait()
		q.Close()
		if err := <-got; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Recv after Close: %v", err)
		}
	})
}

// Stress: producers and consumers in parallel, items handed to workers
// that finish them later. The number of items held (reserved through
// Done) never exceeds the capacity, each producer's items arrive in
// order, and Close leaves nothing stranded.
func TestStress(t *testing.T) {
	const capacity = 8
	producers, perProducer := 8, 2000
	if testing.Short() {
		perProducer = 300
	}
	q := New[[2]int](capacity)
	var held, maxHeld atomic.Int64
	hold := func() {
		n := held.Add(1)
		for {
			m := maxHeld.Load()
			if n <= m || maxHeld.CompareAndSwap(m, n) {
				break
			}
		}
	}
	ctx := context.Background()
	var prod sync.WaitGroup
	var sent, fulls atomic.Int64
	for p := range producers {
		prod.Add(1)
		go func() {
			defer prod.Done()
			for i := range perProducer {
				var r Reservation[[2]int]
				var err error
				if i%2 == 0 {
					r, err = q.TryReserve()
					if errors.Is(err, ErrFull) {
						fulls.Add(1)
					}
				}
				if i%2 == 1 || errors.Is(err, ErrFull) {
					r, err = q.Reserve(ctx)
				}
				if err == nil {
					// Counted after admission, before a consumer can Done it.
					hold()
					if i%7 == 0 {
						held.Add(-1)
						r.Cancel()
						continue
					}
					err = r.Send([2]int{p, i})
				}
				if err != nil {
					t.Errorf("producer %d: %v", p, err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	var cons sync.WaitGroup
	var recvd atomic.Int64
	var orderMu sync.Mutex
	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	work := make(chan Item[[2]int], capacity)
	var workers sync.WaitGroup
	for range 3 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for it := range work {
				held.Add(-1)
				it.Done()
			}
		}()
	}
	// One consumer keeps per-producer order observable.
	cons.Add(1)
	go func() {
		defer cons.Done()
		for {
			it, err := q.Recv(ctx)
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				t.Errorf("Recv: %v", err)
				return
			}
			p, i := it.Value[0], it.Value[1]
			orderMu.Lock()
			if i <= last[p] {
				t.Errorf("producer %d: item %d after %d", p, i, last[p])
			}
			last[p] = i
			orderMu.Unlock()
			recvd.Add(1)
			work <- it
		}
	}()
	prod.Wait()
	q.Close()
	cons.Wait()
	close(work)
	workers.Wait()
	if m := maxHeld.Load(); m > capacity {
		t.Fatalf("held at most %d items, capacity %d", m, capacity)
	}
	if sent.Load() != recvd.Load() {
		t.Fatalf("sent %d, received %d", sent.Load(), recvd.Load())
	}
	// Every iteration took one permit, by TryReserve or Reserve.
	want := Stats{Capacity: capacity, Admitted: int64(producers * perProducer), Rejected: fulls.Load(), Closed: true}
	if got := q.Stats(); got != want {
		t.Fatalf("Stats at the end = %+v; want %+v", got, want)
	}
}

// Close while many producers wait and a consumer drains: every producer
// returns (nil or ErrClosed), every item sent before Close is received.
func TestStressClose(t *testing.T) {
	for round := range 20 {
		q := New[int](4)
		ctx := context.Background()
		var sent, recvd atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					err := q.Put(ctx, 1)
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("Put: %v", err)
						return
					}
					sent.Add(1)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				it, err := q.Recv(ctx)
				if err != nil {
					return
				}
				recvd.Add(1)
				if recvd.Load() == int64(50+round) {
					q.Close()
				}
				it.Done()
			}
		}()
		conctest.NoDeadlock(t, time.Minute, "close under load", wg.Wait)
		if sent.Load() != recvd.Load() {
			t.Fatalf("round %d: sent %d, received %d", round, sent.Load(), recvd.Load())
		}
	}
}
