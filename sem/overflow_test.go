package sem

import (
	"context"
	"errors"
	"math"
	"testing"
)

// A request larger than the size must fail as too large even while
// permits are held: the "does it fit" test must not overflow int64 and let
// the request through (which would corrupt the state word: closed and
// queued live in its top bits).
func TestHugeRequestDoesNotOverflow(t *testing.T) {
	ctx := context.Background()
	s := New(4)
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{math.MaxInt64, math.MaxInt64 - 1, MaxSize + 2} {
		if s.TryAcquire(n) {
			t.Fatalf("TryAcquire(%d) with 1 of 4 held succeeded", n)
		}
		if p := s.TryPermit(n); p != nil {
			t.Fatalf("TryPermit(%d) with 1 of 4 held succeeded", n)
		}
		if err := s.Acquire(ctx, n); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Acquire(%d) with 1 of 4 held = %v, want ErrTooLarge", n, err)
		}
		if _, err := s.Permit(ctx, n); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Permit(%d) with 1 of 4 held = %v, want ErrTooLarge", n, err)
		}
	}
	st := s.Stats()
	if st.InUse != 1 || st.Closed || st.Waiting != 0 {
		t.Fatalf("Stats after huge requests = %+v, want InUse 1, open, no waiters", st)
	}
	// The semaphore still works.
	if !s.TryAcquire(3) {
		t.Fatal("TryAcquire(3) with 1 of 4 held failed")
	}
	s.Release(4)
}
