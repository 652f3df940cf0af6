package loop_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-go/sluice/loop"
)

type pipeline struct {
	scores map[string]int
}

// The loop owns the state: handlers run one at a time on its goroutine,
// so the map needs no lock.
func Example() {
	ctx := context.Background()
	l := loop.New(pipeline{scores: map[string]int{}})
	defer func() {
		l.Close()
		l.Wait(ctx)
	}()

	// Post queues a handler and returns; Do runs one and waits.
	l.Post(ctx, func(s *pipeline) { s.scores["alice"] = 3 })
	l.Post(ctx, func(s *pipeline) { s.scores["bob"] = 5 })
	var total int
	l.Do(ctx, func(s *pipeline) {
		for _, v := range s.scores {
			total += v
		}
	})
	fmt.Println("total", total)
	// Output: total 8
}

// Blocking work goes off the loop; its result comes back as a handler.
func ExampleOffload() {
	ctx := context.Background()
	l := loop.New(pipeline{scores: map[string]int{}}, loop.WithWorkers(8))
	defer func() {
		l.Close()
		l.Wait(ctx)
	}()

	fetchMerged := func(ctx context.Context) (int, error) {
		// An HTTP call in real code: it may take long, and it runs on
		// one of the loop's workers, not on the loop.
		return 7, nil
	}
	done := make(chan struct{})
	l.Post(ctx, func(s *pipeline) {
		err := loop.Offload(ctx, l, fetchMerged, func(s *pipeline, merged int, err error) {
			// Back on the loop: the state is ours again.
			if err == nil {
				s.scores["alice"] = merged * 10
			}
			close(done)
		})
		if err != nil {
			fmt.Println(err)
		}
	})
	<-done
	l.Do(ctx, func(s *pipeline) { fmt.Println("alice", s.scores["alice"]) })
	// Output: alice 70
}

// The watchdog names a handler that blocks the loop. Here the handler
// waits until it has been reported.
func ExampleWithSlowHook() {
	ctx := context.Background()
	reported := make(chan struct{})
	l := loop.New(pipeline{},
		loop.WithSlowThreshold(10*time.Millisecond),
		loop.WithSlowHook(func(s loop.Slow) {
			if s.Report == 1 { // later reports come at 2, 4, 8... times the threshold
				fmt.Println("slow handler:", s.Name)
				fmt.Println("stack shows it:", strings.Contains(s.Stack, "ExampleWithSlowHook"))
				close(reported)
			}
		}))
	defer func() {
		l.Close()
		l.Wait(ctx)
	}()
	l.DoNamed(ctx, "fetchUser", func(*pipeline) { <-reported })
	// Output:
	// slow handler: fetchUser
	// stack shows it: true
}

// A flood of posts fails clearly instead of growing memory.
func ExampleLoop_TryPost() {
	ctx := context.Background()
	l := loop.New(pipeline{}, loop.WithQueueSize(1))
	defer func() {
		l.Close()
		l.Wait(ctx)
	}()
	release := make(chan struct{})
	started := make(chan struct{})
	l.Post(ctx, func(*pipeline) { close(started); <-release })
	<-started
	err := l.TryPost(func(*pipeline) {})
	fmt.Println(err, errors.Is(err, loop.ErrFull))
	close(release)
	// Output: loop: queue full true
}
