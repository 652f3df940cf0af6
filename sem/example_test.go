package sem_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sluice-go/sluice/sem"
)

// One semaphore caps the work of every code path that shares it: here two
// trigger paths each start validations, and at most 3 run at once across
// both.
func Example() {
	slots := sem.New(3)
	ctx := context.Background()

	var wg sync.WaitGroup
	var mu sync.Mutex
	running, most := 0, 0
	validate := func() {
		defer wg.Done()
		defer slots.Release(1)
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		// ... the work ...
		mu.Lock()
		running--
		mu.Unlock()
	}
	for path := 0; path < 2; path++ {
		for item := 0; item < 50; item++ {
			if err := slots.Acquire(ctx, 1); err != nil {
				fmt.Println(err)
				return
			}
			wg.Add(1)
			go validate()
		}
	}
	wg.Wait()
	fmt.Println("at most 3 at once:", most <= 3)
	fmt.Printf("%+v\n", slots.Stats())
	// Output:
	// at most 3 at once: true
	// {Capacity:3 InUse:0 Waiting:0 Admitted:100 Cancelled:0 Rejected:0 OldestWait:0s Closed:false}
}

// A Permit can be released from two places, a completion path and a
// deadline path, and gives its permits back exactly once.
func ExamplePermit() {
	s := sem.New(1)
	p, err := s.Permit(context.Background(), 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Release(), p.Release())
	s.Close()
	err = s.Acquire(context.Background(), 1)
	fmt.Println(errors.Is(err, sem.ErrClosed))
	// Output:
	// true false
	// true
}
