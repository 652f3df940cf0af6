package run_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/sluice-go/sluice/run"
)

// Three trigger paths fire recovery at once; with Reject only one runs,
// the others learn that a run is in progress and return.
func ExampleGuard() {
	var recovery run.Guard
	started := make(chan struct{})
	release := make(chan struct{})
	recoverMissed := func(ctx context.Context) error {
		close(started)
		<-release // ... validate the backlog ...
		return nil
	}

	done := make(chan error)
	go func() { done <- recovery.Do(context.Background(), run.Reject, recoverMissed) }() // new block
	<-started
	for _, path := range []string{"startup", "admin"} {
		err := recovery.Do(context.Background(), run.Reject, recoverMissed)
		fmt.Println(path+":", errors.Is(err, run.ErrRunning))
	}
	close(release)
	fmt.Println("new block:", <-done)
	// Output:
	// startup: true
	// admin: true
	// new block: <nil>
}

// Again: config changes arrive while a sync runs; they coalesce into one
// trailing sync that starts after all of them, and each gets its result.
func ExampleAgain() {
	var syncer run.Guard
	var mu sync.Mutex
	syncs := 0
	first := make(chan struct{})
	release := make(chan struct{})
	doSync := func(ctx context.Context) error {
		mu.Lock()
		syncs++
		n := syncs
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); syncer.Do(context.Background(), run.Again, doSync) }()
	<-first
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); syncer.Do(context.Background(), run.Again, doSync) }()
	}
	// Once the five are waiting (Stats has no event to block on, so
	// yield until it says so), let the first sync finish.
	for syncer.Stats().Waiting < 5 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	fmt.Println("syncs:", syncs)
	// Output: syncs: 2
}

// Keyed: one run at a time per key.
func ExampleKeyed() {
	var refresh run.Keyed[string]
	err := refresh.Do(context.Background(), "model-a", run.Join, func(ctx context.Context) error {
		// While model-a refreshes, model-b may too, but not model-a again.
		return refresh.Do(ctx, "model-b", run.Reject, func(context.Context) error { return nil })
	})
	fmt.Println(err, refresh.Stats().Keys)
	// Output: <nil> 0
}

// Close at shutdown: the run in progress finishes, everyone still waiting
// and every later trigger gets ErrClosed.
func ExampleGuard_Close() {
	var recovery run.Guard
	recovery.Close()
	err := recovery.Do(context.Background(), run.Reject, func(context.Context) error { return nil })
	fmt.Println(errors.Is(err, run.ErrClosed), recovery.Stats().Closed)
	// Output: true true
}
