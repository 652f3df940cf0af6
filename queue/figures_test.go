package queue

import (
	"bytes"
	"context"
	"errors"
	"runtime/trace"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestOnWait: each producer that waited gets its exact wait, on its own
// goroutine, after it has let the next producer in line go; producers
// admitted at once, Try forms and cancelled waits call no hook.
func TestOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := New[int](2)
		var mu sync.Mutex
		var waits []time.Duration
		gate := make(chan struct{})
		q.OnWait(func(d time.Duration) {
			mu.Lock()
			waits = append(waits, d)
			first := len(waits) == 1
			mu.Unlock()
			if first {
				<-gate // hold up the first producer's return
			}
		})
		get := func() []time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return append([]time.Duration(nil), waits...)
		}
		if err := q.Put(ctx, 0); err != nil { // at once
			t.Fatal(err)
		}
		if err := q.TryPut(1); err != nil { // at once
			t.Fatal(err)
		}
		if err := q.TryPut(2); !errors.Is(err, ErrFull) {
			t.Fatalf("TryPut on a full queue: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancelled := make(chan error, 1)
		go func() { cancelled <- q.Put(cctx, 9) }()
		synctest.Wait()
		time.Sleep(time.Second)
		cancel()
		if err := <-cancelled; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}

		a, b := make(chan error, 1), make(chan error, 1)
		go func() { a <- q.Put(ctx, 10) }()
		synctest.Wait()
		time.Sleep(2 * time.Second)
		go func() {
			_, err := q.Reserve(ctx)
			b <- err
		}()
		synctest.Wait()
		time.Sleep(3 * time.Second)
		if st := q.Stats(); st.Waiting != 2 || st.OldestWait != 5*time.Second {
			t.Fatalf("two producers waiting: %+v; want OldestWait 5s", st)
		}
		// Room for both: A is admitted, queues 10, lets B go, and only
		// then runs its hook, which blocks; B returns meanwhile.
		for range 2 {
			it, err := q.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			it.Done()
		}
		if err := <-b; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-a:
			t.Fatalf("Put returned (%v) before its hook did", err)
		default:
		}
		if got := get(); len(got) != 2 || got[0] != 5*time.Second || got[1] != 3*time.Second {
			t.Fatalf("hooks got %v; want [5s 3s]", got)
		}
		close(gate)
		if err := <-a; err != nil {
			t.Fatal(err)
		}
		st := q.Stats()
		if st.Admitted != 4 || st.Cancelled != 1 || st.Rejected != 1 || st.OldestWait != 0 {
			t.Fatalf("at the end: %+v; want 4 admitted, 1 cancelled, 1 rejected", st)
		}
	})
}

// TestTraceRegion: Reserve, Put and Recv that block run in regions named
// after them; calls that do not block start none. The trace runs outside
// the bubbles; inside them, synctest.Wait says when a call has blocked.
func TestTraceRegion(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("a trace is already running")
	}
	record := func(fn func(t *testing.T)) []byte {
		var buf bytes.Buffer
		if err := trace.Start(&buf); err != nil {
			t.Fatal(err)
		}
		synctest.Test(t, fn)
		trace.Stop()
		return buf.Bytes()
	}
	quiet := record(func(t *testing.T) {
		ctx := context.Background()
		q := New[int](1)
		_ = q.Put(ctx, 1)
		it, _ := q.Recv(ctx)
		it.Done()
		r, _ := q.Reserve(ctx)
		r.Cancel()
	})
	if bytes.Contains(quiet, []byte("sluice/queue:")) {
		t.Fatal("calls that did not block started a trace region")
	}
	blocked := record(func(t *testing.T) {
		ctx := context.Background()
		q := New[int](1)
		got := make(chan error, 1)
		go func() {
			it, err := q.Recv(ctx) // blocks: nothing queued
			it.Done()
			got <- err
		}()
		synctest.Wait()
		held, _ := q.Reserve(ctx)
		putErr := make(chan error, 1)
		go func() { putErr <- q.Put(ctx, 2) }() // blocks: no room
		synctest.Wait()
		held.Cancel()
		if err := <-putErr; err != nil {
			t.Error(err)
		}
		if err := <-got; err != nil {
			t.Error(err)
		}
		held, _ = q.Reserve(ctx)
		resErr := make(chan error, 1)
		go func() { // blocks: no room
			r, err := q.Reserve(ctx)
			r.Cancel()
			resErr <- err
		}()
		synctest.Wait()
		held.Cancel()
		if err := <-resErr; err != nil {
			t.Error(err)
		}
	})
	for _, name := range []string{regionReserve, regionPut, regionRecv} {
		if !bytes.Contains(blocked, []byte(name)) {
			t.Errorf("no trace region %q around a blocking wait", name)
		}
	}
}
