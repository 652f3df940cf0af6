package keyed_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sluice-go/sluice/keyed"
)

// A per-account lock: transfers on the same account run one at a time,
// transfers on different accounts do not wait for each other. Nothing has
// to be cleaned up: an account's entry goes when its last holder unlocks.
func ExampleMutex() {
	var accounts keyed.Mutex[string]
	// The map is only read; each *int is guarded by its account's lock.
	balance := map[string]*int{"alice": new(int), "bob": new(int)}
	ctx := context.Background()

	var wg sync.WaitGroup
	for i := range 200 {
		name := []string{"alice", "bob"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := accounts.Lock(ctx, name); err != nil {
				return
			}
			defer accounts.Unlock(name)
			*balance[name]++ // read-modify-write, safe under name's lock
		}()
	}
	wg.Wait()
	fmt.Println("alice:", *balance["alice"], "bob:", *balance["bob"])
	fmt.Println("entries left:", accounts.Len())
	// Output:
	// alice: 100 bob: 100
	// entries left: 0
}

// Readers of one document share it; a writer has it alone; other
// documents are not affected.
func ExampleRWMutex() {
	var docs keyed.RWMutex[int]
	ctx := context.Background()
	_ = docs.RLock(ctx, 7)
	_ = docs.RLock(ctx, 7)
	fmt.Println("writer while read:", docs.TryLock(7))
	fmt.Println("other doc:", docs.TryLock(8))
	docs.Unlock(8)
	docs.RUnlock(7)
	docs.RUnlock(7)
	fmt.Println("writer when free:", docs.TryLock(7))
	docs.Unlock(7)
	fmt.Println("entries left:", docs.Len())
	// Output:
	// writer while read: false
	// other doc: true
	// writer when free: true
	// entries left: 0
}

// Seed 001: the outbound stream to a peer is opened from two paths (after
// the handshake and when the peer's own stream arrives). Once opens it
// exactly once; Forget on disconnect lets the next connection open a new
// one, never beside a setup still running.
func ExampleOnce() {
	var setup keyed.Once[string]
	ctx := context.Background()
	opened := 0
	openStream := func(ctx context.Context) error {
		opened++ // stands for the network round trip and the registration
		return nil
	}

	_ = setup.Do(ctx, "peer-1", openStream) // dial path
	_ = setup.Do(ctx, "peer-1", openStream) // inbound path: already open
	fmt.Println("streams opened:", opened, "entries:", setup.Len())

	setup.Forget("peer-1") // disconnect
	fmt.Println("after disconnect, entries:", setup.Len())
	_ = setup.Do(ctx, "peer-1", openStream) // reconnect
	fmt.Println("streams opened:", opened)

	// A failure is not remembered: the next call tries again.
	err := setup.Do(ctx, "peer-2", func(context.Context) error { return errors.New("refused") })
	fmt.Println(err, "- entries:", setup.Len())
	// Output:
	// streams opened: 1 entries: 1
	// after disconnect, entries: 0
	// streams opened: 2
	// refused - entries: 1
}
