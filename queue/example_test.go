package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sluice-go/sluice/queue"
)

// A dispatcher hands each request to its own handler goroutine. The item's
// room is given back when the handler finishes (Done), not when the
// dispatcher dequeues it, so at most 2 requests are ever queued or being
// handled: one backpressure mechanism, not a channel buffer plus a
// semaphore.
func Example() {
	ctx := context.Background()
	q := queue.New[string](2)

	var handlers sync.WaitGroup
	var mu sync.Mutex
	var handled []string
	dispatcher := make(chan struct{})
	go func() {
		defer close(dispatcher)
		for {
			it, err := q.Recv(ctx)
			if errors.Is(err, queue.ErrClosed) {
				return // closed and drained
			}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				defer it.Done() // the room comes back here
				mu.Lock()
				handled = append(handled, it.Value)
				mu.Unlock()
			}()
		}
	}()

	for _, req := range []string{"block 1", "block 2", "logs 1-2"} {
		// Reserve first (waits while 2 are queued or in process), then
		// send: the send never fails for lack of room.
		r, err := q.Reserve(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := r.Send(req); err != nil {
			fmt.Println(err)
		}
	}
	q.Close()
	<-dispatcher
	handlers.Wait()

	fmt.Println(len(handled), "handled")
	fmt.Println(q.Put(ctx, "late"))
	// Output:
	// 3 handled
	// queue: closed
}

// TryPut never waits: it fails with ErrFull while the room is taken,
// including by items received and not yet Done.
func ExampleQueue_TryPut() {
	ctx := context.Background()
	q := queue.New[int](1)
	fmt.Println(q.TryPut(1))
	it, _ := q.Recv(ctx)
	fmt.Println(q.TryPut(2)) // 1 is still in process
	it.Done()
	fmt.Println(q.TryPut(2))
	fmt.Printf("%+v\n", q.Stats())
	// Output:
	// <nil>
	// queue: full
	// <nil>
	// {Capacity:1 Reserved:0 Queued:1 InUse:0 Waiting:0 Admitted:2 Cancelled:0 Rejected:1 OldestWait:0s Closed:false}
}
