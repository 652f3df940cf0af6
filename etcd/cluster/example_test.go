package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/sluice-go/sluice/etcd/cluster"
	"github.com/sluice-go/sluice/etcd/internal/embedded"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd starts an embedded etcd for an example and returns a client of it.
func etcd() (*clientv3.Client, func()) {
	dir, err := os.MkdirTemp("", "example-")
	if err != nil {
		log.Fatal(err)
	}
	c, err := embedded.Start(dir, 1, embedded.Options{})
	if err != nil {
		log.Fatal(err)
	}
	cli, err := c.Client()
	if err != nil {
		log.Fatal(err)
	}
	return cli, func() { cli.Close(); c.Close(); os.RemoveAll(dir) }
}

func ExampleSemaphore() {
	cli, stop := etcd()
	defer stop()
	ctx := context.Background()

	// Every replica creates the same Semaphore: 10 validations at once,
	// cluster-wide.
	slots, err := cluster.NewSemaphore(ctx, cli, "/validator/slots", 10)
	if err != nil {
		log.Fatal(err)
	}
	defer slots.Close()

	p, err := slots.Acquire(ctx, 3)
	if err != nil {
		log.Fatal(err)
	}
	// Work under p.Context(): it ends before another replica could be
	// admitted in this one's place. Writes to etcd fenced by p.Fence()
	// fail once the permit is gone.
	resp, err := cli.Txn(p.Context()).If(p.Fence()).Then(clientv3.OpPut("/validator/progress", "42")).Commit()
	fmt.Println("fenced write:", err == nil && resp.Succeeded)
	fmt.Println("cluster in use:", slots.Stats().InUse)
	p.Release()
	// Output:
	// fenced write: true
	// cluster in use: 3
}

func ExampleMutex() {
	cli, stop := etcd()
	defer stop()
	ctx := context.Background()

	streams, err := cluster.NewMutex(ctx, cli, "/node/streams")
	if err != nil {
		log.Fatal(err)
	}
	defer streams.Close()

	p, err := streams.Lock(ctx, "peer-7")
	if err != nil {
		log.Fatal(err)
	}
	other, _ := streams.TryLock(ctx, "peer-7")
	fmt.Println("second holder:", other != nil)
	p.Release() // deletes the key: nothing is left in etcd
	n, _ := cli.Get(ctx, "/node/streams/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	fmt.Println("keys left:", n.Count)
	// Output:
	// second holder: false
	// keys left: 0
}

func ExampleGuard() {
	cli, stop := etcd()
	defer stop()
	ctx := context.Background()

	recovery, err := cluster.NewGuard(ctx, cli, "/validator/recovery")
	if err != nil {
		log.Fatal(err)
	}
	defer recovery.Close()

	// One recovery at a time cluster-wide, whichever replica's trigger
	// fires: the others get ErrRunning at once.
	err = recovery.Do(ctx, cluster.Reject, func(ctx context.Context) error {
		inner := recovery.Do(ctx, cluster.Reject, func(context.Context) error { return nil })
		fmt.Println("second trigger:", errors.Is(inner, cluster.ErrRunning))
		return nil
	})
	fmt.Println("recovery:", err)
	// Output:
	// second trigger: true
	// recovery: <nil>
}

func ExampleOnce() {
	cli, stop := etcd()
	defer stop()
	ctx := context.Background()

	// Two replicas of a node, each with its own Once on the same prefix:
	// one outbound stream per peer, cluster-wide.
	a, err := cluster.NewOnce(ctx, cli, "/node/streams-open")
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := cluster.NewOnce(ctx, cli, "/node/streams-open")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	open := func(replica string) func(context.Context) error {
		return func(ctx context.Context) error {
			// ctx ends if this replica can no longer prove its lease.
			fmt.Println(replica, "opens the stream to peer-7")
			return nil
		}
	}
	a.Do(ctx, "peer-7", open("a")) // runs: nothing recorded yet
	b.Do(ctx, "peer-7", open("b")) // returns nil at once: a's success is in etcd
	b.Forget(ctx, "peer-7")        // peer-7 disconnected
	b.Do(ctx, "peer-7", open("b")) // runs again
	n, _ := cli.Get(ctx, "/node/streams-open/lock/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	fmt.Println("lock keys left:", n.Count)
	// Output:
	// a opens the stream to peer-7
	// b opens the stream to peer-7
	// lock keys left: 0
}
