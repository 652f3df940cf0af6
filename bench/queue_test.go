package bench

import (
	"context"
	"sync"
	"testing"

	"github.com/sluice-go/sluice/queue"
	"golang.org/x/sync/semaphore"
)

const queueCap = 64

// chanSemQueue is seed 004's first design: a buffered channel plus a
// semaphore for in-flight work, two backpressure mechanisms. The producer
// takes a permit before sending; the consumer gives it back when the item
// is finished. It bounds the same thing as queue.Queue, so it is the fair
// anchor for the cost of the permit-attached design.
type chanSemQueue struct {
	ch  chan int
	sem *semaphore.Weighted
}

func newChanSemQueue() *chanSemQueue {
	return &chanSemQueue{ch: make(chan int, queueCap), sem: semaphore.NewWeighted(queueCap)}
}

func (q *chanSemQueue) put(ctx context.Context, v int) error {
	if err := q.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	select {
	case q.ch <- v:
		return nil
	case <-ctx.Done():
		q.sem.Release(1)
		return ctx.Err()
	}
}

// consume receives until ch is closed, finishing each item at once.
func (q *chanSemQueue) consume(done chan<- struct{}) {
	defer close(done)
	for range q.ch {
		q.sem.Release(1)
	}
}

// BenchmarkQueue: Queue/case=roundtrip|spsc|parallel-producers/impl=sluice|chan|chansem.
func BenchmarkQueue(b *testing.B) {
	b.Run("case=roundtrip", queueRoundTrip)
	b.Run("case=spsc", queueSPSC)
	b.Run("case=parallel-producers", queueParallelProducers)
}

// queueRoundTrip: Put, Recv and Done on one goroutine: the bare cost of the queue, against
// a send and a receive on a buffered channel of the same size.
func queueRoundTrip(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		q := queue.New[int](queueCap)
		b.ReportAllocs()
		for b.Loop() {
			if err := q.Put(ctx, 1); err != nil {
				b.Fatal(err)
			}
			it, err := q.Recv(ctx)
			if err != nil {
				b.Fatal(err)
			}
			it.Done()
		}
	})
	b.Run("impl=chan", func(b *testing.B) {
		ch := make(chan int, queueCap)
		b.ReportAllocs()
		for b.Loop() {
			ch <- 1
			<-ch
		}
	})
	b.Run("impl=chansem", func(b *testing.B) {
		q := newChanSemQueue()
		b.ReportAllocs()
		for b.Loop() {
			if err := q.put(ctx, 1); err != nil {
				b.Fatal(err)
			}
			<-q.ch
			q.sem.Release(1)
		}
	})
}

// queueSPSC: one producer, one consumer on another goroutine that finishes each item
// as it takes it.
func queueSPSC(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		q := queue.New[int](queueCap)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				it, err := q.Recv(ctx)
				if err != nil {
					return
				}
				it.Done()
			}
		}()
		b.ReportAllocs()
		for b.Loop() {
			if err := q.Put(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
		q.Close()
		<-done
	})
	b.Run("impl=chan", func(b *testing.B) {
		ch := make(chan int, queueCap)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range ch {
			}
		}()
		b.ReportAllocs()
		for b.Loop() {
			ch <- 1
		}
		close(ch)
		<-done
	})
	b.Run("impl=chansem", func(b *testing.B) {
		q := newChanSemQueue()
		done := make(chan struct{})
		go q.consume(done)
		b.ReportAllocs()
		for b.Loop() {
			if err := q.put(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
		close(q.ch)
		<-done
	})
}

// queueParallelProducers: GOMAXPROCS producers, one consumer.
func queueParallelProducers(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		q := queue.New[int](queueCap)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				it, err := q.Recv(ctx)
				if err != nil {
					return
				}
				it.Done()
			}
		}()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := q.Put(ctx, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
		q.Close()
		<-done
	})
	b.Run("impl=chan", func(b *testing.B) {
		ch := make(chan int, queueCap)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
			}
		}()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ch <- 1
			}
		})
		close(ch)
		wg.Wait()
	})
	b.Run("impl=chansem", func(b *testing.B) {
		q := newChanSemQueue()
		done := make(chan struct{})
		go q.consume(done)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := q.put(ctx, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
		close(q.ch)
		<-done
	})
}
