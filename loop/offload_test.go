package loop

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

type scores struct {
	got   map[int]int
	errs  int
	order []int
}

func TestOffload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const workers = 3
		l := newLoop(scores{got: map[int]int{}}, WithWorkers(workers), WithQueueSize(64))
		g := conctest.NewTurnstile()
		var tr conctest.Tracker
		bad := errors.New("bad")
		var delivered sync.WaitGroup
		// Offload from handlers: the loop stays free while work blocks.
		for i := range 10 {
			delivered.Add(1)
			err := l.Do(ctx, func(s *scores) {
				err := Offload(ctx, l, func(ctx context.Context) (int, error) {
					defer tr.Enter()()
					if err := g.Pass(ctx); err != nil {
						return 0, err
					}
					if i == 7 {
						return 0, bad
					}
					return i * i, nil
				}, func(s *scores, v int, err error) {
					defer delivered.Done()
					s.order = append(s.order, i)
					if err != nil {
						s.errs++
						return
					}
					s.got[i] = v
				})
				if err != nil {
					t.Error(err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		g.WaitBlocked(ctx, workers)
		synctest.Wait()
		st := l.Stats()
		if st.OffloadInUse != workers || st.OffloadQueued != 10-workers || st.Reserved != 10 || st.OffloadCapacity != workers {
			t.Fatalf("Stats with work blocked = %+v", st)
		}
		// The loop answers while every worker is blocked.
		if err := l.Do(ctx, func(*scores) {}); err != nil {
			t.Fatal(err)
		}
		// Admitted works start in FIFO order: release one at a time.
		for range 10 {
			g.Release(1)
			synctest.Wait()
		}
		delivered.Wait()
		var got map[int]int
		var errs int
		var order []int
		l.Do(ctx, func(s *scores) { got, errs, order = s.got, s.errs, s.order })
		if len(got) != 9 || got[3] != 9 || errs != 1 {
			t.Fatalf("scores %v, errors %d", got, errs)
		}
		// The first `workers` works started together; every later one
		// started, in FIFO order, as a worker came free.
		first := slices.Clone(order[:workers])
		slices.Sort(first)
		for i, v := range append(first, order[workers:]...) {
			if v != i {
				t.Fatalf("results in order %v, want FIFO after the first %d", order, workers)
			}
		}
		if tr.Max() != workers {
			t.Fatalf("at most %d works at once, want %d", tr.Max(), workers)
		}
		if st := l.Stats(); st.OffloadInUse != 0 || st.Reserved != 0 || st.OffloadQueued != 0 {
			t.Fatalf("Stats at rest = %+v", st)
		}
		closeAndWait(t, l)
	})
}

// Offloaded work that calls runtime.Goexit takes its worker with it; the
// room it held comes back and the works behind it still run.
func TestOffloadGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithWorkers(1))
		g := conctest.NewTurnstile()
		var thenRan atomic.Int32
		Offload(ctx, l, func(ctx context.Context) (int, error) {
			g.Pass(ctx)
			runtime.Goexit()
			return 0, nil
		}, func(*counter, int, error) { thenRan.Add(100) })
		delivered := make(chan struct{})
		Offload(ctx, l, func(context.Context) (int, error) { return 1, nil },
			func(_ *counter, v int, _ error) { thenRan.Add(int32(v)); close(delivered) })
		g.WaitEntered(ctx, 1)
		g.Open()
		<-delivered
		synctest.Wait()
		if got := thenRan.Load(); got != 1 {
			t.Fatalf("then results = %d, want only the second (1)", got)
		}
		if st := l.Stats(); st.Reserved != 0 || st.OffloadInUse != 0 || st.OffloadQueued != 0 || st.Panicked != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		closeAndWait(t, l)
	})
}

// What Offload's doc warns about: work that waits for room in its own loop
// while the queue is full of rooms held for offloaded results waits until
// its ctx ends, because its own result holds one of those rooms.
func TestOffloadWorkWaitingForOwnLoopStalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLoop(counter{}, WithQueueSize(1), WithWorkers(1))
		got := make(chan error, 1)
		Offload(ctx, l, func(context.Context) (int, error) {
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return 0, l.Do(wctx, func(*counter) {})
		}, func(_ *counter, _ int, err error) { got <- err })
		if err := <-got; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Do from offloaded work with the queue full = %v, want it stalled until its deadline", err)
		}
		closeAndWait(t, l)
	})
}

// A panic in offloaded work ends the program (nobody waits to receive
// it), with the work's own frame in the output, as a panic on any
// goroutine does; the pool the works run on does not swallow it.
func TestOffloadPanicCrashes(t *testing.T) {
	if os.Getenv("LOOP_WORK_PANIC") == "1" {
		l := New(counter{})
		Offload(context.Background(), l, func(context.Context) (int, error) { return workPanics() },
			func(*counter, int, error) {})
		l.Wait(context.Background()) // never returns: the panic ends the process
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOffloadPanicCrashes$")
	cmd.Env = append(os.Environ(), "LOOP_WORK_PANIC=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the process survived a panic in offloaded work:\n%s", out)
	}
	if !strings.Contains(string(out), "panic: loop: offloaded work panicked: boom") || !strings.Contains(string(out), "loop.workPanics") {
		t.Fatalf("crash output lacks the panic or its frame:\n%s", out)
	}
}

//go:noinline
func workPanics() (int, error) { panic("boom") }
