package pool

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/sem"
)

// TestBadInput calls every exported function and method with each nil
// (or otherwise invalid) argument, and checks that it panics with a
// message that starts with "pool: " and names the mistake.
func TestBadInput(t *testing.T) {
	bg := context.Background()
	s := sem.New(1)
	p := New(bg, 1)
	defer p.Wait()
	var nilPool *Pool
	var nilCtx context.Context
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"New nil ctx", "pool: New with nil Context", func() { New(nilCtx, 1) }},
		{"New nil ctx and bad limit", "pool: New with nil Context", func() { New(nilCtx, 0) }},
		{"New zero limit", "pool: New(ctx, 0): limit must be positive", func() { New(bg, 0) }},
		{"New negative limit", "pool: New(ctx, -3): limit must be positive", func() { New(bg, -3) }},
		{"New MinInt limit", "pool: New(ctx, " + fmt.Sprint(math.MinInt) + "): limit must be positive", func() { New(bg, math.MinInt) }},
		{"New nil Option", "pool: New with nil Option (opts[0])", func() { New(bg, 1, nil) }},
		{"New nil Option after others", "pool: New with nil Option (opts[1])", func() { New(bg, 1, WithCancelOnError(), nil) }},
		{"Shared nil ctx", "pool: Shared with nil Context", func() { Shared(nilCtx, s) }},
		{"Shared nil sem", "pool: Shared with nil *sem.Semaphore", func() { Shared(bg, nil) }},
		{"Shared nil Option", "pool: Shared with nil Option (opts[0])", func() { Shared(bg, s, nil) }},
		{"Shared nil Option after others", "pool: Shared with nil Option (opts[2])", func() { Shared(bg, s, WithCollectErrors(), WithQueueSize(1), nil) }},
		{"WithQueueSize negative", "pool: WithQueueSize(-1): negative size", func() { WithQueueSize(-1) }},
		{"WithQueueSize MinInt", "pool: WithQueueSize(" + fmt.Sprint(math.MinInt) + "): negative size", func() { WithQueueSize(math.MinInt) }},
		{"Go nil fn", "pool: Go with nil func", func() { p.Go(nil) }},
		{"TryGo nil fn", "pool: TryGo with nil func", func() { p.TryGo(nil) }},
		{"Go on nil Pool", "pool: Go on nil *Pool", func() { nilPool.Go(nop) }},
		{"TryGo on nil Pool", "pool: TryGo on nil *Pool", func() { nilPool.TryGo(nop) }},
		{"Wait on nil Pool", "pool: Wait on nil *Pool", func() { nilPool.Wait() }},
		{"Close on nil Pool", "pool: Close on nil *Pool", func() { nilPool.Close() }},
		{"Stats on nil Pool", "pool: Stats on nil *Pool", func() { nilPool.Stats() }},
		{"Context on nil Pool", "pool: Context on nil *Pool", func() { nilPool.Context() }},
		{"Go on zero Pool", "pool: Go on a zero Pool", func() { new(Pool).Go(nop) }},
		{"TryGo on zero Pool", "pool: TryGo on a zero Pool", func() { new(Pool).TryGo(nop) }},
		{"Wait on zero Pool", "pool: Wait on a zero Pool", func() { new(Pool).Wait() }},
		{"Close on zero Pool", "pool: Close on a zero Pool", func() { new(Pool).Close() }},
		{"Stats on zero Pool", "pool: Stats on a zero Pool", func() { new(Pool).Stats() }},
		{"Context on zero Pool", "pool: Context on a zero Pool", func() { new(Pool).Context() }},
		{"OnWait nil fn", "pool: OnWait with nil func", func() { p.OnWait(nil) }},
		{"OnWait on nil Pool", "pool: OnWait on nil *Pool", func() { nilPool.OnWait(func(time.Duration) {}) }},
		{"OnWait on zero Pool", "pool: OnWait on a zero Pool", func() { new(Pool).OnWait(func(time.Duration) {}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := conctest.MustPanic(t, tc.f); !strings.HasPrefix(msg, tc.want) {
				t.Errorf("panic %q, want a message starting with %q", msg, tc.want)
			}
		})
	}
	// The checks come before anything is built: the semaphore a bad
	// Shared call was given is untouched.
	if st := s.Stats(); st.InUse != 0 || st.Waiting != 0 {
		t.Fatalf("semaphore after bad calls: %+v", st)
	}
	// And the group the bad calls were made on took nothing.
	if st := p.Stats(); st != (Stats{Capacity: 1}) {
		t.Fatalf("group after bad calls: %+v", st)
	}
}

// A limit the semaphore cannot hold is bad input to pool.New: the panic
// names pool, not the sem it is built on.
func TestNewLimitTooLargePanicsWithPoolMessage(t *testing.T) {
	msg := conctest.MustPanic(t, func() { New(context.Background(), math.MaxInt) })
	if !strings.HasPrefix(msg, "pool: ") {
		t.Fatalf("New(ctx, MaxInt) panicked with %q, want a message starting with \"pool: \"", msg)
	}
}
