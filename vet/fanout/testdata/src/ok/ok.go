// Package ok holds fan-out shapes that are bounded.
package ok

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/sem"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

func get(u string) {
	resp, err := http.Get(u)
	if err == nil {
		resp.Body.Close()
	}
}

// A small fixed array and composite literals.
var triggers = []string{"new block", "startup", "admin"}

func fixed() {
	for _, t := range [3]string{"a", "b", "c"} {
		go get(t)
	}
	for _, t := range []string{"a", "b"} {
		go get(t)
	}
	for range triggers {
		go get("x")
	}
	paths := []string{"/a", "/b"}
	for _, p := range paths {
		go get(p)
	}
}

// Constant-count worker pools.
func workers(jobs chan string, n int) {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				get(j)
			}
		}()
	}
	for range runtime.NumCPU() {
		go get("x")
	}
	for range n {
		go get("x")
	}
	wg.Wait()
}

// A worker per shard over data, but each is a worker reading a channel.
func shardWorkers(shards []chan string) {
	for _, ch := range shards {
		go func() {
			for j := range ch {
				get(j)
			}
		}()
	}
}

// A semaphore acquire before go: x/sync's Weighted, sluice's sem, a
// buffered channel.
func semaphores(ctx context.Context, items []string) {
	w := semaphore.NewWeighted(8)
	for _, it := range items {
		if err := w.Acquire(ctx, 1); err != nil {
			return
		}
		go func() {
			defer w.Release(1)
			get(it)
		}()
	}
	s := sem.New(8)
	for _, it := range items {
		_ = s.Acquire(ctx, 1)
		go func() {
			defer s.Release(1)
			get(it)
		}()
	}
	slots := make(chan struct{}, 8)
	for _, it := range items {
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			get(it)
		}()
	}
	// Acquired first thing inside the goroutine.
	for _, it := range items {
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			get(it)
		}()
	}
}

// errgroup with SetLimit.
func limited(ctx context.Context, items []string) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, it := range items {
		g.Go(func() error { get(it); return nil })
	}
	return g.Wait()
}

type svc struct{ g errgroup.Group }

func newSvc() *svc {
	s := &svc{}
	s.g.SetLimit(4)
	return s
}

func (s *svc) run(items []string) {
	for _, it := range items {
		s.g.Go(func() error { get(it); return nil })
	}
}

// A group passed in: its limit is set elsewhere, maybe.
func passedIn(g *errgroup.Group, items []string) {
	for _, it := range items {
		g.Go(func() error { get(it); return nil })
	}
}

// A closure handed to a bounded pool: sluice's pool.
func bounded(ctx context.Context, s *sem.Semaphore, items []string) error {
	p := pool.Shared(ctx, s)
	for _, it := range items {
		_ = p.Go(func(ctx context.Context) error { get(it); return nil })
	}
	return p.Wait()
}

// go to a CPU-only function.
func cpu(items []string) []string {
	out := make([]string, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = normalize(it)
		}()
	}
	wg.Wait()
	return out
}

func normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// A batch barrier inside the loop.
func batches(items []string) {
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() { defer wg.Done(); get(it) }()
		if i%10 == 9 {
			wg.Wait()
		}
	}
	wg.Wait()
}

// Accept loops: not data-dependent.
func serve(accept func() string) {
	for {
		go get(accept())
	}
}
