package loop

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

type profile struct {
	ID      int
	Created string // empty: the API returned an incomplete record
}

func TestCacheBadInput(t *testing.T) {
	fetch := func(context.Context, int) (int, error) { return 0, nil }
	valid := func(int) bool { return true }
	mustPanic(t, "NewCache with nil fetch function", func() { NewCache[int, int](nil, valid) })
	mustPanic(t, "NewCache with nil valid function", func() { NewCache(fetch, nil) })
	c := NewCache(fetch, valid)
	mustPanic(t, "Cache.Get with nil Context", func() { c.Get(nil, 1) }) //nolint:staticcheck
}

// Only complete records are stored; an incomplete one is returned to its
// caller and fetched again next time.
func TestCacheValidates(t *testing.T) {
	ctx := context.Background()
	calls := map[int]int{}
	c := NewCache(func(_ context.Context, id int) (profile, error) {
		calls[id]++
		if id == 2 && calls[id] == 1 {
			return profile{ID: id}, nil // incomplete the first time
		}
		if id == 3 {
			return profile{}, errors.New("api down")
		}
		return profile{ID: id, Created: "2020"}, nil
	}, func(p profile) bool { return p.Created != "" })

	for range 3 {
		if p, err := c.Get(ctx, 1); err != nil || p.Created == "" {
			t.Fatalf("Get(1) = %+v, %v", p, err)
		}
	}
	if p, err := c.Get(ctx, 2); err != nil || p.Created != "" {
		t.Fatalf("first Get(2) = %+v, %v; want the incomplete record", p, err)
	}
	if p, _ := c.Get(ctx, 2); p.Created == "" {
		t.Fatal("second Get(2): incomplete record was stored")
	}
	if _, err := c.Get(ctx, 3); err == nil {
		t.Fatal("Get(3): error lost")
	}
	c.Get(ctx, 3)
	if calls[1] != 1 || calls[2] != 2 || calls[3] != 2 {
		t.Fatalf("fetches per key = %v, want 1:1 2:2 3:2", calls)
	}
	c.Forget(1)
	c.Get(ctx, 1)
	if calls[1] != 2 {
		t.Fatalf("Get after Forget did not fetch: %v", calls)
	}
	want := CacheStats{Entries: 2, Hits: 2, Fetches: 6, Rejected: 1}
	if got := c.Stats(); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

// Concurrent misses for one key make one fetch.
func TestCacheOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		c := NewCache(func(ctx context.Context, id int) (int, error) {
			if err := g.Pass(ctx); err != nil {
				return 0, err
			}
			return id * 10, nil
		}, func(int) bool { return true })
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if v, err := c.Get(ctx, 4); v != 40 || err != nil {
					t.Errorf("Get = %d, %v", v, err)
				}
			}()
		}
		synctest.Wait()
		if st := c.Stats(); st.Fetching != 1 || st.Shared != 19 || g.Entered() != 1 {
			t.Fatalf("Stats while fetching = %+v, fetches entered %d", st, g.Entered())
		}
		g.Open()
		wg.Wait()
		if st := c.Stats(); st.Fetches != 1 || st.Entries != 1 || st.Fetching != 0 {
			t.Fatalf("Stats after = %+v", st)
		}
	})
}

// A waiter whose ctx ends leaves; when the fetcher's ctx ends, a waiter
// with a live ctx fetches again rather than inherit that error.
func TestCacheCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := conctest.NewTurnstile()
		c := NewCache(func(ctx context.Context, id int) (int, error) {
			if err := g.Pass(ctx); err != nil {
				return 0, err
			}
			return id, nil
		}, func(int) bool { return true })
		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		first := make(chan error, 1)
		go func() { _, err := c.Get(short, 1); first <- err }()
		synctest.Wait()
		waiterShort := make(chan error, 1)
		go func() { _, err := c.Get(short, 1); waiterShort <- err }()
		second := make(chan int, 1)
		go func() { v, _ := c.Get(context.Background(), 1); second <- v }()
		synctest.Wait()
		// Both short ctxs end at 1s (fake clock): fetcher and one waiter fail.
		if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("fetcher: %v", err)
		}
		if err := <-waiterShort; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("short waiter: %v", err)
		}
		// The live waiter became the fetcher.
		g.WaitBlocked(context.Background(), 1)
		g.Open()
		if v := <-second; v != 1 {
			t.Fatalf("live waiter got %d", v)
		}
		if st := c.Stats(); st.Fetches != 2 {
			t.Fatalf("Stats = %+v, want 2 fetches", st)
		}
	})
}

