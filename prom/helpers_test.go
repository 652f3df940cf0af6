package prom_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/guard"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/loop"
	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/queue"
	"github.com/sluice-go/sluice/run"
	"github.com/sluice-go/sluice/sem"
)

// closer is what every primitive has.
type closer interface{ Close() }

// everyKind registers one primitive of every kind in reg, each used once so
// its totals are not all zero, and returns them in registration order. The
// caller closes them (closeAll).
func everyKind(t testing.TB, reg *debug.Registry) []closer {
	t.Helper()
	ctx := context.Background()
	var all []closer
	add := func(name string, p closer) {
		t.Helper()
		if err := reg.Register(name, p); err != nil {
			t.Fatal(err)
		}
		all = append(all, p)
	}

	s := sem.New(4)
	add("sem", s)
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}

	p := pool.New(ctx, 2)
	add("pool", p)
	if err := p.Go(func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	conctest.WaitFor(t, 10*time.Second, "the pool's task", func() bool { return p.Stats().Completed == 1 })

	q := queue.New[int](4)
	add("queue", q)
	if err := q.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}

	g := gate.New()
	add("gate", g)
	if err := g.Read(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}

	l := loop.New(0)
	add("loop", l)
	if err := l.Do(ctx, func(n *int) { *n++ }); err != nil {
		t.Fatal(err)
	}

	var km keyed.Mutex[string]
	add("keyed_mutex", &km)
	if err := km.Lock(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	km.Unlock("k")

	var krw keyed.RWMutex[string]
	add("keyed_rwmutex", &krw)

	var ko keyed.Once[string]
	add("keyed_once", &ko)
	if err := ko.Do(ctx, "k", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}

	kc := keyed.NewCache(func(_ context.Context, k string) (int, error) { return len(k), nil }, func(int) bool { return true })
	add("keyed_cache", kc)
	if _, err := kc.Get(ctx, "abc"); err != nil {
		t.Fatal(err)
	}

	var rg run.Guard
	add("run_guard", &rg)
	if err := rg.Do(ctx, run.Join, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}

	var rk run.Keyed[string]
	add("run_keyed", &rk)

	gv := guard.New(0)
	add("guard_value", gv)
	if err := gv.Do(ctx, func(_ context.Context, v *int) error { *v++; return nil }); err != nil {
		t.Fatal(err)
	}

	add("guard_rw", guard.NewRW(0))
	add("guard_serial", guard.Serial(0))
	add("guard_concurrent", guard.Concurrent(0))
	return all
}

// closeAll closes every primitive and waits for those that have goroutines
// of their own.
func closeAll(t testing.TB, all []closer) {
	t.Helper()
	for _, c := range all {
		c.Close()
		switch c := c.(type) {
		case *pool.Pool:
			if err := c.Wait(); err != nil {
				t.Error(err)
			}
		case *loop.Loop[int]:
			if err := c.Wait(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
}
