package pool_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/sem"
)

// A backlog of 1,000 items, validated at most 10 at a time: the group
// never has more than 10 goroutines, however long the backlog.
func Example() {
	ctx := context.Background()
	var done atomic.Int64
	p := pool.New(ctx, 10)
	for item := range 1000 {
		err := p.Go(func(ctx context.Context) error {
			_ = item // validate(ctx, item)
			done.Add(1)
			return nil
		})
		if err != nil {
			break // the group's context ended: this item never runs
		}
	}
	if err := p.Wait(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(done.Load(), "validated")
	// Output: 1000 validated
}

// Three trigger paths, three groups, one process-wide cap: at most 4
// validations run at once across all of them.
func ExampleShared() {
	slots := sem.New(4)
	var mu sync.Mutex
	running, most := 0, 0
	validate := func(ctx context.Context) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		// ... the work ...
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	var wg sync.WaitGroup
	for range 3 { // new block, startup, admin
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pool.Shared(context.Background(), slots)
			for range 200 {
				p.Go(validate)
			}
			p.Wait()
		}()
	}
	wg.Wait()
	fmt.Println("at most 4 at once:", most <= 4)
	// Output: at most 4 at once: true
}

// With WithCancelOnError the first failure cancels the group's context: the
// tasks still running see it, and Go stops admitting new ones.
func ExampleWithCancelOnError() {
	errBadItem := errors.New("bad item")
	p := pool.New(context.Background(), 2, pool.WithCancelOnError(), pool.WithQueueSize(0))
	p.Go(func(ctx context.Context) error { return errBadItem })
	p.Go(func(ctx context.Context) error {
		<-ctx.Done() // stops because the other task failed
		return ctx.Err()
	})
	fmt.Println(p.Wait())
	fmt.Println(context.Cause(p.Context()))
	// Output:
	// bad item
	// bad item
}

// A panicking task does not crash its worker's goroutine; Wait re-panics
// with the value and the stack of the task.
func ExamplePanicError() {
	p := pool.New(context.Background(), 2)
	p.Go(func(ctx context.Context) error { panic("boom") })
	defer func() {
		pe := recover().(*pool.PanicError)
		fmt.Println("recovered:", pe.Value)
	}()
	p.Wait()
	// Output: recovered: boom
}

// Close stops a group taking work, say at shutdown: Go calls from then
// on return ErrClosed, while the tasks already admitted run to the end,
// and Wait returns their result.
func ExamplePool_Close() {
	p := pool.New(context.Background(), 1)
	started := make(chan struct{})
	finish := make(chan struct{})
	p.Go(func(ctx context.Context) error {
		close(started)
		<-finish // an admitted task: it runs to the end
		return nil
	})
	<-started

	p.Close()
	err := p.Go(func(ctx context.Context) error { return nil })
	fmt.Println(errors.Is(err, pool.ErrClosed))

	close(finish)
	fmt.Println(p.Wait())
	fmt.Printf("%+v\n", p.Stats())
	// Output:
	// true
	// <nil>
	// {Capacity:1 InUse:0 Waiting:0 Queued:0 Admitted:1 Cancelled:0 Rejected:1 Completed:1 Failed:0 Panicked:0 OldestWait:0s Done:true Closed:true}
}
