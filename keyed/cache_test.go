package keyed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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
	c := NewCache(fetch, valid)
	var nilCache *Cache[int, int]
	var zero Cache[int, int]
	tests := []struct {
		want string
		call func()
	}{
		{"NewCache with nil fetch function", func() { NewCache[int, int](nil, valid) }},
		{"NewCache with nil valid function", func() { NewCache(fetch, nil) }},
		{"Cache.Get with nil Context", func() { c.Get(nil, 1) }}, //nolint:staticcheck
		{"Cache.Get on nil *Cache", func() { nilCache.Get(context.Background(), 1) }},
		{"Cache.Forget on nil *Cache", func() { nilCache.Forget(1) }},
		{"Cache.Close on nil *Cache", func() { nilCache.Close() }},
		{"Cache.Stats on nil *Cache", func() { nilCache.Stats() }},
		{"Cache.Get on a zero Cache", func() { zero.Get(context.Background(), 1) }},
		{"Cache.OnWait with nil fn", func() { c.OnWait(nil) }},
		{"Cache.OnWait on nil *Cache", func() { nilCache.OnWait(func(time.Duration) {}) }},
	}
	for _, tt := range tests {
		conctest.MustPanic(t, tt.call, "keyed: "+tt.want)
	}
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
	want := CacheStats{Entries: 2, Admitted: 8, Hits: 2, Fetches: 6, Invalid: 1}
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
		var pe *PanicError
		if err := <-waiter; !errors.As(err, &pe) || pe.Value != "boom" || pe.Op != "keyed: Cache fetch" {
			t.Fatalf("waiter: %v, want a *PanicError for the fetch", err)
		}
		if st := c.Stats(); st.Entries != 0 || st.Fetching != 0 || st.Panicked != 1 {
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
		if st := c.Stats(); st.Entries != 1 || st.Fetching != 0 || st.Fetches != 2 || st.Invalid != 0 {
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

// A fetch that fails with a deadline error of its own (an HTTP client
// timeout, say) while its caller's ctx is live is a failed fetch, not an
// abandoned one: the callers that shared it get its error instead of each
// fetching again in turn.
func TestCacheSharedFetchOwnTimeoutNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		var fetches atomic.Int64
		c := NewCache(func(ctx context.Context, k int) (int, error) {
			fetches.Add(1)
			g.Pass(ctx)
			return 0, fmt.Errorf("api: %w", context.DeadlineExceeded)
		}, func(int) bool { return true })
		first := make(chan error, 1)
		go func() { _, err := c.Get(ctx, 1); first <- err }()
		g.WaitEntered(ctx, 1)
		shared := make(chan error, 1)
		go func() { _, err := c.Get(ctx, 1); shared <- err }()
		synctest.Wait() // the second Get waits for the first one's fetch
		g.Open()
		if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("fetching Get = %v", err)
		}
		if err := <-shared; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sharing Get = %v", err)
		}
		if n := fetches.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1: the sharing caller fetched again though the fetcher's ctx was live", n)
		}
	})
}

// Close fails a Get waiting for another caller's fetch at once, and every
// later Get, hits included; the fetch in flight finishes, its caller gets
// its value, and nothing is stored.
func TestCacheClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		defer g.Open() // on failure too, so the bubble's goroutines end
		var fetches atomic.Int64
		c := NewCache(func(ctx context.Context, k int) (int, error) {
			fetches.Add(1)
			if k == 2 {
				if err := g.Pass(ctx); err != nil {
					return 0, err
				}
			}
			return k * 10, nil
		}, func(int) bool { return true })
		if v, err := c.Get(ctx, 1); v != 10 || err != nil {
			t.Fatalf("Get(1) = %d, %v", v, err)
		}
		type result struct {
			v   int
			err error
		}
		fetcher := make(chan result, 1)
		go func() { v, err := c.Get(ctx, 2); fetcher <- result{v, err} }()
		g.WaitEntered(ctx, 1)
		waiter := make(chan error, 1)
		go func() { _, err := c.Get(ctx, 2); waiter <- err }()
		synctest.Wait()
		if st := c.Stats(); st.Waiting != 1 || st.Fetching != 1 || st.Entries != 1 || st.Closed {
			t.Fatalf("Stats before Close = %+v", st)
		}

		c.Close()
		c.Close()
		synctest.Wait()
		select {
		case err := <-waiter:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("waiting Get after Close = %v, want ErrClosed", err)
			}
		default:
			t.Fatal("Close did not fail the waiting Get at once")
		}
		for _, k := range []int{1, 3} {
			if _, err := c.Get(ctx, k); !errors.Is(err, ErrClosed) {
				t.Fatalf("Get(%d) after Close = %v, want ErrClosed", k, err)
			}
		}
		if st := c.Stats(); !st.Closed || st.Entries != 0 || st.Waiting != 0 || st.Fetching != 1 {
			t.Fatalf("Stats after Close = %+v", st)
		}

		g.Open()
		if r := <-fetcher; r.v != 20 || r.err != nil {
			t.Fatalf("the fetch in flight at Close returned %d, %v; want its value", r.v, r.err)
		}
		c.Forget(2)
		if st := c.Stats(); st.Entries != 0 || st.Fetching != 0 || st.Fetches != 2 || fetches.Load() != 2 {
			t.Fatalf("Stats at the end = %+v (fetches %d)", st, fetches.Load())
		}
	})
}

// A waiter whose ctx ends while it waits for another caller's fetch
// leaves with ctx.Err() and is counted as Cancelled.
func TestCacheWaiterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		c := NewCache(func(ctx context.Context, k int) (int, error) {
			g.Pass(ctx)
			return k, nil
		}, func(int) bool { return true })
		fetched := make(chan int, 1)
		go func() { v, _ := c.Get(ctx, 1); fetched <- v }()
		g.WaitEntered(ctx, 1)
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := c.Get(wctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waiting Get past its deadline = %v", err)
		}
		g.Open()
		if v := <-fetched; v != 1 {
			t.Fatalf("fetcher got %d", v)
		}
		if st := c.Stats(); st.Cancelled != 1 || st.Shared != 1 || st.Waiting != 0 || st.Entries != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		c.Close()
	})
}

// A fetch that calls runtime.Goexit (t.FailNow, say) ends its caller's
// goroutine; the callers waiting for it get a *PanicError with Goexit set
// instead of waiting forever.
func TestCacheFetchGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := conctest.NewTurnstile()
		c := NewCache(func(ctx context.Context, k int) (int, error) {
			g.Pass(ctx)
			runtime.Goexit()
			return k, nil
		}, func(int) bool { return true })
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			c.Get(ctx, 1)
		}()
		g.WaitEntered(ctx, 1)
		waiter := make(chan error, 1)
		go func() { _, err := c.Get(ctx, 1); waiter <- err }()
		synctest.Wait()
		g.Open()
		<-exited
		var pe *PanicError
		if err := <-waiter; !errors.As(err, &pe) || !pe.Goexit {
			t.Fatalf("waiter = %v, want a *PanicError with Goexit", err)
		}
		if st := c.Stats(); st.Entries != 0 || st.Fetching != 0 || st.Panicked != 1 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}
