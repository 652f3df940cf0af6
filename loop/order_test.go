package loop

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// Callers blocked in Post and Do (queue full), in a known arrival order,
// run in that order even when room frees up for all of them back to back:
// the loop runs a handler and the fillers queued behind it, each one
// giving back a room, while the admitted callers have not run yet.
func TestWaitingCallersRunInArrivalOrder(t *testing.T) {
	t.Run("bubble", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { checkCallerOrder(t, func() { synctest.Wait() }) })
	})
	t.Run("real", func(t *testing.T) { checkCallerOrder(t, nil) })
}

// checkCallerOrder fills a loop of size 1+n with a blocked handler and n
// quick ones, lines up n callers one by one (each seen waiting before the
// next starts; even ones Post, odd ones Do), then lets the loop go and
// checks that the callers' handlers ran in arrival order. settle, if set,
// lets the goroutines settle before Stats is read.
func checkCallerOrder(t *testing.T, settle func()) {
	const n = 6
	ctx := context.Background()
	l := newLoop([]int(nil), WithQueueSize(1+n))
	defer closeAndWait(t, l)
	g := conctest.NewTurnstile()
	if err := l.Post(ctx, func(*[]int) { g.Pass(ctx) }); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Post(ctx, func(log *[]int) { *log = append(*log, -1-i) }); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, n)
	for i := range n {
		fn := func(log *[]int) { *log = append(*log, i) }
		if i%2 == 0 {
			go func() { errs <- l.Post(ctx, fn) }()
		} else {
			go func() { errs <- l.Do(ctx, fn) }()
		}
		if settle != nil {
			settle()
		}
		conctest.WaitFor(t, time.Minute, "caller waiting", func() bool { return l.Stats().Waiting == int64(i+1) })
	}
	g.Open()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	if err := l.Do(ctx, func(log *[]int) { got = slices.Clone(*log) }); err != nil {
		t.Fatal(err)
	}
	want := []int{-1, -2, -3, -4, -5, -6, 0, 1, 2, 3, 4, 5}
	if !slices.Equal(got, want) {
		t.Fatalf("handlers ran as %v, want the fillers then the waiting callers in arrival order %v", got, want)
	}
}
