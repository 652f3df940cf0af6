package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func newGuard(t testing.TB, cli *clientv3.Client, prefix string, opts ...Option) *Guard {
	t.Helper()
	g, err := NewGuard(tctx(t), cli, prefix, append([]Option{WithTTL(testTTL), WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// blocking returns a fn that signals it started and returns err once
// release is closed.
func blocking(err error) (fn func(context.Context) error, started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	return func(context.Context) error {
		close(started)
		<-release
		return err
	}, started, release
}

func TestGuardRejectAcrossReplicas(t *testing.T) {
	c := startEtcd(t, 1)
	a, b := newGuard(t, client(t, c), "/rej"), newGuard(t, client(t, c), "/rej")
	fn, started, release := blocking(nil)
	done := make(chan error, 1)
	go func() { done <- a.Do(tctx(t), Reject, fn) }()
	<-started
	ran := func(context.Context) error { t.Error("a second run started"); return nil }
	if err := b.Do(tctx(t), Reject, ran); !errors.Is(err, ErrRunning) {
		t.Errorf("other replica's Reject: %v, want ErrRunning", err)
	}
	if err := a.Do(tctx(t), Reject, ran); !errors.Is(err, ErrRunning) {
		t.Errorf("same replica's Reject: %v, want ErrRunning", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := b.Do(tctx(t), Reject, func(context.Context) error { return nil }); err != nil {
		t.Errorf("Reject with no run in progress: %v", err)
	}
	if st := b.Stats(); st.Rejected != 1 || st.Runs != 1 {
		t.Errorf("b.Stats = %+v", st)
	}
}

func TestGuardJoin(t *testing.T) {
	c := startEtcd(t, 1)
	a, b := newGuard(t, client(t, c), "/join"), newGuard(t, client(t, c), "/join")
	boom := errors.New("boom")
	fn, started, release := blocking(boom)
	done := make(chan error, 3)
	go func() { done <- a.Do(tctx(t), Join, fn) }()
	<-started
	unused := func(context.Context) error { t.Error("a joiner ran fn"); return nil }
	remote := make(chan error, 1)
	local := make(chan error, 1)
	go func() { remote <- b.Do(tctx(t), Join, unused) }()
	go func() { local <- a.Do(tctx(t), Join, unused) }()
	conctestWait(t, "joiners waiting", func() bool { return a.Stats().Waiting == 1 && b.Stats().Waiting == 1 })
	close(release)
	if err := <-done; err != boom {
		t.Errorf("runner: %v", err)
	}
	var re *RunError
	if err := <-remote; !errors.As(err, &re) || re.Msg != "boom" {
		t.Errorf("remote joiner: %v, want RunError boom", err)
	}
	if err := <-local; err != boom {
		t.Errorf("local joiner: %v, want the error value itself", err)
	}
}

// TestGuardAgainCoalesces: Again calls on three replicas during a run all
// get one trailing run that started after they began.
func TestGuardAgainCoalesces(t *testing.T) {
	c := startEtcd(t, 1)
	gs := []*Guard{newGuard(t, client(t, c), "/again"), newGuard(t, client(t, c), "/again"), newGuard(t, client(t, c), "/again")}
	fn, started, release := blocking(nil)
	first := make(chan error, 1)
	go func() { first <- gs[0].Do(tctx(t), Again, fn) }()
	<-started
	var trailing atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := gs[i%3].Do(tctx(t), Again, func(context.Context) error { trailing.Add(1); return nil })
			if err != nil {
				t.Errorf("Again: %v", err)
			}
		}()
	}
	conctestWait(t, "Again calls waiting", func() bool {
		var n int64
		for _, g := range gs {
			n += g.Stats().Waiting
		}
		return n == 6
	})
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := trailing.Load(); n != 1 {
		t.Errorf("%d trailing runs, want 1", n)
	}
}

// TestGuardRunLost: the runner's keepalives stop; its fn's ctx ends first
// (ErrLeaseLost), its joiners get ErrRunLost when etcd expires the lease,
// and its late result is not published.
func TestGuardRunLost(t *testing.T) {
	c := startEtcd(t, 1)
	a := newGuard(t, client(t, c), "/lost", WithTTL(faultTTL))
	b := newGuard(t, client(t, c), "/lost", WithTTL(faultTTL))
	started, release := make(chan struct{}), make(chan struct{})
	var runCtx context.Context
	done := make(chan error, 1)
	go func() {
		done <- a.Do(tctx(t), Reject, func(ctx context.Context) error {
			runCtx = ctx
			close(started)
			<-release // ignores ctx, as a stuck run would
			return nil
		})
	}()
	<-started
	joined := make(chan error, 1)
	go func() { joined <- b.Do(tctx(t), Join, func(context.Context) error { return nil }) }()
	conctestWait(t, "joiner waiting", func() bool { return b.Stats().Waiting == 1 })
	a.ls.paused.Store(true)
	err := <-joined
	if !errors.Is(err, ErrRunLost) {
		t.Errorf("joiner: %v, want ErrRunLost", err)
	}
	if !errors.Is(context.Cause(runCtx), ErrLeaseLost) {
		t.Errorf("run's ctx cause when the joiner learnt: %v, want ErrLeaseLost", context.Cause(runCtx))
	}
	close(release)
	if err := <-done; !errors.Is(err, ErrLeaseLost) {
		t.Errorf("runner that lost its lease: %v, want ErrLeaseLost", err)
	}
	a.ls.paused.Store(false)
	if err := b.Do(tctx(t), Reject, func(context.Context) error { return nil }); err != nil {
		t.Errorf("a run after the lost one: %v", err)
	}
}

func TestGuardPanicAndClose(t *testing.T) {
	c := startEtcd(t, 1)
	a, b := newGuard(t, client(t, c), "/pc"), newGuard(t, client(t, c), "/pc")
	started, release := make(chan struct{}), make(chan struct{})
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		a.Do(tctx(t), Reject, func(context.Context) error {
			close(started)
			<-release
			panic("kaput")
		})
	}()
	<-started
	joined := make(chan error, 1)
	go func() { joined <- b.Do(tctx(t), Join, func(context.Context) error { return nil }) }()
	conctestWait(t, "joiner waiting", func() bool { return b.Stats().Waiting == 1 })
	close(release)
	if v := <-panicked; v != "kaput" {
		t.Errorf("recovered %v", v)
	}
	if err := <-joined; !errors.Is(err, ErrPanicked) {
		t.Errorf("joiner of a panicked run: %v", err)
	}
	fn, started2, release2 := blocking(nil)
	go func() { joined <- a.Do(tctx(t), Reject, fn) }()
	<-started2
	waitErr := make(chan error, 1)
	go func() { waitErr <- b.Do(tctx(t), Join, func(context.Context) error { return nil }) }()
	conctestWait(t, "joiner waiting", func() bool { return b.Stats().Waiting == 1 })
	b.Close()
	if err := <-waitErr; !errors.Is(err, ErrClosed) {
		t.Errorf("waiter at Close: %v", err)
	}
	if err := b.Do(tctx(t), Join, fn); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	close(release2)
	if err := <-joined; err != nil {
		t.Errorf("runner: %v", err)
	}
}
