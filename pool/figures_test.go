package pool

import (
	"bytes"
	"context"
	"errors"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/sem"
)

type totals struct{ admitted, cancelled, rejected int64 }

func totalsOf(st Stats) totals { return totals{st.Admitted, st.Cancelled, st.Rejected} }

// waitLog records what an OnWait hook is called with.
type waitLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (l *waitLog) add(d time.Duration) { l.mu.Lock(); l.waits = append(l.waits, d); l.mu.Unlock() }

func (l *waitLog) get() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.waits...)
}

// TestRejected: the calls refused at once, and those that are not.
func TestRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := New(ctx, 1, WithQueueSize(0))
		b := newBlocker()
		if err := p.Go(b.task(0)); err != nil {
			t.Fatal(err)
		}
		if p.TryGo(nop) {
			t.Fatal("TryGo on a full group succeeded")
		}
		if got := totalsOf(p.Stats()); got != (totals{1, 0, 1}) {
			t.Fatalf("after Go and a failed TryGo: %+v", got)
		}
		cancel()
		if err := p.Go(nop); !errors.Is(err, context.Canceled) {
			t.Fatalf("Go after cancel: %v", err)
		}
		if p.TryGo(nop) {
			t.Fatal("TryGo after cancel succeeded")
		}
		b.finish(0, nil)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if err := p.Go(nop); !errors.Is(err, ErrDone) {
			t.Fatalf("Go after Wait: %v", err)
		}
		p.Close()
		if err := p.Go(nop); !errors.Is(err, ErrClosed) {
			t.Fatalf("Go after Close: %v", err)
		}
		if got := totalsOf(p.Stats()); got != (totals{1, 0, 5}) {
			t.Fatalf("at the end: %+v; want 1 admitted, 5 rejected", got)
		}
	})
}

// TestWaitsOnTheSemaphore: a Go call that waits on a shared semaphore is
// timed (OldestWait, OnWait) and, if its context ends, Cancelled; one
// failed by the semaphore's Close counts in no total.
func TestWaitsOnTheSemaphore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := sem.New(1)
		if !s.TryAcquire(1) {
			t.Fatal("TryAcquire")
		}
		p := Shared(ctx, s)
		var log waitLog
		p.OnWait(log.add)

		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(nop) }()
		synctest.Wait()
		time.Sleep(3 * time.Second)
		if st := p.Stats(); st.Waiting != 1 || st.OldestWait != 3*time.Second {
			t.Fatalf("Go waiting on the semaphore 3s: %+v", st)
		}
		s.Release(1)
		if err := <-goErr; err != nil {
			t.Fatal(err)
		}
		if got := log.get(); len(got) != 1 || got[0] != 3*time.Second {
			t.Fatalf("OnWait got %v; want [3s]", got)
		}
		synctest.Wait()
		if st := p.Stats(); st.OldestWait != 0 || totalsOf(st) != (totals{1, 0, 0}) {
			t.Fatalf("after the admission: %+v", st)
		}

		// Cancelled: the group's context ends while Go waits there.
		if !s.TryAcquire(1) {
			t.Fatal("TryAcquire")
		}
		go func() { goErr <- p.Go(nop) }()
		synctest.Wait()
		cancel()
		if err := <-goErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("Go when the context ended: %v", err)
		}
		if got := totalsOf(p.Stats()); got != (totals{1, 1, 0}) {
			t.Fatalf("after a cancelled wait: %+v", got)
		}
		s.Release(1)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}

		// Failed by the semaphore's Close: no total.
		q := Shared(context.Background(), s)
		if !s.TryAcquire(1) {
			t.Fatal("TryAcquire")
		}
		go func() { goErr <- q.Go(nop) }()
		synctest.Wait()
		s.Close()
		if err := <-goErr; !errors.Is(err, sem.ErrClosed) {
			t.Fatalf("Go when the semaphore closed: %v", err)
		}
		if got := totalsOf(q.Stats()); got != (totals{}) {
			t.Fatalf("after a wait failed by the semaphore's Close: %+v", got)
		}
		s.Release(1)
		if err := q.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWaitHandedToSemaphore: a Go call that waited in the group's line and
