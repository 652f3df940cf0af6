package cluster

import (
	"strings"
	"sync"
	"time"

	"context"
	"errors"
	"github.com/sluice-go/sluice/etcd/internal/embedded"
	"testing"
)

func TestSemaphoreBasic(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	s := newSem(t, cli, "/basic", 3)
	p1 := mustAcquire(t, s, 2)
	p2 := mustAcquire(t, s, 1)
	if p2.Token() <= p1.Token() {
		t.Errorf("tokens %d then %d: want increasing", p1.Token(), p2.Token())
	}
	if st := s.Stats(); st.InUse != 3 || st.Admitted != 2 {
		t.Errorf("Stats = %+v, want InUse 3, Admitted 2", st)
	}
	got, err := s.TryAcquire(tctx(t), 1)
	if err != nil || got != nil {
		t.Fatalf("TryAcquire when full = %v, %v; want nil, nil", got, err)
	}
	if !p1.Release() || p1.Release() {
		t.Error("Release: want true once, then false")
	}
	if context.Cause(p1.Context()) != ErrReleased {
		t.Errorf("released permit's cause = %v", context.Cause(p1.Context()))
	}
	p3 := mustAcquire(t, s, 2)
	p2.Release()
	p3.Release()
	if n := countKeys(t, cli, "/basic/q/"); n != 0 {
		t.Errorf("%d queue keys left after every release", n)
	}
	_ = errors.Is
}

