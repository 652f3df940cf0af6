package bench

import (
	"context"
	"testing"

	"github.com/sluice-go/sluice/sem"
	"golang.org/x/sync/semaphore"
)

// The three semaphores under the same calls.
type semaphoreUnderTest interface {
	Acquire(ctx context.Context, n int64) error
	Release(n int64)
}

// chanSem is the semaphore people write by hand: a buffered channel.
type chanSem chan struct{}

func (c chanSem) Acquire(ctx context.Context, n int64) error {
	for range n {
		select {
		case c <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c chanSem) Release(n int64) {
	for range n {
		<-c
	}
}

func semaphores(size int64) []struct {
	name string
	s    semaphoreUnderTest
} {
	return []struct {
		name string
		s    semaphoreUnderTest
	}{
		{"sluice", sem.New(size)},
		{"xsync", semaphore.NewWeighted(size)},
		{"chan", make(chanSem, size)},
	}
}

// BenchmarkSem compares the three semaphores under the same calls, one
// sub-benchmark per load and implementation:
// Sem/case=.../impl=sluice|xsync|chan.
func BenchmarkSem(b *testing.B) {
	b.Run("case=uncontended", semUncontended)
	b.Run("case=contended", semContended)
	b.Run("case=contended-ctx", semContendedCtx)
}

// Acquire+Release with nobody else around.
func semUncontended(b *testing.B) {
	for _, c := range semaphores(4) {
		b.Run("impl="+c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.s.Acquire(ctx, 1); err != nil {
					b.Fatal(err)
				}
				c.s.Release(1)
			}
		})
	}
}

// 4 permits, 8 goroutines per CPU, each doing Acquire+Release in a loop.
func semContended(b *testing.B) {
	for _, c := range semaphores(4) {
		b.Run("impl="+c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.s.Acquire(ctx, 1); err != nil {
						b.Error(err)
						return
					}
					c.s.Release(1)
				}
			})
		})
	}
}

// As above, with a cancellable context, the common case in services: the
// waiter must also watch ctx.Done().
func semContendedCtx(b *testing.B) {
	for _, c := range semaphores(4) {
		b.Run("impl="+c.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.s.Acquire(ctx, 1); err != nil {
						b.Error(err)
						return
					}
					c.s.Release(1)
				}
			})
		})
	}
}
