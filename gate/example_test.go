package gate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-go/sluice/gate"
)

func Example() {
	g := gate.New(gate.WithReaders(64), gate.WithStreams(8), gate.WithReadDeadline(5*time.Second))
	defer g.Close()
	ctx := context.Background()

	head := 0
	// A write waits until reads in flight drain; later reads wait behind it.
	_ = g.Write(ctx, func(context.Context) error { head = 100; return nil })
	// A read runs beside up to 63 others, under a 5 s deadline.
	_ = g.Read(gate.Op(ctx, "Head"), func(context.Context) error {
		fmt.Println("head:", head)
		return nil
	})
	st := g.Stats()
	fmt.Printf("reads admitted %d, writes admitted %d, in use %d, waiting %d\n",
		st.ReadAdmitted, st.WriteAdmitted, st.ReadInUse+st.WriteInUse, st.ReadWaiting+st.WriteWaiting)
	// Output:
	// head: 100
	// reads admitted 1, writes admitted 1, in use 0, waiting 0
}

func ExampleGate_Read_deadline() {
	g := gate.New(gate.WithReadDeadline(20*time.Millisecond), gate.WithHook(func(e gate.Event) {
		fmt.Println("hook:", e.Kind, e.Op)
	}))
	defer g.Close()

	stuck := make(chan struct{})
	// fn ignores its ctx; the caller still gets control back at the deadline.
	err := g.Read(gate.Op(context.Background(), "GetLogs"), func(context.Context) error {
		<-stuck
		return nil
	})
	fmt.Println(errors.Is(err, gate.ErrDeadline), errors.Is(err, context.DeadlineExceeded))
	fmt.Println("overdue:", g.Stats().ReadOverdue) // it still holds its permit

	close(stuck)
	_ = g.Wait(context.Background())
	fmt.Println("overdue:", g.Stats().ReadOverdue)
	// Output:
	// hook: overdue GetLogs
	// true true
	// overdue: 1
	// hook: late GetLogs
	// overdue: 0
}

func ExampleGate_ReadInline() {
	g := gate.New()
	defer g.Close()
	cache := map[string]int{"a": 1}
	var v int
	// fn runs on this goroutine: cheapest admission, deadline through ctx only.
	_ = g.ReadInline(context.Background(), func(ctx context.Context) error {
		v = cache["a"]
		return ctx.Err()
	})
	fmt.Println(v)
	// Output: 1
}

func ExampleGate_Stream() {
	g := gate.New(gate.WithStreams(8), gate.WithStreamLifetime(time.Minute))
	defer g.Close()

	out := make(chan int)
	// Stream returns once admitted; fn produces in the background, on a
	// goroutine the gate owns, without holding any read permit.
	err := g.Stream(context.Background(), func(ctx context.Context) error {
		defer close(out)
		for i := range 3 {
			select {
			case out <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for v := range out {
		fmt.Println(v)
	}
	_ = g.Wait(context.Background())
	// Output:
	// 0
	// 1
	// 2
}

func ExampleGate_Close() {
	g := gate.New(gate.WithReaders(1))
	held := make(chan struct{})
	running := make(chan struct{})
	go func() {
		_ = g.Write(context.Background(), func(context.Context) error {
			close(running)
			<-held
			return nil
		})
	}()
	<-running
	waiting := make(chan error)
	go func() { waiting <- g.Read(context.Background(), func(context.Context) error { return nil }) }()
	// The read queues behind the write. Whether it is already waiting or
	// arrives after Close, it fails with ErrClosed; the write finishes.
	g.Close()
	fmt.Println(<-waiting)
	close(held)
	_ = g.Wait(context.Background())
	// Output: gate: closed
}

// Options set the lanes' sizes and limits and where events go; anything
// not set keeps its default.
func ExampleNew() {
	g := gate.New(gate.WithReaders(8), gate.WithStreams(2), gate.WithLogger(slog.Default()))
	defer g.Close()
	st := g.Stats()
	fmt.Println(st.ReadCapacity, st.StreamCapacity)
	// Output: 8 2
}
