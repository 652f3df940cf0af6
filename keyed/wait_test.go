package keyed

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// waitLog records the waits an OnWait hook is called with.
type waitLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (l *waitLog) hook(d time.Duration) {
	l.mu.Lock()
	l.waits = append(l.waits, d)
	l.mu.Unlock()
}

// got returns the waits so far, sorted (callers on different goroutines
// report in any order).
func (l *waitLog) got() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.waits))
}

func (l *waitLog) expect(t *testing.T, what string, want ...time.Duration) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if got := l.got(); !slices.Equal(got, want) {
		t.Fatalf("%s: waits %v, want %v", what, got, want)
	}
}

const sec = time.Second

// Mutex: OldestWait is the oldest current waiter over all keys (the keys
// spread over several shards), measured from the moment it queued; each
// caller that queued reports its exact wait to every hook once it holds
// the key; uncontended calls, TryLock and a cancelled wait report
// nothing; stop removes one hook and is idempotent.
func TestMutexOldestWaitAndOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mutex[int]
		var log waitLog
		stop := m.OnWait(log.hook)
		bg := context.Background()
		const n = 10
		for k := range n {
			if err := m.Lock(bg, k); err != nil {
				t.Fatal(err)
			}
		}
		if m.TryLock(0) {
			t.Fatal("TryLock of a held key")
		}
		if st := m.Stats(); st.OldestWait != 0 || st.Admitted != n || st.Rejected != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		log.expect(t, "uncontended")

		// Waiters arrive a second apart on keys n-1 down to 0: the oldest
		// waits on key n-1.
		ctx0, cancel0 := context.WithCancel(bg)
		defer cancel0()
		calls := make([]*call, n)
		for i := range n {
			k := n - 1 - i
			ctx := bg
			if k == 0 {
				ctx = ctx0
			}
			calls[k] = start(func() error { return m.Lock(ctx, k) })
			synctest.Wait()
			time.Sleep(sec)
		}
		if st := m.Stats(); st.Waiting != n || st.OldestWait != n*sec {
			t.Fatalf("Stats = %+v, want %d waiting, the oldest for %v", st, n, n*sec)
		}
		var want []time.Duration
		for i := range n - 1 {
			k := n - 1 - i
			m.Unlock(k)
			if err := calls[k].wait(); err != nil {
				t.Fatal(err)
			}
			want = append(want, time.Duration(n-i)*sec)
			log.expect(t, "after unlock", want...)
			if st := m.Stats(); st.OldestWait != time.Duration(n-i-1)*sec {
				t.Fatalf("after handing key %d: OldestWait %v, want %v", k, st.OldestWait, time.Duration(n-i-1)*sec)
			}
		}
		time.Sleep(4 * sec)
		if st := m.Stats(); st.Waiting != 1 || st.OldestWait != 5*sec {
			t.Fatalf("Stats = %+v, want 1 waiting for 5s", st)
		}
		cancel0()
		if err := calls[0].wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter got %v", err)
		}
		log.expect(t, "after a cancelled wait", want...)
		st := m.Stats()
		if st.Waiting != 0 || st.OldestWait != 0 || st.Admitted != 2*n-1 || st.Contended != n-1 || st.Cancelled != 1 || st.Rejected != 1 {
			t.Fatalf("Stats = %+v", st)
		}

		// Two hooks: both hear the next wait; after stop, only the second.
		var log2 waitLog
		stop2 := m.OnWait(log2.hook)
		c := start(func() error { return m.Lock(bg, 0) })
		synctest.Wait()
		time.Sleep(sec / 2)
		m.Unlock(0)
		if err := c.wait(); err != nil {
			t.Fatal(err)
		}
		log.expect(t, "two hooks", append(want, sec/2)...)
		log2.expect(t, "second hook", sec/2)
		stop()
		stop()
		c = start(func() error { return m.Lock(bg, 0) })
		synctest.Wait()
		time.Sleep(sec)
		m.Unlock(0)
		if err := c.wait(); err != nil {
			t.Fatal(err)
		}
		log.expect(t, "stopped hook", append(want, sec/2)...)
		log2.expect(t, "second hook", sec/2, sec)
		stop2()
		for k := range n {
			m.Unlock(k)
		}
		if m.Len() != 0 {
			t.Fatal("entries left")
		}
	})
}

