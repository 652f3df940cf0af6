package fifo

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestHooks: hooks run in the order added, with the time since start;
// each stop removes its own entry (the same func added twice is two
// entries) and is idempotent.
func TestHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h Hooks
		h.Call(Now()) // no hooks: nothing to do
		h.CallTime(time.Now())
		var got []string
		rec := func(name string) func(time.Duration) {
			return func(d time.Duration) { got = append(got, name+" "+d.String()) }
		}
		a := rec("a")
		stopA1 := h.Add(a)
		h.Add(rec("b"))
		stopA2 := h.Add(a)
		start := Now()
		time.Sleep(2 * time.Second)
		if d := Since(start); d != 2*time.Second {
			t.Fatalf("Since = %v; want 2s", d)
		}
		h.Call(start)
		if want := []string{"a 2s", "b 2s", "a 2s"}; !slices.Equal(got, want) {
			t.Fatalf("Call ran %v; want %v", got, want)
		}
		got = nil
		stopA1()
		stopA1()
		h.CallTime(time.Now().Add(-2 * time.Second))
		if want := []string{"b 2s", "a 2s"}; !slices.Equal(got, want) {
			t.Fatalf("after one stop: %v; want %v", got, want)
		}
		stopA2()
		if h.Len() != 1 {
			t.Fatalf("Len = %d; want 1", h.Len())
		}
	})
}

// TestHooksConcurrent: adds, stops and calls at once (for the race
// detector); every hook is gone after its stop.
func TestHooksConcurrent(t *testing.T) {
	var h Hooks
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				stop := h.Add(func(time.Duration) {})
				h.Call(Now())
				h.CallTime(time.Now())
				stop()
			}
		})
	}
	wg.Wait()
	if h.Len() != 0 {
		t.Fatalf("Len = %d after every stop", h.Len())
	}
}
