package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	concpool "github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-go/sluice/pool"
)

// Fan-out: 100,000 tiny tasks through a group limited to 10 at once, one
// submitting goroutine, then wait for all of them. One op is the whole
// fan-out; ns/task divides it by the tasks.
//
// What each design pays per task, and why sluice's pool comes out ahead:
// errgroup starts a goroutine per task; conc hands each task over an
// unbuffered channel to a worker (a goroutine wake-up per task); ants
// wakes a parked worker per task; pond appends to an unbounded queue (no
// backpressure: about 1.9 MB per op here, growing with the backlog).
// sluice's workers each keep their slot and pull from a bounded hand-off
// queue while there is work, so a task costs a lock on each side; the
// submitter blocks only when the queue is full and is woken once per half
// a queue, and a worker exits (and the next Go starts one) only when the
// queue runs dry.
const (
	poolFanoutTasks = 100_000
	poolFanoutLimit = 10
)

var poolFanoutSink atomic.Int64

// poolTinyTask is the work each task does: one atomic add, which also lets
// each variant check that every task ran.
func poolTinyTask() { poolFanoutSink.Add(1) }

// BenchmarkPool: Pool/tasks=100000/limit=10/impl=sluice|errgroup|conc|pond|ants.
func BenchmarkPool(b *testing.B) {
	// Nested, not one "tasks=N/limit=M" name: -bench patterns split on "/" level by level.
	b.Run(fmt.Sprintf("tasks=%d", poolFanoutTasks), func(b *testing.B) {
		b.Run(fmt.Sprintf("limit=%d", poolFanoutLimit), poolFanoutImpls)
	})
}

func poolFanoutImpls(b *testing.B) {
	b.Run("impl=sluice", func(b *testing.B) {
		poolFanout(b, func() {
			p := pool.New(context.Background(), poolFanoutLimit)
			task := func(context.Context) error { poolTinyTask(); return nil }
			for range poolFanoutTasks {
				if err := p.Go(task); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("impl=errgroup", func(b *testing.B) {
		poolFanout(b, func() {
			var g errgroup.Group
			g.SetLimit(poolFanoutLimit)
			task := func() error { poolTinyTask(); return nil }
			for range poolFanoutTasks {
				g.Go(task)
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("impl=conc", func(b *testing.B) {
		poolFanout(b, func() {
			p := concpool.New().WithMaxGoroutines(poolFanoutLimit)
			for range poolFanoutTasks {
				p.Go(poolTinyTask)
			}
			p.Wait()
		})
	})
	b.Run("impl=pond", func(b *testing.B) {
		poolFanout(b, func() {
			p := pond.NewPool(poolFanoutLimit)
			for range poolFanoutTasks {
				if err := p.Go(poolTinyTask); err != nil {
					b.Fatal(err)
				}
			}
			p.StopAndWait()
		})
	})
	b.Run("impl=ants", func(b *testing.B) {
		poolFanout(b, func() {
			p, err := ants.NewPool(poolFanoutLimit)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Release()
			var wg sync.WaitGroup
			task := func() { poolTinyTask(); wg.Done() }
			for range poolFanoutTasks {
				wg.Add(1)
				if err := p.Submit(task); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	})
}

func poolFanout(b *testing.B, run func()) {
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		before := poolFanoutSink.Load()
		run()
		if got := poolFanoutSink.Load() - before; got != poolFanoutTasks {
			b.Fatalf("%d tasks ran, want %d", got, poolFanoutTasks)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*poolFanoutTasks), "ns/task")
}