// RWMutex: readers and writers share one queue per key; OldestWait is its
// head, the hooks hear each admitted waiter, TryLock failures count as
// Rejected, and a writer that gives up reports nothing.
func TestRWMutexOldestWaitAndOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m RWMutex[string]
		var log waitLog
		defer m.OnWait(log.hook)()
		bg := context.Background()
		if err := m.RLock(bg, "k"); err != nil {
			t.Fatal(err)
		}
		wr := start(func() error { return m.Lock(bg, "k") })
		synctest.Wait()
		time.Sleep(2 * sec)
		rd := start(func() error { return m.RLock(bg, "k") }) // behind the writer
		synctest.Wait()
		time.Sleep(sec)
		if m.TryLock("k") || m.TryRLock("k") {
			t.Fatal("Try succeeded past a waiting writer")
		}
		st := m.Stats()
		if st.Waiting != 2 || st.OldestWait != 3*sec || st.Admitted != 1 || st.Rejected != 2 {
			t.Fatalf("Stats = %+v, want 2 waiting, the oldest for 3s", st)
		}
		m.RUnlock("k")
		if err := wr.wait(); err != nil {
			t.Fatal(err)
		}
		log.expect(t, "writer admitted", 3*sec)
		if st := m.Stats(); st.OldestWait != sec {
			t.Fatalf("OldestWait = %v, want the reader's 1s", st.OldestWait)
		}
		time.Sleep(sec)
		m.Unlock("k")
		if err := rd.wait(); err != nil {
			t.Fatal(err)
		}
		log.expect(t, "reader admitted", 3*sec, 2*sec)

		// A writer that gives up reports nothing.
		ctx, cancel := context.WithCancel(bg)
		w2 := start(func() error { return m.Lock(ctx, "k") })
		synctest.Wait()
		time.Sleep(sec)
		if st := m.Stats(); st.OldestWait != sec || st.WriteWaiting != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		cancel()
		if err := w2.wait(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		log.expect(t, "cancelled writer", 3*sec, 2*sec)
		m.RUnlock("k")
		st = m.Stats()
		if st != (RWMutexStats{Admitted: 3, Cancelled: 1, Rejected: 2}) {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// Once: waiters report their wait when served, with the result of the
// run they joined or handed the next run (before their fn runs); a
// caller that arrived after Forget waits for the stale run, then runs.
func TestOnceOldestWaitAndOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o Once[string]
		var log waitLog
		defer o.OnWait(log.hook)()
		bg := context.Background()
		release := make(chan error)
		first := func(context.Context) error { return <-release }
		never := func(context.Context) error { t.Error("a joiner ran fn"); return nil }
		runner := start(func() error { return o.Do(bg, "k", first) })
		synctest.Wait()
		a := start(func() error { return o.Do(bg, "k", never) })
		synctest.Wait()
		time.Sleep(sec)
		b := start(func() error { return o.Do(bg, "k", never) })
		synctest.Wait()
		time.Sleep(2 * sec)
		o.Forget("k")
		var seen []time.Duration // the waits reported when c's fn starts
		c := start(func() error {
			return o.Do(bg, "k", func(context.Context) error { seen = log.got(); return nil })
		})
		synctest.Wait()
		time.Sleep(sec)
		if st := o.Stats(); st.Waiting != 3 || st.OldestWait != 4*sec || st.Admitted != 1 {
			t.Fatalf("Stats = %+v, want 3 waiting, the oldest for 4s", st)
		}
		log.expect(t, "before the run ends")
		release <- nil
		for _, w := range []*call{runner, a, b, c} {
			if err := w.wait(); err != nil {
				t.Fatal(err)
			}
		}
		log.expect(t, "after the run", 4*sec, 3*sec, sec)
		if !slices.Contains(seen, sec) {
			t.Fatalf("c's fn started before its wait was reported (saw %v)", seen)
		}
		st := o.Stats()
		if st.Waiting != 0 || st.OldestWait != 0 || st.Admitted != 4 || st.Shared != 2 || st.Runs != 2 || st.Done != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		if err := o.Do(bg, "k", never); err != nil { // a hit: no wait
			t.Fatal(err)
		}
		log.expect(t, "after a hit", 4*sec, 3*sec, sec)
	})
}

