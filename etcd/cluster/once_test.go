package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func newOnce(t testing.TB, cli *clientv3.Client, prefix string, opts ...Option) *Once {
	t.Helper()
	o, err := NewOnce(tctx(t), cli, prefix, append([]Option{WithTTL(testTTL), WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o
}

// exclusive counts the runs of fn in progress and fails the test if two
// overlap.
type exclusive struct {
	t          testing.TB
	now, total atomic.Int64
}

func (x *exclusive) enter() {
	if n := x.now.Add(1); n != 1 {
		x.t.Errorf("%d runs of fn at once", n)
	}
	x.total.Add(1)
}

func (x *exclusive) leave() { x.now.Add(-1) }

// markerOf returns the value of key's marker under prefix, and whether
// it exists.
func markerOf(t testing.TB, cli *clientv3.Client, prefix, key string) (string, bool) {
	t.Helper()
	resp, err := cli.Get(tctx(t), prefix+"/done/"+keyGroup(key))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

func onceWaiting(replicas ...*Once) func() (etcd, local int64) {
	return func() (etcd, local int64) {
		for _, o := range replicas {
			st := o.Stats()
			etcd += st.Waiting
			local += st.LocalWaiting
		}
		return etcd, local
	}
}

// TestOnceRaceAcrossReplicas: three goroutines on each of two replicas
// call Do for one key at once: fn runs exactly once, the others wait (in
// the process, or in etcd's queue) and get nil from the recorded success,
// and only the marker is left in etcd.
func TestOnceRaceAcrossReplicas(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	replicas := []*Once{newOnce(t, cli, "/race"), newOnce(t, client(t, c), "/race")}
	x := &exclusive{t: t}
	release := make(chan struct{})
	fn := func(ctx context.Context) error {
		x.enter()
		defer x.leave()
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := replicas[g%2].Do(tctx(t), "peer/7", fn); err != nil {
				t.Errorf("Do: %v", err)
			}
		}()
	}
	// One runs; the other replica's first caller waits in etcd, and the
	// remaining four wait behind a caller of their own process.
	waiting := onceWaiting(replicas...)
	conctestWait(t, "callers queued", func() bool {
		e, l := waiting()
		return x.total.Load() == 1 && e == 1 && l == 4
	})
	// Each replica's mirror shows one key held and one entry waiting.
	conctestWait(t, "cluster figures", func() bool {
		for _, o := range replicas {
			if st := o.Stats(); st.ClusterKeys != 1 || st.ClusterWaiting != 1 {
				return false
			}
		}
		return true
	})
	close(release)
	wg.Wait()
	if n := x.total.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
	var runs, hits, shared, admitted int64
	for _, o := range replicas {
		st := o.Stats()
		runs += st.Runs
		hits += st.Hits
		shared += st.Shared
		admitted += st.Admitted
	}
	if runs != 1 || shared != 5 || hits != 0 || admitted != 6 {
		t.Errorf("runs %d, shared %d, hits %d, admitted %d; want 1, 5, 0, 6", runs, shared, hits, admitted)
	}
	if n := countKeys(t, cli, "/race/lock/"); n != 0 {
		t.Errorf("%d lock keys left", n)
	}
	if _, ok := markerOf(t, cli, "/race", "peer/7"); !ok {
		t.Error("no success marker")
	}
}

// TestOnceRememberedAcrossReplicas: a success on one replica is a hit on
// every other, even one created later, and a hit writes nothing to etcd.
func TestOnceRememberedAcrossReplicas(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	a := newOnce(t, cli, "/mem")
	ran := 0
	if err := a.Do(tctx(t), "k", func(context.Context) error { ran++; return nil }); err != nil || ran != 1 {
		t.Fatalf("first Do: %v, ran %d", err, ran)
	}
	tok, ok := markerOf(t, cli, "/mem", "k")
	if !ok {
		t.Fatal("no marker after a success")
	}
	b := newOnce(t, client(t, c), "/mem")
	before, err := cli.Get(tctx(t), "/none")
	if err != nil {
		t.Fatal(err)
	}
	never := func(context.Context) error { t.Error("fn ran for a key that succeeded"); return nil }
	if err := b.Do(tctx(t), "k", never); err != nil {
		t.Errorf("other replica's Do: %v", err)
	}
	if err := a.Do(tctx(t), "k", never); err != nil {
		t.Errorf("same replica's Do: %v", err)
	}
	after, err := cli.Get(tctx(t), "/none")
	if err != nil {
		t.Fatal(err)
	}
	if before.Header.Revision != after.Header.Revision {
		t.Errorf("hits moved etcd's revision from %d to %d: they wrote", before.Header.Revision, after.Header.Revision)
	}
	if st := b.Stats(); st.Hits != 1 || st.Runs != 0 || st.Admitted != 1 {
		t.Errorf("b.Stats = %+v", st)
	}
	if got, _ := markerOf(t, cli, "/mem", "k"); got != tok {
		t.Errorf("marker %q changed to %q", tok, got)
	}
	// Keys are independent.
	if err := b.Do(tctx(t), "other", func(context.Context) error { ran++; return nil }); err != nil || ran != 2 {
		t.Errorf("Do of another key: %v, ran %d", err, ran)
	}
}

// TestOnceFailureNotRemembered: an error, a panic or a Goexit records
// nothing: the next Do, here or on another replica, runs fn again. A
// caller that waited behind a failed run runs fn itself.
func TestOnceFailureNotRemembered(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	a, b := newOnce(t, cli, "/fail"), newOnce(t, client(t, c), "/fail")
	boom := errors.New("boom")
	if err := a.Do(tctx(t), "k", func(context.Context) error { return boom }); err != boom {
		t.Errorf("failing Do: %v, want the error value itself", err)
	}
	if _, ok := markerOf(t, cli, "/fail", "k"); ok {
		t.Error("a failure was recorded")
	}
	func() {
		defer func() {
			if r := recover(); r != "kaput" {
				t.Errorf("recovered %v, want the panic value unchanged", r)
			}
		}()
		b.Do(tctx(t), "k", func(context.Context) error { panic("kaput") })
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Do(tctx(t), "k", func(context.Context) error { runtime.Goexit(); return nil })
	}()
	<-done
	if _, ok := markerOf(t, cli, "/fail", "k"); ok {
		t.Error("a panic or Goexit was recorded")
	}
	if n := countKeys(t, cli, "/fail/lock/"); n != 0 {
		t.Errorf("%d lock keys left after failures", n)
	}

	// A waiter behind a failing run runs fn itself once it is its turn.
	fn, started, release := blocking(boom)
	first := make(chan error, 1)
	go func() { first <- a.Do(tctx(t), "k", fn) }()
	<-started
	var ran atomic.Int64
	second := make(chan error, 1)
	go func() { second <- b.Do(tctx(t), "k", func(context.Context) error { ran.Add(1); return nil }) }()
	conctestWait(t, "b queued", func() bool { return b.Stats().Waiting == 1 })
	close(release)
	if err := <-first; err != boom {
		t.Errorf("failing run: %v", err)
	}
	if err := <-second; err != nil || ran.Load() != 1 {
		t.Errorf("waiter after a failure: %v, ran %d; want nil, 1", err, ran.Load())
	}
	if _, ok := markerOf(t, cli, "/fail", "k"); !ok {
		t.Error("the waiter's success was not recorded")
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Failed != 2 || sb.Panicked != 1 || sa.Panicked != 1 || sa.Runs != 3 || sb.Runs != 2 {
		t.Errorf("a.Stats = %+v\nb.Stats = %+v", sa, sb)
	}
}

// TestOnceForgetDuringRun: Forget during a run neither waits for it nor
// lets a second run start beside it; the run's success is not recorded;
// the caller that waited runs fn again once the stale run ends; after a
// Forget with nothing running, nothing of the key is left in etcd.
func TestOnceForgetDuringRun(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	a, b, f := newOnce(t, cli, "/fg"), newOnce(t, client(t, c), "/fg"), newOnce(t, client(t, c), "/fg")
	x := &exclusive{t: t}
	// A success, so that there is a marker to forget.
	if err := a.Do(tctx(t), "k", func(context.Context) error { x.enter(); x.leave(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.Forget(tctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, cli, "/fg/"); n != 0 {
		t.Errorf("%d keys left after Forget with nothing running", n)
	}

	started, release := make(chan struct{}), make(chan struct{})
	running := make(chan error, 1)
	go func() {
		running <- a.Do(tctx(t), "k", func(context.Context) error {
			x.enter()
			defer x.leave()
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	waiter := make(chan error, 1)
	go func() {
		waiter <- b.Do(tctx(t), "k", func(context.Context) error { x.enter(); x.leave(); return nil })
	}()
	conctestWait(t, "b queued", func() bool { return b.Stats().Waiting == 1 })
	if err := f.Forget(tctx(t), "k"); err != nil { // returns while the run goes on
		t.Fatal(err)
	}
	select {
	case err := <-waiter:
		t.Fatalf("the waiter returned (%v) while the stale run was in progress", err)
	default:
	}
	close(release)
	if err := <-running; err != nil {
		t.Errorf("the stale run's caller: %v, want fn's nil", err)
	}
	if err := <-waiter; err != nil {
		t.Errorf("waiter: %v", err)
	}
	if n := x.total.Load(); n != 3 {
		t.Errorf("fn ran %d times, want 3 (the first, the stale one, the waiter's)", n)
	}
	if st := a.Stats(); st.Forgotten != 1 {
		t.Errorf("a.Stats().Forgotten = %d, want 1", st.Forgotten)
	}
	if _, ok := markerOf(t, cli, "/fg", "k"); !ok {
		t.Error("the waiter's success was not recorded")
	}
	if err := b.Forget(tctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Forget(tctx(t), "never-run"); err != nil {
		t.Errorf("Forget of an unknown key: %v", err)
	}
	if n := countKeys(t, cli, "/fg/"); n != 0 {
		t.Errorf("%d keys left after Forget", n)
	}
	if st := f.Stats(); st.Forgets != 2 {
		t.Errorf("f.Stats().Forgets = %d", st.Forgets)
	}
}

// TestOnceLeaseLostDuringRun: the runner's keepalives stop. Its fn's ctx
// ends (ErrLeaseLost) before another replica is admitted; that replica
// runs fn; the stale run's late nil is refused by the fence (no marker
// from it, Do returns ErrLeaseLost).
func TestOnceLeaseLostDuringRun(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	a := newOnce(t, cli, "/ll", WithTTL(faultTTL))
	b := newOnce(t, client(t, c), "/ll", WithTTL(faultTTL))
	started, release := make(chan struct{}), make(chan struct{})
	var runCtx context.Context
	stale := make(chan error, 1)
	go func() {
		stale <- a.Do(tctx(t), "k", func(ctx context.Context) error {
			runCtx = ctx
			close(started)
			<-release // ignores ctx, as a stuck run would
			return nil
		})
	}()
	<-started
	bStarted, bRelease := make(chan bool, 1), make(chan struct{})
	taken := make(chan error, 1)
	go func() {
		taken <- b.Do(tctx(t), "k", func(context.Context) error {
			bStarted <- runCtx.Err() != nil
			<-bRelease
			return nil
		})
	}()
	conctestWait(t, "b queued", func() bool { return b.Stats().Waiting == 1 })
	a.q.ls.paused.Store(true)
	if !<-bStarted {
		t.Error("b's run started while the stale run's ctx was live")
	}
	if !errors.Is(context.Cause(runCtx), ErrLeaseLost) {
		t.Errorf("stale run's ctx cause: %v, want ErrLeaseLost", context.Cause(runCtx))
	}
	close(release)
	if err := <-stale; !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the stale run's caller: %v, want ErrLeaseLost", err)
	}
	if _, ok := markerOf(t, cli, "/ll", "k"); ok {
		t.Error("the stale run recorded a success")
	}
	if st := a.Stats(); st.Fenced != 1 || st.LeasesLost != 1 {
		t.Errorf("a.Stats = %+v, want Fenced 1, LeasesLost 1", st)
	}
	close(bRelease)
	if err := <-taken; err != nil {
		t.Errorf("b: %v", err)
	}
	if v, ok := markerOf(t, cli, "/ll", "k"); !ok || v == "" {
		t.Error("b's success was not recorded")
	}
	a.q.ls.paused.Store(false)
	if err := a.Do(tctx(t), "k", func(context.Context) error { t.Error("ran after a recorded success"); return nil }); err != nil {
		t.Errorf("a after its lease came back: %v", err)
	}
}

// TestOnceCloseAndCancel: a waiter whose ctx ends leaves; Close fails the
// waiters (local and in etcd) and later calls with ErrClosed; the run in
// progress goes on and records its success; Forget works after Close.
func TestOnceCloseAndCancel(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	a, b := newOnce(t, cli, "/oc"), newOnce(t, client(t, c), "/oc")
	fn, started, release := blocking(nil)
	running := make(chan error, 1)
	go func() { running <- a.Do(tctx(t), "k", fn) }()
	<-started
	unused := func(context.Context) error { t.Error("a waiter ran fn"); return nil }

	ctx, cancel := context.WithCancel(tctx(t))
	cancelled := make(chan error, 1)
	go func() { cancelled <- b.Do(ctx, "k", unused) }()
	conctestWait(t, "b queued", func() bool { return b.Stats().Waiting == 1 })
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	if err := b.Do(ctx, "k", unused); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a done ctx: %v", err)
	}
	if st := b.Stats(); st.Cancelled != 1 || st.Waiting != 0 || st.Admitted != 0 {
		t.Errorf("b.Stats after the cancel = %+v", st)
	}

	local, remote := make(chan error, 1), make(chan error, 1)
	go func() { local <- a.Do(tctx(t), "k", unused) }()
	go func() { remote <- b.Do(tctx(t), "k", unused) }()
	conctestWait(t, "waiters queued", func() bool { return a.Stats().LocalWaiting == 1 && b.Stats().Waiting == 1 })
	a.Close()
	b.Close()
	if err := <-local; !errors.Is(err, ErrClosed) {
		t.Errorf("local waiter at Close: %v", err)
	}
	if err := <-remote; !errors.Is(err, ErrClosed) {
		t.Errorf("etcd waiter at Close: %v", err)
	}
	if err := a.Do(tctx(t), "other", unused); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	if st := a.Stats(); !st.Closed || st.Running != 1 {
		t.Errorf("a.Stats at Close = %+v", st)
	}
	close(release)
	if err := <-running; err != nil {
		t.Errorf("the run in progress at Close: %v", err)
	}
	if _, ok := markerOf(t, cli, "/oc", "k"); !ok {
		t.Error("the run in progress at Close did not record its success")
	}
	if err := a.Forget(tctx(t), "k"); err != nil {
		t.Errorf("Forget after Close: %v", err)
	}
	if n := countKeys(t, cli, "/oc/"); n != 0 {
		t.Errorf("%d keys left", n)
	}
}

func TestOnceBadInput(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	ctx := tctx(t)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"nil client", second(NewOnce(ctx, nil, "/o"))},
		{"empty prefix", second(NewOnce(ctx, cli, "//"))},
		{"TTL under a second", second(NewOnce(ctx, cli, "/o", WithTTL(0)))},
		{"bad margin", second(NewOnce(ctx, cli, "/o", WithMargin(-1)))},
	} {
		if !errors.Is(tc.err, ErrInvalid) || !strings.HasPrefix(tc.err.Error(), "cluster: ") {
			t.Errorf("%s: err = %v, want ErrInvalid with the package's name", tc.name, tc.err)
		}
	}
	o := newOnce(t, cli, "/o")
	ok := func(context.Context) error { return nil }
	conctest.MustPanic(t, func() { NewOnce(nil, cli, "/o") }, "cluster: NewOnce with nil Context")
	conctest.MustPanic(t, func() { o.Do(nil, "k", ok) }, "cluster: Once.Do with nil Context")
	conctest.MustPanic(t, func() { o.Do(ctx, "k", nil) }, "cluster: Once.Do with nil func")
	conctest.MustPanic(t, func() { o.Forget(nil, "k") }, "cluster: Once.Forget with nil Context")
	// Any string is a key, the empty one and those with slashes included.
	for _, k := range []string{"", "a/b", "a", "a%2Fb"} {
		if err := o.Do(ctx, k, ok); err != nil {
			t.Errorf("Do(%q): %v", k, err)
		}
	}
	if st := o.Stats(); st.Runs != 4 {
		t.Errorf("%d runs for 4 distinct keys", st.Runs)
	}
	// A closed client: calls fail with an error, never hang.
	cli2, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	o2 := newOnce(t, cli2, "/o")
	cli2.Close()
	if err := o2.Do(ctx, "new", ok); err == nil {
		t.Error("Do with a closed client succeeded")
	}
	if err := o2.Forget(ctx, "a"); err == nil {
		t.Error("Forget with a closed client succeeded")
	}
}

// onceOp is one call of the stress test, with its real-time interval.
type onceOp struct {
	forget   bool
	key      string
	s, e     time.Time // the call
	ran      bool      // Do ran fn
	fs, fe   time.Time // fn, if it ran
	err      error
	failWith error // fn's planned result
}

// TestOnceStress: replicas x goroutines call Do (fn fails now and then)
// and Forget at random on two keys, and the history is checked in real
// time:
//
//   - runs of fn for one key never overlap;
//   - a Do that returned nil without running fn, after a Forget had
//     returned, is backed by a run that began fn after that Forget began
//     and returned nil before that Do returned (a success recorded since);
//   - a Do never runs fn while a success is recorded and not forgotten: no
//     run starts after another call's run returned nil unless a Forget
//     overlaps the span between them;
//   - nothing is lost: every call returns nil or fn's planned error, and at
//     the end, after a Forget of each key, nothing is left in etcd.
func TestOnceStress(t *testing.T) {
	c := startEtcd(t, 1)
	const replicas, goroutines = 3, 4
	ops := stressOps(t)
	var clis []*clientv3.Client
	for range replicas {
		clis = append(clis, client(t, c))
	}
	run := 0
	conctest.Runs(t, 2, func(t *testing.T, seed uint64) {
		run++
		prefix := fmt.Sprintf("/ostress%d", run)
		var onces []*Once
		for _, cli := range clis {
			onces = append(onces, newOnce(t, cli, prefix))
		}
		keys := []string{"a", "b/c"}
		xs := map[string]*exclusive{}
		for _, k := range keys {
			xs[k] = &exclusive{t: t}
		}
		boom := errors.New("boom")
		var (
			mu      sync.Mutex
			history []*onceOp
			wg      sync.WaitGroup
		)
		for g := range replicas * goroutines {
			r := rand.New(rand.NewPCG(seed, uint64(g)))
			o := onces[g%replicas]
			plan := make([]*onceOp, ops)
			for i := range plan {
				op := &onceOp{key: keys[r.IntN(len(keys))], forget: r.IntN(10) < 3}
				if r.IntN(5) == 0 {
					op.failWith = boom
				}
				plan[i] = op
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, op := range plan {
					op.s = time.Now()
					if op.forget {
						op.err = o.Forget(tctx(t), op.key)
					} else {
						op.err = o.Do(tctx(t), op.key, func(context.Context) error {
							op.ran = true
							x := xs[op.key]
							x.enter()
							op.fs = time.Now()
							runtime.Gosched()
							op.fe = time.Now()
							x.leave()
							return op.failWith
						})
					}
					op.e = time.Now()
					if op.err != nil && !(op.ran && op.err == op.failWith) {
						t.Errorf("%+v: unexpected error %v", op, op.err)
					}
					mu.Lock()
					history = append(history, op)
					mu.Unlock()
				}
			}()
		}
		conctest.NoDeadlock(t, liveness, "stress goroutines", wg.Wait)
		checkOnceHistory(t, history)

		for _, k := range keys {
			if err := onces[0].Forget(tctx(t), k); err != nil {
				t.Fatal(err)
			}
		}
		if n := countKeys(t, clis[0], prefix+"/"); n != 0 {
			t.Errorf("%d keys left after Forget of every key", n)
		}
		var runs, hits, shared, forgotten int64
		for i, o := range onces {
			st := o.Stats()
			if st.Running != 0 || st.Waiting != 0 || st.LocalWaiting != 0 || st.LeasesLost != 0 || st.Fenced != 0 {
				t.Errorf("replica %d figures at the end: %+v", i, st)
			}
			runs, hits, shared, forgotten = runs+st.Runs, hits+st.Hits, shared+st.Shared, forgotten+st.Forgotten
		}
		t.Logf("%d calls: %d runs (%d forgotten during the run), %d hits, %d after a wait", len(history), runs, forgotten, hits, shared)
	})
}

func checkOnceHistory(t *testing.T, history []*onceOp) {
	t.Helper()
	byKey := map[string][]*onceOp{}
	for _, op := range history {
		byKey[op.key] = append(byKey[op.key], op)
	}
	for key, h := range byKey {
		var forgets, succeeded []*onceOp
		for _, op := range h {
			switch {
			case op.forget:
				forgets = append(forgets, op)
			case op.ran && op.err == nil:
				succeeded = append(succeeded, op)
			}
		}
		// overlapped: some Forget runs (in part) within (from, to).
		overlapped := func(from, to time.Time) bool {
			for _, f := range forgets {
				if f.e.After(from) && f.s.Before(to) {
					return true
				}
			}
			return false
		}
		for _, op := range h {
			switch {
			case op.forget || op.err != nil:
			case !op.ran:
				// A hit: after the last Forget that returned before it
				// began, some run began fn and returned nil before it.
				var last *onceOp
				for _, f := range forgets {
					if f.e.Before(op.s) && (last == nil || f.s.After(last.s)) {
						last = f
					}
				}
				backed := false
				for _, r := range succeeded {
					if r.fe.Before(op.e) && (last == nil || r.fs.After(last.s)) {
						backed = true
					}
				}
				if !backed {
					t.Errorf("key %q: a Do returned nil without a run, but no success was recorded since the Forget before it", key)
				}
			default:
				// A run: no earlier call's run returned nil before this
				// call began without a Forget overlapping the span.
				for _, r := range succeeded {
					if r != op && r.e.Before(op.s) && !overlapped(r.s, op.e) {
						t.Errorf("key %q: fn ran again although a success was recorded and not forgotten", key)
					}
				}
			}
		}
	}
}
