package keyed

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/sluice-go/sluice/conctest"
)

func TestRWMutexReadersShareWriterExcludes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m RWMutex[string]
		bg := context.Background()
		for range 3 {
			if err := m.RLock(bg, "k"); err != nil {
				t.Fatal(err)
			}
		}
		if !m.TryRLock("k") {
			t.Fatal("TryRLock failed among readers")
		}
		if m.TryLock("k") {
			t.Fatal("TryLock succeeded while readers hold the key")
		}
		w := start(func() error { return m.Lock(bg, "k") })
		synctest.Wait()
		if w.returned() {
			t.Fatal("writer got in beside readers")
		}
		if st := m.Stats(); st.ReadInUse != 4 || st.WriteInUse != 0 || st.Waiting != 1 || st.Keys != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		for range 4 {
			m.RUnlock("k")
		}
		if err := w.wait(); err != nil {
			t.Fatal(err)
		}
		if m.TryRLock("k") {
			t.Fatal("TryRLock succeeded while a writer holds the key")
		}
		// Another key is independent.
		if !m.TryLock("other") {
			t.Fatal("TryLock of another key failed")
		}
		m.Unlock("other")
		m.Unlock("k")
		if m.Len() != 0 {
			t.Fatal("entry left behind")
		}
	})
}

// A reader arriving while a writer waits queues behind it; when the writer
// is done, the readers queued together go together, up to the next writer.
func TestRWMutexWriterPreferringFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m RWMutex[string]
		bg := context.Background()
		if err := m.RLock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		w1 := start(func() error { return m.Lock(bg, "k") })
		synctest.Wait()
		r1 := start(func() error { return m.RLock(bg, "k") })
		synctest.Wait()
		r2 := start(func() error { return m.RLock(bg, "k") })
		synctest.Wait()
		w2 := start(func() error { return m.Lock(bg, "k") })
		synctest.Wait()
		r3 := start(func() error { return m.RLock(bg, "k") })
		synctest.Wait()
		if m.TryRLock("k") {
			t.Fatal("TryRLock passed a waiting writer")
		}
		for _, c := range []*call{w1, r1, r2, w2, r3} {
			if c.returned() {
				t.Fatal("a caller got past the first reader and the queued writer")
			}
		}
		m.RUnlock("k") // the first reader leaves: w1 goes
		if err := w1.wait(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if r1.returned() || r2.returned() {
			t.Fatal("readers went beside the writer")
		}
		m.Unlock("k") // w1 done: r1 and r2 go together, w2 and r3 wait
		if r1.wait() != nil || r2.wait() != nil {
			t.Fatal("readers failed")
		}
		synctest.Wait()
		if w2.returned() || r3.returned() {
			t.Fatal("w2 or r3 passed the readers ahead / the writer ahead")
		}
		m.RUnlock("k")
		m.RUnlock("k")
		if err := w2.wait(); err != nil {
			t.Fatal(err)
		}
		m.Unlock("k")
		if err := r3.wait(); err != nil {
			t.Fatal(err)
		}
		m.RUnlock("k")
		if m.Len() != 0 {
			t.Fatal("entry left behind")
		}
	})
}

// A writer waiting behind readers gives up: the readers queued behind it
// are admitted at once.
func TestRWMutexCancelledWriterLetsReadersIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m RWMutex[string]
		bg := context.Background()
		if err := m.RLock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		w := start(func() error { return m.Lock(ctx, "k") })
		synctest.Wait()
		r := start(func() error { return m.RLock(bg, "k") })
		synctest.Wait()
		if r.returned() {
			t.Fatal("reader passed the waiting writer")
		}
		cancel()
		if err := w.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("writer got %v", err)
		}
		if err := r.wait(); err != nil {
			t.Fatalf("reader behind the cancelled writer got %v", err)
		}
		m.RUnlock("k")
		m.RUnlock("k")
		if st := m.Stats(); st != (RWMutexStats{Admitted: 2, Cancelled: 1}) {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// A writer is granted the key as it gives up: it must give it back, and
// the readers behind it go.
func TestRWMutexGiveUpDuringHandoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m RWMutex[string]
		bg := context.Background()
		if err := m.RLock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		w := start(func() error { return m.Lock(ctx, "k") })
		synctest.Wait()
		r := start(func() error { return m.RLock(bg, "k") })
		synctest.Wait()

		inHook, release := make(chan struct{}), make(chan struct{})
		testHookGiveUp = func() { close(inHook); <-release }
		defer func() { testHookGiveUp = nil }()
		cancel()
		<-inHook
		m.RUnlock("k") // grants k to the writer, which is giving up
		close(release)
		if err := w.wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("writer got %v", err)
		}
		if err := r.wait(); err != nil {
			t.Fatalf("reader got %v", err)
		}
		if st := m.Stats(); st.ReadInUse != 1 || st.WriteInUse != 0 || st.Keys != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		m.RUnlock("k")
		if m.Len() != 0 {
			t.Fatal("entry left behind")
		}
	})
}

func TestRWMutexBadInputAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m RWMutex[string]
		bg := context.Background()
		conctest.MustPanic(t, func() { m.RUnlock("k") }, "keyed:", "RWMutex.RUnlock", "not read-locked")
		conctest.MustPanic(t, func() { m.Unlock("k") }, "keyed:", "RWMutex.Unlock", "not write-locked")
		conctest.MustPanic(t, func() { _ = m.Lock(nilCtx(), "k") }, "keyed:", "nil Context")
		conctest.MustPanic(t, func() { _ = m.RLock(nilCtx(), "k") }, "keyed:", "nil Context")
		if err := m.RLock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		conctest.MustPanic(t, func() { m.Unlock("k") }, "not write-locked")
		w := start(func() error { return m.Lock(bg, "k") })
		synctest.Wait()
		m.Close()
		if err := w.wait(); !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter got %v, want ErrClosed", err)
		}
		if err := m.RLock(bg, "x"); !errors.Is(err, ErrClosed) {
			t.Fatalf("RLock after Close = %v", err)
		}
		if m.TryRLock("x") || m.TryLock("x") {
			t.Fatal("Try succeeded after Close")
		}
		m.RUnlock("k")
		if st := m.Stats(); st != (RWMutexStats{Admitted: 1, Rejected: 2, Closed: true}) {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

func TestRWMutexStress(t *testing.T) {
	const keys = 3
	workers, rounds := 8, 1500
	if testing.Short() {
		rounds = 300
	}
	var m RWMutex[int]
	var readers, writers [keys]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for range rounds {
				k := rng.IntN(keys)
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(8) == 0 {
					cancel() // some calls arrive already given up
				}
				if rng.IntN(2) == 0 {
					if m.Lock(ctx, k) == nil {
						if writers[k].Add(1) != 1 || readers[k].Load() != 0 {
							t.Errorf("key %d: writer beside another holder", k)
						}
						writers[k].Add(-1)
						m.Unlock(k)
					}
				} else if m.RLock(ctx, k) == nil {
					readers[k].Add(1)
					if writers[k].Load() != 0 {
						t.Errorf("key %d: reader beside a writer", k)
					}
					readers[k].Add(-1)
					m.RUnlock(k)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if st := m.Stats(); st.Keys != 0 || st.Waiting != 0 || st.ReadInUse != 0 || st.WriteInUse != 0 {
		t.Fatalf("after the run: %+v", st)
	}
}