// Cache: a Get waiting for another caller's fetch reports its wait when
// served; one whose fetcher gave up reports, when it starts its own
// fetch, the whole time since it first waited.
func TestCacheOldestWaitAndOnWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan int)
		c := NewCache(func(ctx context.Context, k string) (int, error) {
			select {
			case v := <-release:
				return v, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}, func(int) bool { return true })
		var log waitLog
		defer c.OnWait(log.hook)()
		bg := context.Background()
		ctxF, cancelF := context.WithCancel(bg)
		get := func(ctx context.Context) *call {
			return start(func() error { _, err := c.Get(ctx, "k"); return err })
		}
		f := get(ctxF) // fetches
		synctest.Wait()
		w := get(bg) // waits for f's fetch
		synctest.Wait()
		time.Sleep(3 * sec)
		if st := c.Stats(); st.Waiting != 1 || st.OldestWait != 3*sec || st.Admitted != 1 {
			t.Fatalf("Stats = %+v, want 1 waiting for 3s", st)
		}
		cancelF() // f gives up: w fetches itself
		if err := f.wait(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		synctest.Wait()
		log.expect(t, "w starts its own fetch", 3*sec)
		if st := c.Stats(); st.Waiting != 0 || st.OldestWait != 0 || st.Fetching != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		x := get(bg) // waits for w's fetch
		synctest.Wait()
		time.Sleep(sec)
		if st := c.Stats(); st.OldestWait != sec {
			t.Fatalf("OldestWait = %v, want 1s", st.OldestWait)
		}
		release <- 7
		for _, g := range []*call{w, x} {
			if err := g.wait(); err != nil {
				t.Fatal(err)
			}
		}
		log.expect(t, "x served", 3*sec, sec)
		if _, err := c.Get(bg, "k"); err != nil { // a hit
			t.Fatal(err)
		}
		log.expect(t, "after a hit", 3*sec, sec)
		st := c.Stats()
		if st.Admitted != 4 || st.Hits != 1 || st.Fetches != 2 || st.Shared != 2 || st.OldestWait != 0 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// The waits that block are runtime/trace regions; calls that do not
// block open none.
func TestTraceRegions(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("tracing is on already")
	}
	names := []string{regionMutexLock, regionRWLock, regionRWRLock, regionOnceDo, regionCacheGet}
	traced := func(fn func()) []byte {
		var buf bytes.Buffer
		if err := trace.Start(&buf); err != nil {
			t.Fatal(err)
		}
		synctest.Test(t, func(t *testing.T) { fn() })
		trace.Stop()
		return buf.Bytes()
	}
	bg := context.Background()
	ok := func(context.Context) error { return nil }
	c := NewCache(func(context.Context, string) (int, error) { return 1, nil }, func(int) bool { return true })
	var m Mutex[string]
	var rw RWMutex[string]
	var o Once[string]
	uncontended := traced(func() {
		_ = m.Lock(bg, "k")
		m.Unlock("k")
		_ = rw.Lock(bg, "k")
		rw.Unlock("k")
		_ = rw.RLock(bg, "k")
		rw.RUnlock("k")
		_ = o.Do(bg, "k", ok)
		_, _ = c.Get(bg, "k")
	})
	for _, name := range names {
		if bytes.Contains(uncontended, []byte(name)) {
			t.Errorf("uncontended calls opened the region %q", name)
		}
	}
	contended := traced(func() {
		_ = m.Lock(bg, "k")
		mc := start(func() error { return m.Lock(bg, "k") })
		_ = rw.RLock(bg, "k")
		wc := start(func() error { return rw.Lock(bg, "k") })
		synctest.Wait()
		rc := start(func() error { return rw.RLock(bg, "k") })
		release := make(chan struct{})
		oc := start(func() error { return o.Do(bg, "j", func(context.Context) error { <-release; return nil }) })
		synctest.Wait()
		oj := start(func() error { return o.Do(bg, "j", ok) })
		fc := NewCache(func(context.Context, string) (int, error) { <-release; return 1, nil }, func(int) bool { return true })
		cf := start(func() error { _, err := fc.Get(bg, "k"); return err })
		synctest.Wait()
		cj := start(func() error { _, err := fc.Get(bg, "k"); return err })
		synctest.Wait()
		m.Unlock("k")
		rw.RUnlock("k")
		_ = wc.wait()
		rw.Unlock("k")
		close(release)
		for _, x := range []*call{mc, rc, oc, oj, cf, cj} {
			_ = x.wait()
		}
		m.Unlock("k")
		rw.RUnlock("k")
	})
	for _, name := range names {
		if !bytes.Contains(contended, []byte(name)) {
			t.Errorf("no region %q around a blocking wait", name)
		}
	}
}

// A Once fn or a Cache fetch that panics crashes the process, unless the
// caller recovers, with a trace that still shows the panicking function:
// the run is settled and the panic resumed from the deferred function that
// recovered it, while its frames are still on the stack.
func TestPanicCrashTraceKeepsFrames(t *testing.T) {
	switch os.Getenv("KEYED_CRASH") {
	case "once":
		crashIn(func() {
			var o Once[string]
			_ = o.Do(context.Background(), "k", func(context.Context) error { oncePanics(); return nil })
		})
		return
	case "cache":
		crashIn(func() {
			c := NewCache(func(context.Context, string) (int, error) { fetchPanics(); return 0, nil }, func(int) bool { return true })
			_, _ = c.Get(context.Background(), "k")
		})
		return
	}
	for kind, frame := range map[string]string{"once": "keyed.oncePanics", "cache": "keyed.fetchPanics"} {
		t.Run(kind, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPanicCrashTraceKeepsFrames$")
			cmd.Env = append(os.Environ(), "KEYED_CRASH="+kind)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the process survived the panic:\n%s", out)
			}
			if !strings.Contains(string(out), "panic: boom") || !strings.Contains(string(out), frame) {
				t.Fatalf("crash output lacks the panic or the frame %s:\n%s", frame, out)
			}
		})
	}
}

// crashIn runs fn on a goroutine of its own, outside the test's recover,
// and returns only if fn returns: a panic in fn ends the process.
func crashIn(fn func()) {
	done := make(chan struct{})
	go func() {
		fn()
		close(done)
	}()
	<-done
}

//go:noinline
func oncePanics() { panic("boom") }

//go:noinline
func fetchPanics() { panic("boom") }
