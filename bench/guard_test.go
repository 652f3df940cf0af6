package bench

import (
	"context"
	"sync"
	"testing"

	"github.com/sluice-go/sluice/guard"
)

// The same trivial critical section (increment a counter in the guarded
// value) behind guard.Value.Do and behind a bare sync.Mutex, written the
// way people write it: Lock, defer Unlock, call the function.

type counter struct{ n int }

type mutexValue struct {
	mu sync.Mutex
	v  counter
}

func (m *mutexValue) Do(ctx context.Context, fn func(ctx context.Context, v *counter) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(ctx, &m.v)
}

func incr(_ context.Context, v *counter) error {
	v.n++
	return nil
}

// BenchmarkGuard: Guard/case=do|do-parallel|do-cancelctx/impl=sluice|mutex.
func BenchmarkGuard(b *testing.B) {
	b.Run("case=do", guardDo)
	b.Run("case=do-parallel", guardDoParallel)
	b.Run("case=do-cancelctx", guardDoCancelCtx)
}

// guardDo: one goroutine.
func guardDo(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		b.ReportAllocs()
		g := guard.New(counter{})
		for b.Loop() {
			_ = g.Do(ctx, incr)
		}
	})
	b.Run("impl=mutex", func(b *testing.B) {
		b.ReportAllocs()
		var m mutexValue
		for b.Loop() {
			_ = m.Do(ctx, incr)
		}
	})
}

// guardDoParallel: from every P at once.
func guardDoParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		b.ReportAllocs()
		g := guard.New(counter{})
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = g.Do(ctx, incr)
			}
		})
	})
	b.Run("impl=mutex", func(b *testing.B) {
		b.ReportAllocs()
		var m mutexValue
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = m.Do(ctx, incr)
			}
		})
	})
}

// guardDoCancelCtx: the same as guardDo with a cancellable context, as a request
// handler has (the mutex ignores it).
func guardDoCancelCtx(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("impl=sluice", func(b *testing.B) {
		b.ReportAllocs()
		g := guard.New(counter{})
		for b.Loop() {
			_ = g.Do(ctx, incr)
		}
	})
	b.Run("impl=mutex", func(b *testing.B) {
		b.ReportAllocs()
		var m mutexValue
		for b.Loop() {
			_ = m.Do(ctx, incr)
		}
	})
}
