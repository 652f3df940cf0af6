package bench

import (
	"context"
	"testing"

	"github.com/sluice-go/sluice/loop"
)

type loopState struct{ n int }

// chanActor is the actor people write by hand: a goroutine that owns the
// state and serves requests from a channel, each request carrying a reply
// channel. Callers reuse their reply channel, its best case.
type chanActor struct {
	reqs chan actorReq
	done chan struct{}
}

type actorReq struct {
	fn    func(*loopState)
	reply chan struct{} // nil for a post
}

func newChanActor(buf int) *chanActor {
	a := &chanActor{reqs: make(chan actorReq, buf), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		var s loopState
		for r := range a.reqs {
			r.fn(&s)
			if r.reply != nil {
				r.reply <- struct{}{}
			}
		}
	}()
	return a
}

func (a *chanActor) do(fn func(*loopState), reply chan struct{}) {
	a.reqs <- actorReq{fn: fn, reply: reply}
	<-reply
}

func (a *chanActor) close() {
	close(a.reqs)
	<-a.done
}

func inc(s *loopState) { s.n++ }

// BenchmarkLoop: Loop/case=do|do-parallel|post|post-parallel/impl=sluice|chanactor.
func BenchmarkLoop(b *testing.B) {
	b.Run("case=do", loopDo)
	b.Run("case=do-parallel", loopDoParallel)
	b.Run("case=post", loopPost)
	b.Run("case=post-parallel", loopPostParallel)
}

// loopDo: run a handler on the owner goroutine and wait for it, one caller.
func loopDo(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		l := loop.New(loopState{})
		b.ReportAllocs()
		for b.Loop() {
			if err := l.Do(ctx, inc); err != nil {
				b.Fatal(err)
			}
		}
		l.Close()
		l.Wait(ctx)
	})
	b.Run("impl=chanactor", func(b *testing.B) {
		a := newChanActor(loop.DefaultQueueSize)
		reply := make(chan struct{}, 1)
		b.ReportAllocs()
		for b.Loop() {
			a.do(inc, reply)
		}
		a.close()
	})
}

// loopDoParallel: Do from GOMAXPROCS callers at once.
func loopDoParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		l := loop.New(loopState{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := l.Do(ctx, inc); err != nil {
					b.Error(err)
					return
				}
			}
		})
		l.Close()
		l.Wait(ctx)
	})
	b.Run("impl=chanactor", func(b *testing.B) {
		a := newChanActor(loop.DefaultQueueSize)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			reply := make(chan struct{}, 1)
			for pb.Next() {
				a.do(inc, reply)
			}
		})
		a.close()
	})
}

// loopPost: Post throughput: enqueue without waiting, one producer; the owner runs
// them as fast as it can. Ends when every post has run.
func loopPost(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		l := loop.New(loopState{})
		b.ReportAllocs()
		for b.Loop() {
			if err := l.Post(ctx, inc); err != nil {
				b.Fatal(err)
			}
		}
		l.Do(ctx, inc) // after every post
		l.Close()
		l.Wait(ctx)
	})
	b.Run("impl=chanactor", func(b *testing.B) {
		a := newChanActor(loop.DefaultQueueSize)
		b.ReportAllocs()
		for b.Loop() {
			a.reqs <- actorReq{fn: inc}
		}
		a.close()
	})
}

// loopPostParallel: Post from GOMAXPROCS producers at once.
func loopPostParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=sluice", func(b *testing.B) {
		l := loop.New(loopState{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := l.Post(ctx, inc); err != nil {
					b.Error(err)
					return
				}
			}
		})
		l.Do(ctx, inc)
		l.Close()
		l.Wait(ctx)
	})
	b.Run("impl=chanactor", func(b *testing.B) {
		a := newChanActor(loop.DefaultQueueSize)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a.reqs <- actorReq{fn: inc}
			}
		})
		a.close()
	})
}