// was then handed to the semaphore is timed from when it began to wait.
func TestWaitHandedToSemaphore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := sem.New(2)
		p := Shared(ctx, s, WithQueueSize(0))
		var log waitLog
		p.OnWait(log.add)
		b := newBlocker()
		for id := range 2 {
			if err := p.Go(b.task(id)); err != nil {
				t.Fatal(err)
			}
		}
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(nop) }()
		synctest.Wait()
		time.Sleep(2 * time.Second) // 2s in the group's line
		big := make(chan error, 1)
		go func() { big <- s.Acquire(ctx, 2) }()
		synctest.Wait()
		b.finish(0, nil)
		b.finish(1, nil)
		if err := <-big; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(3 * time.Second) // and 3s on the semaphore
		if st := p.Stats(); st.Waiting != 1 || st.OldestWait != 5*time.Second {
			t.Fatalf("Go handed to the semaphore: %+v; want 1 waiting for 5s", st)
		}
		s.Release(2)
		if err := <-goErr; err != nil {
			t.Fatal(err)
		}
		if got := log.get(); len(got) != 1 || got[0] != 5*time.Second {
			t.Fatalf("OnWait got %v; want [5s]", got)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := totalsOf(p.Stats()); got != (totals{3, 0, 0}) {
			t.Fatalf("at the end: %+v", got)
		}
	})
}

// TestOnWaitNotForUncontended: tasks admitted at once (a free slot, room
// in the queue) or by TryGo never call the hooks; stop removes a hook.
func TestOnWaitNotForUncontended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(context.Background(), 1, WithQueueSize(1))
		var log waitLog
		stop := p.OnWait(log.add)
		b := newBlocker()
		if err := p.Go(b.task(0)); err != nil { // a free slot
			t.Fatal(err)
		}
		if !p.TryGo(b.task(1)) { // room in the queue
			t.Fatal("TryGo")
		}
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(b.task(2)) }() // waits
		synctest.Wait()
		time.Sleep(time.Second)
		b.finish(0, nil) // task 1 starts, 2 is admitted into the queue
		if err := <-goErr; err != nil {
			t.Fatal(err)
		}
		stop()
		stop()
		go func() { goErr <- p.Go(b.task(3)) }() // waits, no hook now
		synctest.Wait()
		b.finish(1, nil)
		if err := <-goErr; err != nil {
			t.Fatal(err)
		}
		b.finish(2, nil)
		b.finish(3, nil)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := log.get(); len(got) != 1 || got[0] != time.Second {
			t.Fatalf("OnWait got %v; want [1s]", got)
		}
	})
}

// TestWorkerLabels: a task runs on a goroutine labelled {"sluice": "pool
// worker"}, with the labels of the group's parent context kept.
func TestWorkerLabels(t *testing.T) {
	ctx := pprof.WithLabels(context.Background(), pprof.Labels("request", "42"))
	p := New(ctx, 1)
	running, finish := make(chan struct{}), make(chan struct{})
	if err := p.Go(func(context.Context) error {
		close(running)
		<-finish
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	<-running
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	close(finish)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	found := false
	for rec := range strings.SplitSeq(buf.String(), "\n\n") {
		if strings.Contains(rec, "pool.(*Pool).worker") {
			if !strings.Contains(rec, `"sluice":"pool worker"`) || !strings.Contains(rec, `"request":"42"`) {
				t.Fatalf("worker goroutine without the labels:\n%s", rec)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no worker goroutine in the profile:\n%s", buf.String())
	}
}

// TestTraceRegion: a Go call that waits runs in the region "sluice/pool:
// Go wait"; one admitted at once starts none.
func TestTraceRegion(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("a trace is already running")
	}
	record := func(fn func()) []byte {
		var buf bytes.Buffer
		if err := trace.Start(&buf); err != nil {
			t.Fatal(err)
		}
		fn()
		trace.Stop()
		return buf.Bytes()
	}
	quiet := record(func() {
		p := New(context.Background(), 2)
		for range 4 {
			_ = p.Go(nop)
		}
		_ = p.Wait()
	})
	if bytes.Contains(quiet, []byte(regionGo)) {
		t.Fatal("Go calls admitted at once started a trace region")
	}
	blocked := record(func() {
		p := New(context.Background(), 1, WithQueueSize(0))
		b := newBlocker()
		_ = p.Go(b.task(0))
		goErr := make(chan error, 1)
		go func() { goErr <- p.Go(nop) }()
		conctest.WaitFor(t, time.Minute, "a Go call waiting", func() bool { return p.Stats().Waiting == 1 })
		b.finish(0, nil)
		if err := <-goErr; err != nil {
			t.Error(err)
		}
		_ = p.Wait()
	})
	if !bytes.Contains(blocked, []byte(regionGo)) {
		t.Fatalf("no trace region %q around a Go call that waited", regionGo)
	}
}