func TestBadInput(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	ctx := tctx(t)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"nil client", second(NewSemaphore(ctx, nil, "/x", 1)), ErrInvalid},
		{"empty prefix", second(NewSemaphore(ctx, cli, "/", 1)), ErrInvalid},
		{"zero capacity", second(NewSemaphore(ctx, cli, "/x", 0)), ErrInvalid},
		{"negative capacity", second(NewSemaphore(ctx, cli, "/x", -3)), ErrInvalid},
		{"TTL under a second", second(NewSemaphore(ctx, cli, "/x", 1, WithTTL(time.Millisecond))), ErrInvalid},
		{"margin above half the TTL", second(NewSemaphore(ctx, cli, "/x", 1, WithTTL(4*time.Second), WithMargin(3*time.Second))), ErrInvalid},
		{"nil logger", second(NewSemaphore(ctx, cli, "/x", 1, WithLogger(nil))), ErrInvalid},
		{"mutex nil client", second(NewMutex(ctx, nil, "/m")), ErrInvalid},
		{"mutex empty prefix", second(NewMutex(ctx, cli, "")), ErrInvalid},
		{"guard nil client", second(NewGuard(ctx, nil, "/g")), ErrInvalid},
		{"guard empty prefix", second(NewGuard(ctx, cli, "")), ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) || !strings.HasPrefix(tc.err.Error(), "cluster: ") {
			t.Errorf("%s: err = %v, want %v with the package's name", tc.name, tc.err, tc.want)
		}
	}
	s := newSem(t, cli, "/bad", 3)
	if _, err := s.Acquire(ctx, 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Acquire above capacity: %v, want ErrTooLarge", err)
	}
	if _, err := s.Acquire(ctx, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Acquire(0): %v, want ErrInvalid", err)
	}
	if _, err := NewSemaphore(ctx, cli, "/bad", 5); !errors.Is(err, ErrCapacityMismatch) || !strings.Contains(err.Error(), "is 3") {
		t.Errorf("replica with another capacity: %v, want ErrCapacityMismatch naming 3", err)
	}
	// A capacity changed in etcd behind a replica's back fails its next Acquire.
	if _, err := cli.Put(ctx, "/bad/capacity", "7"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, 1); !errors.Is(err, ErrCapacityMismatch) {
		t.Errorf("Acquire after the capacity changed: %v, want ErrCapacityMismatch", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestTTLBelowMinimum: etcd raises a TTL below its minimum silently; the
// constructor says so instead.
func TestTTLBelowMinimum(t *testing.T) {
	c, err := embedded.Start(t.TempDir(), 1, embedded.Options{TickMs: 200, ElectionMs: 2000}) // minimum TTL 3 s
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cli := client(t, c)
	_, err = NewSemaphore(tctx(t), cli, "/ttl", 1, WithTTL(2*time.Second))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "minimum lease TTL (3s)") {
		t.Errorf("err = %v, want ErrInvalid naming the 3s minimum", err)
	}
	s, err := NewSemaphore(tctx(t), cli, "/ttl", 1, WithTTL(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestFIFOAcrossReplicas: a large waiter on one replica blocks a small one
// behind it on another, although the small one would fit.
func TestFIFOAcrossReplicas(t *testing.T) {
	c := startEtcd(t, 1)
	a := newSem(t, client(t, c), "/fifo", 4)
	b := newSem(t, client(t, c), "/fifo", 4)
	pa := mustAcquire(t, a, 2)
	big := make(chan *Permit, 1)
	go func() { big <- mustAcquire(t, b, 4) }()
	waitStats(t, a, "big queued", func(s Stats) bool { return s.ClusterWaiting == 1 })
	small := make(chan *Permit, 1)
	go func() { small <- mustAcquire(t, a, 1) }()
	waitStats(t, a, "small queued", func(s Stats) bool { return s.ClusterWaiting == 2 })
	pa.Release()
	pbig := <-big
	select {
	case p := <-small:
		t.Fatalf("small admitted (token %d) beside the big one: 4+1 > 4", p.Token())
	default:
	}
	pbig.Release()
	psmall := <-small
	if psmall.Token() <= pbig.Token() {
		t.Errorf("tokens: big %d, small %d; want queue order", pbig.Token(), psmall.Token())
	}
	psmall.Release()
}

// TestCancelRemovesWaiter: a cancelled head waiter leaves the queue at
// once, and the waiter behind it that now fits is admitted without any
// release.
func TestCancelRemovesWaiter(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	a := newSem(t, cli, "/cancel", 2)
	b := newSem(t, client(t, c), "/cancel", 2)
	pa := mustAcquire(t, a, 1)
	ctx, cancel := context.WithCancel(tctx(t))
	headErr := make(chan error, 1)
	go func() {
		_, err := b.Acquire(ctx, 2)
		headErr <- err
	}()
	// b's own waiter must be registered (its create answered), not only
	// its entry seen by a: cancelled earlier, the call would end in its
	// create transaction, which is not a cancelled wait.
	waitStats(t, b, "head queued", func(s Stats) bool { return s.Waiting == 1 })
	waitStats(t, a, "head seen by a", func(s Stats) bool { return s.ClusterWaiting == 1 })
	behind := make(chan *Permit, 1)
	go func() { behind <- mustAcquire(t, a, 1) }()
	waitStats(t, a, "behind queued", func(s Stats) bool { return s.ClusterWaiting == 2 })
	cancel()
	if err := <-headErr; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Acquire: %v", err)
	}
	p := <-behind // admitted with pa still held
	if st := b.Stats(); st.Cancelled != 1 || st.Waiting != 0 {
		t.Errorf("b.Stats = %+v, want Cancelled 1, Waiting 0", st)
	}
	p.Release()
	pa.Release()
	if n := countKeys(t, cli, "/cancel/q/"); n != 0 {
		t.Errorf("%d keys left", n)
	}
	// A done ctx fails at once even with permits free.
	if _, err := a.Acquire(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with a done ctx: %v", err)
	}
}

func TestClose(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	s := newSem(t, cli, "/close", 1)
	other := newSem(t, client(t, c), "/close", 1)
	p := mustAcquire(t, s, 1)
	local := make(chan error, 1)
	go func() { _, err := s.Acquire(tctx(t), 1); local <- err }() // at s's local gate
	remote := make(chan *Permit, 1)
	go func() { remote <- mustAcquire(t, other, 1) }() // in etcd's queue
	waitStats(t, s, "local waiter", func(st Stats) bool { return st.LocalWaiting == 1 })
	waitStats(t, other, "remote waiter", func(st Stats) bool { return st.Waiting == 1 })
	s.Close()
	if err := <-local; !errors.Is(err, ErrClosed) {
		t.Errorf("waiter at Close: %v, want ErrClosed", err)
	}
	if _, err := s.Acquire(tctx(t), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Close: %v", err)
	}
	if p.Context().Err() != nil {
		t.Error("a permit held at Close lost its Context")
	}
	if !s.Stats().Closed {
		t.Error("Stats.Closed false")
	}
	p.Release() // the last release revokes the lease; the other replica is admitted
	(<-remote).Release()
	other.Close()
	if n := countKeys(t, cli, "/close/q/"); n != 0 {
		t.Errorf("%d keys left after Close and release", n)
	}
}

// TestRetryKeepsPlace: a put retried after a lost response (the same key)
// finds its entry and keeps its revision.
func TestRetryKeepsPlace(t *testing.T) {
	c := startEtcd(t, 1)
	s := newSem(t, client(t, c), "/retry", 1)
	hold := mustAcquire(t, s, 1)
	le, err := s.q.ls.get(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	key := s.q.prefix + "retried"
	s.q.mu.Lock()
	s.q.creating[key] = true // an Acquire in flight owns it: not a stray entry
	s.q.mu.Unlock()
	c1, err1 := s.q.create(tctx(t), le, key, "", 1, nil)
	other := newSem(t, client(t, c), "/retry", 1)
	go func() {
		_, err := other.Acquire(tctx(t), 1) // queues behind key
		if !errors.Is(err, ErrClosed) {
			t.Errorf("other: %v", err)
		}
	}()
	waitStats(t, s, "other queued", func(st Stats) bool { return st.ClusterWaiting == 2 })
	c2, err2 := s.q.create(tctx(t), le, key, "", 1, nil)
	rev1, ok1, rev2, ok2 := c1.rev, c1.admitted, c2.rev, c2.admitted
	if err1 != nil || err2 != nil || rev1 != rev2 || ok1 || ok2 {
		t.Errorf("create twice: (%d %v %v) then (%d %v %v); want the same revision, not admitted", rev1, ok1, err1, rev2, ok2, err2)
	}
	other.Close()
	s.q.deleteKey(key, le, "", -1)
	hold.Release()
}

// TestClientClosedAndUnreachable: waits fail with an error, never hang
// past their ctx.
func TestClientClosedAndUnreachable(t *testing.T) {
	c := startEtcd(t, 1)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSemaphore(tctx(t), cli, "/gone", 1, WithTTL(faultTTL), WithOpTimeout(time.Second), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	holder := newSem(t, client(t, c), "/gone", 1)
	p := mustAcquire(t, holder, 1)
	errc := make(chan error, 1)
	go func() { _, err := s.Acquire(tctx(t), 1); errc <- err }()
	waitStats(t, s, "queued", func(st Stats) bool { return st.Waiting == 1 })
	cli.Close()
	if err := <-errc; err == nil {
		t.Error("Acquire on a closed client succeeded")
	}
	if _, err := s.Acquire(tctx(t), 1); err == nil {
		t.Error("Acquire after the client closed succeeded")
	}
	p.Release()
	s.Close()

	// Unreachable: a proxy cut before the call.
	px := newProxy(t, c.Members[0].ClientURL)
	u := newSem(t, client(t, c, px.URL()), "/gone2", 1, WithTTL(faultTTL), WithOpTimeout(time.Second))
	px.partition()
	ctx, cancel := context.WithTimeout(tctx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := u.Acquire(ctx, 1); err == nil {
		t.Error("Acquire through a cut proxy succeeded")
	}
	if d := time.Since(start); d > liveness/2 {
		t.Errorf("Acquire took %v past a 300ms ctx", d)
	}
	px.heal()
}

// TestWakeupsPerAdmission: under contention across three replicas, each
// admission after a wait costs about one wake-up (a naive prefix watch
// costs one per waiter per event).
func TestWakeupsPerAdmission(t *testing.T) {
	c := startEtcd(t, 1)
	var sems []*Semaphore
	for range 3 {
		sems = append(sems, newSem(t, client(t, c), "/wake", 3))
	}
	u := &inUse{t: t, capacity: 3}
	var wg sync.WaitGroup
	for i := range 30 {
		s := sems[i%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				p := mustAcquire(t, s, 1)
				u.enter(1)
				u.leave(1)
				p.Release()
			}
		}()
	}
	wg.Wait()
	var wakeups, contended int64
	for _, s := range sems {
		st := s.Stats()
		wakeups += st.Wakeups
		contended += st.Contended
	}
	if contended == 0 {
		t.Fatal("no contended admission")
	}
	ratio := float64(wakeups) / float64(contended)
	t.Logf("wake-ups %d for %d admissions after a wait: %.2f per admission", wakeups, contended, ratio)
	if ratio > 1.5 {
		t.Errorf("%.2f wake-ups per admission, want at most 1.5", ratio)
	}
}