// A panicking fetch wakes its waiters with an error and stores nothing.
func TestCachePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := conctest.NewTurnstile()
		c := NewCache(func(ctx context.Context, id int) (int, error) {
			g.Pass(ctx)
			panic("boom")
		}, func(int) bool { return true })
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			c.Get(context.Background(), 1)
		}()
		synctest.Wait()
		waiter := make(chan error, 1)
		go func() { _, err := c.Get(context.Background(), 1); waiter <- err }()
		synctest.Wait()
		g.Open()
		if p := <-panicked; p != "boom" {
			t.Fatalf("fetcher recovered %v", p)
		}
		if err := <-waiter; !errors.Is(err, errPanicked) {
			t.Fatalf("waiter: %v", err)
		}
		if st := c.Stats(); st.Entries != 0 || st.Fetching != 0 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// Forget while a fetch of the key is in flight: that fetch's value is
// older than the Forget, so it is not stored; the callers that were
// already waiting for it get it; a Get after the Forget fetches again
// rather than join it, and its value is what the cache keeps.
func TestCacheForgetDuringFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		defer g.Open() // on failure too, so the bubble's goroutines end
		var fetches atomic.Int64
		c := NewCache(func(ctx context.Context, k int) (int, error) {
			n := fetches.Add(1)
			if n == 1 {
				if err := g.Pass(ctx); err != nil {
					return 0, err
				}
			}
			return int(n)*100 + k, nil
		}, func(int) bool { return true })
		first := make(chan int, 1)
		go func() { v, _ := c.Get(ctx, 1); first <- v }()
		g.WaitEntered(ctx, 1)
		shared := make(chan int, 1)
		go func() { v, _ := c.Get(ctx, 1); shared <- v }()
		synctest.Wait() // the second Get waits for the first one's fetch
		c.Forget(1)
		after := make(chan int, 1)
		go func() { v, _ := c.Get(ctx, 1); after <- v }()
		synctest.Wait()
		if n := fetches.Load(); n != 2 {
			t.Fatalf("%d fetches, want 2: a Get after Forget joined the fetch that started before it", n)
		}
		if v := <-after; v != 201 {
			t.Fatalf("Get after Forget = %d, want 201 (the new fetch)", v)
		}
		g.Open()
		if v := <-first; v != 101 {
			t.Fatalf("fetching Get = %d, want 101", v)
		}
		if v := <-shared; v != 101 {
			t.Fatalf("Get sharing the pre-Forget fetch = %d, want 101", v)
		}
		synctest.Wait()
		if v, _ := c.Get(ctx, 1); v != 201 {
			t.Fatalf("Get once both fetches landed = %d, want 201: the fetch from before Forget was stored", v)
		}
		if n := fetches.Load(); n != 2 {
			t.Fatalf("%d fetches, want 2", n)
		}
		if st := c.Stats(); st.Entries != 1 || st.Fetching != 0 || st.Fetches != 2 || st.Rejected != 0 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// The defect as the issue reports it, without a second fetch in flight:
// Forget during the fetch, then the fetch returns; the next Get must
// fetch again.
func TestCacheForgetBeforeFetchReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		defer g.Open() // on failure too, so the bubble's goroutines end
		var fetches atomic.Int64
		c := NewCache(func(ctx context.Context, k int) (int, error) {
			if err := g.Pass(ctx); err != nil {
				return 0, err
			}
			return int(fetches.Add(1)), nil
		}, func(int) bool { return true })
		first := make(chan int, 1)
		go func() { v, _ := c.Get(ctx, 1); first <- v }()
		g.WaitEntered(ctx, 1)
		c.Forget(1)
		g.Open()
		if v := <-first; v != 1 {
			t.Fatalf("fetching Get = %d, want 1", v)
		}
		if v, _ := c.Get(ctx, 1); v != 2 {
			t.Fatalf("Get after Forget and the fetch's return = %d, want 2 (fetched again)", v)
		}
	})
}
