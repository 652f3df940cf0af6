package debug_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/guard"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/sem"
)

type onWaiter interface {
	OnWait(fn func(wait time.Duration)) (stop func())
}

// TestRealPrimitiveWaits: with a real primitive, a caller that waits two
// seconds (the bubble's clock) shows as OldestWait while it waits, and
// then as one wait in the ≤4s bucket; an uncontended caller adds none.
func TestRealPrimitiveWaits(t *testing.T) {
	type holder struct {
		name string
		new  func() any
		// hold takes the resource at once; wait blocks until it is free,
		// then takes and gives it back; free gives back what hold took.
		hold, wait func(p any)
		free       func(p any)
	}
	ctx := context.Background()
	cases := []holder{
		{"sem", func() any { return sem.New(1) },
			func(p any) { _ = p.(*sem.Semaphore).Acquire(ctx, 1) },
			func(p any) { _ = p.(*sem.Semaphore).Acquire(ctx, 1); p.(*sem.Semaphore).Release(1) },
			func(p any) { p.(*sem.Semaphore).Release(1) }},
		{"keyed.Mutex", func() any { return &keyed.Mutex[string]{} },
			func(p any) { _ = p.(*keyed.Mutex[string]).Lock(ctx, "k") },
			func(p any) { _ = p.(*keyed.Mutex[string]).Lock(ctx, "k"); p.(*keyed.Mutex[string]).Unlock("k") },
			func(p any) { p.(*keyed.Mutex[string]).Unlock("k") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.new().(onWaiter); !ok {
				t.Skipf("%s has no OnWait yet", tc.name)
			}
			synctest.Test(t, func(t *testing.T) {
				reg := debug.NewRegistry()
				p := tc.new()
				if err := reg.Register("p", p); err != nil {
					t.Fatal(err)
				}
				tc.hold(p) // uncontended: no wait observed
				done := make(chan struct{})
				go func() { tc.wait(p); close(done) }()
				synctest.Wait()
				time.Sleep(2 * time.Second) // the bubble's clock
				en := entry(t, reg, "p")
				if hasOldest(en) && en.OldestWait != 2*time.Second {
					t.Errorf("OldestWait %v while one caller waits 2s", en.OldestWait)
				}
				tc.free(p)
				<-done
				w := entry(t, reg, "p").Waits
				if w == nil || w.Count != 1 || w.Sum != 2 {
					t.Fatalf("Waits %+v; want one wait of 2s", w)
				}
				if i := bucketOf(w, 2); w.Counts[i] != 1 {
					t.Fatalf("counts %v; want the 2s wait in bucket %d (≤%v)", w.Counts, i, w.Bounds[i])
				}
				if en := entry(t, reg, "p"); en.OldestWait != 0 {
					t.Errorf("OldestWait %v with nobody waiting", en.OldestWait)
				}
			})
		})
	}
	// gate and guard have OnWait too (one hook for every lane).
	for _, p := range []any{gate.New(), guard.New(0), guard.NewRW(0)} {
		if _, ok := p.(onWaiter); !ok {
			continue
		}
		reg := debug.NewRegistry()
		if err := reg.Register("p", p); err != nil {
			t.Fatal(err)
		}
		if entry(t, reg, "p").Waits == nil {
			t.Errorf("%T has OnWait but no histogram", p)
		}
	}
}

func hasOldest(en debug.Entry) bool {
	for _, f := range en.Figures {
		if f.Field == "OldestWait" {
			return true
		}
	}
	return false
}

func bucketOf(h *debug.Histogram, s float64) int {
	for i, b := range h.Bounds {
		if s <= b {
			return i
		}
	}
	return len(h.Bounds)
}
