package debug_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/loop"
	"github.com/sluice-go/sluice/queue"
	"github.com/sluice-go/sluice/sem"
)

// TestSnapshotDuringClose: snapshots taken while primitives with waiters
// are closed never panic or block, and end showing every one closed with
// nobody waiting (run it with -race).
func TestSnapshotDuringClose(t *testing.T) {
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			ctx := context.Background()
			reg := debug.NewRegistry()
			s := sem.New(1)
			q := queue.New[int](1)
			g := gate.New(gate.WithReaders(1))
			l := loop.New(0, loop.WithQueueSize(1), loop.WithSlowHook(func(loop.Slow) {})) // the held handler is slow on purpose
			var km keyed.Mutex[string]
			for name, p := range map[string]any{"sem": s, "queue": q, "gate": g, "loop": l, "keyed": &km} {
				if err := reg.Register(name, p); err != nil {
					t.Fatal(err)
				}
			}
			// Fill each one, then queue waiters behind.
			if err := s.Acquire(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := q.Put(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := km.Lock(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			readHeld, release := make(chan struct{}), make(chan struct{})
			var holders sync.WaitGroup
			holders.Go(func() {
				_ = g.Read(ctx, func(context.Context) error { close(readHeld); <-release; return nil })
			})
			<-readHeld
			loopHeld := make(chan struct{})
			if err := l.Post(ctx, func(*int) { close(loopHeld); <-release }); err != nil {
				t.Fatal(err)
			}
			<-loopHeld
			var waiters sync.WaitGroup
			for range 3 {
				waiters.Go(func() { _ = s.Acquire(ctx, 1) })
				waiters.Go(func() { _ = q.Put(ctx, 2) })
				waiters.Go(func() { _ = g.Read(ctx, func(context.Context) error { return nil }) })
				waiters.Go(func() {
					if km.Lock(ctx, "k") == nil {
						km.Unlock("k")
					}
				})
				waiters.Go(func() { _ = l.Post(ctx, func(*int) {}) })
			}

			// Close only once every waiter is queued, as the registry sees it.
			conctest.WaitFor(t, time.Minute, "15 waiters queued", func() bool {
				n := 0.0
				for _, en := range reg.Snapshot() {
					for _, f := range en.Figures {
						if strings.HasSuffix(f.Field, "Waiting") {
							n += f.Value
						}
					}
				}
				return n == 15
			})

			var snaps atomic.Int64
			started := make(chan struct{}, 4)
			done := make(chan struct{})
			var readers sync.WaitGroup
			for range 4 {
				readers.Go(func() {
					for {
						for _, en := range reg.Snapshot() {
							_ = en.Figures
						}
						if snaps.Add(1) <= 4 {
							started <- struct{}{}
						}
						select {
						case <-done:
							return
						default:
						}
					}
				})
			}
			<-started
			conctest.NoDeadlock(t, time.Minute, "Close with snapshots running", func() {
				s.Close()
				q.Close()
				g.Close()
				km.Close()
				l.Close()
				waiters.Wait() // every waiter was failed by Close
			})
			km.Unlock("k")
			close(release)
			holders.Wait()
			if err := l.Wait(ctx); err != nil && !errors.Is(err, loop.ErrClosed) {
				t.Fatal(err)
			}
			close(done)
			readers.Wait()
			for _, en := range reg.Snapshot() {
				if !en.Closed {
					t.Errorf("%s: not Closed after Close", en.Name)
				}
				for _, f := range en.Figures {
					if strings.HasSuffix(f.Field, "Waiting") && f.Value != 0 {
						t.Errorf("%s: %s %v after Close", en.Name, f.Field, f.Value)
					}
				}
			}
			if snaps.Load() == 0 {
				t.Fatal("no snapshot ran")
			}
		})
	}
}
