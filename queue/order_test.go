package queue

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// Producers blocked in Put, in a known arrival order, have their items
// queued in that order even when room frees up for all of them back to
// back (each admitted one races the next to its send unless admission and
// enqueue are one step).
func TestWaitingPutsQueueInArrivalOrder(t *testing.T) {
	t.Run("bubble", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			checkPutOrder(t, func(int) { synctest.Wait() })
		})
	})
	t.Run("real", func(t *testing.T) {
		checkPutOrder(t, nil)
	})
}

// checkPutOrder fills a queue of n, lines up n producers one by one (each
// seen waiting before the next starts), then frees every room back to back
// and checks that the producers' items come out in arrival order. settle,
// if set, lets the goroutines settle before Stats is read.
func checkPutOrder(t *testing.T, settle func(int)) {
	const n = 6
	ctx := context.Background()
	q := New[int](n)
	for i := range n {
		if err := q.Put(ctx, -1-i); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- q.Put(ctx, i) }()
		if settle != nil {
			settle(i + 1)
		}
		conctest.WaitFor(t, time.Minute, "producer waiting", func() bool { return q.Stats().Waiting == int64(i+1) })
	}
	for range n { // free every room, back to back
		it, err := q.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		it.Done()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	for range n {
		it, err := q.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it.Value)
		it.Done()
	}
	if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("waiting producers' items queued as %v, want arrival order %v", got, want)
	}
}
