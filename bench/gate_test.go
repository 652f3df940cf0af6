package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/gate"
	"golang.org/x/sync/semaphore"
)

// weightedRW is the cancellable RW lock people build on x/sync's
// semaphore.Weighted: readers take 1 of a huge weight, a writer takes all.
// Weighted is FIFO, so a waiting writer blocks later readers, as in gate.
type weightedRW struct{ w *semaphore.Weighted }

const weightedAll = 1 << 30

func newWeightedRW() *weightedRW { return &weightedRW{semaphore.NewWeighted(weightedAll)} }

func (l *weightedRW) read(ctx context.Context, fn func(context.Context) error) error {
	if err := l.w.Acquire(ctx, 1); err != nil {
		return err
	}
	defer l.w.Release(1)
	return fn(ctx)
}

func (l *weightedRW) write(ctx context.Context, fn func(context.Context) error) error {
	if err := l.w.Acquire(ctx, weightedAll); err != nil {
		return err
	}
	defer l.w.Release(weightedAll)
	return fn(ctx)
}

func rwRead(mu *sync.RWMutex, ctx context.Context, fn func(context.Context) error) error {
	mu.RLock()
	defer mu.RUnlock()
	return fn(ctx)
}

func rwWrite(mu *sync.RWMutex, ctx context.Context, fn func(context.Context) error) error {
	mu.Lock()
	defer mu.Unlock()
	return fn(ctx)
}

// gateShared is what the trivial fn reads: a value that is only read, so
// the fn itself adds no cache-line traffic between cores.
var gateShared atomic.Int64

func trivialRead(context.Context) error {
	if gateShared.Load() < 0 {
		panic("unreachable")
	}
	return nil
}

// BenchmarkGate: Gate/case=read|write-behind-readers/impl=sluice-inline|
// sluice-deadline|rwmutex|xsync (the RW lock on x/sync Weighted above).
func BenchmarkGate(b *testing.B) {
	b.Run("case=read", gateRead)
	b.Run("case=write-behind-readers", gateWriteBehindReaders)
}

// gateRead measures read admission around the same trivial fn,
// from every P at once. Target: inline within 1.5x of sync.RWMutex; the
// deadline mode (a goroutine and a timer per read, so the caller can get
// control back from a fn that ignores its ctx) is reported beside it.
func gateRead(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice-inline", func(b *testing.B) {
		g := gate.New()
		defer g.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = g.ReadInline(ctx, trivialRead)
			}
		})
	})
	b.Run("impl=sluice-deadline", func(b *testing.B) {
		g := gate.New()
		defer g.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = g.Read(ctx, trivialRead)
			}
		})
	})
	b.Run("impl=rwmutex", func(b *testing.B) {
		var mu sync.RWMutex
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = rwRead(&mu, ctx, trivialRead)
			}
		})
	})
	b.Run("impl=xsync", func(b *testing.B) {
		l := newWeightedRW()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = l.read(ctx, trivialRead)
			}
		})
	})
}

// readWork is what each saturating reader does while holding its permit:
// a little CPU, so readers overlap and a writer has to wait for a drain.
func readWork(context.Context) error {
	x := gateShared.Load()
	for i := range 200 {
		x += int64(i) ^ x
	}
	if x == -1 {
		gateShared.Store(x)
	}
	return nil
}

func noopWrite(context.Context) error { return nil }

// behindReaders runs 64 readers in a loop (each re-reads as soon as its
// read returns) and measures how long each write takes, drain included.
func behindReaders(b *testing.B, read, write func(context.Context, func(context.Context) error) error) {
	behindReadersCtx(b, context.Background(), read, write)
}

func behindReadersCtx(b *testing.B, ctx context.Context, read, write func(context.Context, func(context.Context) error) error) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	started := make(chan struct{}, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			for !stop.Load() {
				_ = read(ctx, readWork)
			}
		}()
	}
	for range 64 {
		<-started
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = write(ctx, noopWrite)
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
}

// gateWriteBehindReaders: write latency (ns/op) while 64 readers
// keep the resource saturated. Every variant is writer-fair (a waiting
// writer blocks later readers), so this is the cost of one drain.
func gateWriteBehindReaders(b *testing.B) {
	b.Run("impl=sluice-inline", func(b *testing.B) {
		g := gate.New()
		defer g.Close()
		behindReaders(b, g.ReadInline, g.Write)
	})
	// Readers whose ctx already carries a deadline sooner than the gate's:
	// an inline read that has to wait then needs no timer of its own.
	b.Run("impl=sluice-inline-ctxdeadline", func(b *testing.B) {
		g := gate.New()
		defer g.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		behindReadersCtx(b, ctx, g.ReadInline, g.Write)
	})
	b.Run("impl=sluice-deadline", func(b *testing.B) {
		g := gate.New()
		defer g.Close()
		behindReaders(b, g.Read, g.Write)
	})
	b.Run("impl=rwmutex", func(b *testing.B) {
		var mu sync.RWMutex
		behindReaders(b,
			func(ctx context.Context, fn func(context.Context) error) error { return rwRead(&mu, ctx, fn) },
			func(ctx context.Context, fn func(context.Context) error) error { return rwWrite(&mu, ctx, fn) })
	})
	b.Run("impl=xsync", func(b *testing.B) {
		l := newWeightedRW()
		behindReaders(b, l.read, l.write)
	})
}
