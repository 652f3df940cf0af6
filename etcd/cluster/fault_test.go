package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// inUse tracks the permits held, as the holders believe, and fails the
// test if they ever sum above capacity.
type inUse struct {
	t        testing.TB
	capacity int64
	now, max atomic.Int64
}

func (u *inUse) enter(n int64) {
	v := u.now.Add(n)
	for {
		m := u.max.Load()
		if v <= m || u.max.CompareAndSwap(m, v) {
			break
		}
	}
	if v > u.capacity {
		u.t.Errorf("over-admission: %d permits held, capacity %d", v, u.capacity)
	}
}

func (u *inUse) leave(n int64) { u.now.Add(-n) }

// TestLeaseExpiryCancelsBeforeOthersAdmitted stops a holder's keepalives:
// its permit's Context must be done, with ErrLeaseLost, before etcd
// expires the lease and the other replica is admitted; the permits come
// back without a Release.
func TestLeaseExpiryCancelsBeforeOthersAdmitted(t *testing.T) {
	c := startEtcd(t, 1)
	a := newSem(t, client(t, c), "/expiry", 1, WithTTL(faultTTL))
	b := newSem(t, client(t, c), "/expiry", 1, WithTTL(faultTTL))
	pa := mustAcquire(t, a, 1)

	got := make(chan *Permit, 1)
	aDoneWhenBAdmitted := make(chan bool, 1)
	go func() {
		p, err := b.Acquire(tctx(t), 1)
		if err != nil {
			t.Errorf("b.Acquire: %v", err)
			got <- nil
			return
		}
		aDoneWhenBAdmitted <- pa.Context().Err() != nil
		got <- p
	}()
	waitStats(t, b, "b queued", func(s Stats) bool { return s.Waiting == 1 })
	a.q.ls.paused.Store(true)

	select {
	case <-pa.Context().Done():
	case <-time.After(liveness):
		t.Fatal("holder's Context not done after its keepalives stopped")
	}
	if !errors.Is(context.Cause(pa.Context()), ErrLeaseLost) {
		t.Errorf("cause = %v, want ErrLeaseLost", context.Cause(pa.Context()))
	}
	pb := <-got
	if pb == nil {
		return
	}
	if !<-aDoneWhenBAdmitted {
		t.Error("b was admitted while a's permit Context was still live")
	}
	pa.Release() // its key is gone already; nothing to give back twice
	pb.Release()
	if st := b.Stats(); st.ClusterInUse != 0 && st.InUse != 0 {
		t.Errorf("b.Stats after releases = %+v", st)
	}
	// a gets a fresh lease on its next Acquire.
	a.q.ls.paused.Store(false)
	mustAcquire(t, a, 1).Release()
	if st := a.Stats(); st.LeasesLost != 1 {
		t.Errorf("a.Stats().LeasesLost = %d, want 1", st.LeasesLost)
	}
}

// TestPausedReplicaFencedWriteRejected: a replica whose keepalives stop
// keeps running (as a paused process would on resuming); once its lease
// has expired in etcd, its writes fenced by the permit are refused.
func TestPausedReplicaFencedWriteRejected(t *testing.T) {
	c := startEtcd(t, 1)
	cliA, cliB := client(t, c), client(t, c)
	a := newSem(t, cliA, "/fence", 1, WithTTL(faultTTL))
	b := newSem(t, cliB, "/fence", 1, WithTTL(faultTTL))
	pa := mustAcquire(t, a, 1)
	write := func(p *Permit, v string) bool {
		t.Helper()
		resp, err := cliA.Txn(tctx(t)).If(p.Fence()).Then(clientv3.OpPut("/fence-data", v)).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp.Succeeded
	}
	if !write(pa, "a1") {
		t.Fatal("fenced write by the holder refused")
	}
	a.q.ls.paused.Store(true)
	pb := mustAcquire(t, b, 1) // admitted once a's lease has expired in etcd
	if write(pa, "a2") {
		t.Error("fenced write by the paused replica accepted after its lease expired")
	}
	if !write(pb, "b1") {
		t.Error("fenced write by the new holder refused")
	}
	if pb.Token() <= pa.Token() {
		t.Errorf("new holder's token %d not above the stale one's %d", pb.Token(), pa.Token())
	}
	resp, err := cliB.Get(tctx(t), "/fence-data")
	if err != nil || string(resp.Kvs[0].Value) != "b1" {
		t.Errorf("data = %v, %v; want b1", resp, err)
	}
	pa.Release()
	pb.Release()
}

// TestPartitionedHolderLosesContextFirst cuts a holder off behind a TCP
// proxy: its permit's Context must be done before the other replica gets
// the permit; after the partition heals it recovers.
func TestPartitionedHolderLosesContextFirst(t *testing.T) {
	c := startEtcd(t, 1)
	px := newProxy(t, c.Members[0].ClientURL)
	a := newSem(t, client(t, c, px.URL()), "/part", 2, WithTTL(faultTTL))
	b := newSem(t, client(t, c), "/part", 2, WithTTL(faultTTL))
	pa := mustAcquire(t, a, 2)

	aDone := make(chan bool, 1)
	got := make(chan *Permit, 1)
	go func() {
		p, err := b.Acquire(tctx(t), 2)
		if err != nil {
			t.Errorf("b.Acquire: %v", err)
			got <- nil
			return
		}
		aDone <- pa.Context().Err() != nil
		got <- p
	}()
	waitStats(t, b, "b queued", func(s Stats) bool { return s.Waiting == 1 })
	px.partition()
	pb := <-got
	if pb == nil {
		return
	}
	if !<-aDone {
		t.Error("b admitted while the partitioned holder's Context was live")
	}
	if !errors.Is(context.Cause(pa.Context()), ErrLeaseLost) {
		t.Errorf("cause = %v, want ErrLeaseLost", context.Cause(pa.Context()))
	}
	// While cut off, a's waits end by their ctx, never later.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := a.Acquire(ctx, 1)
	cancel()
	if err == nil {
		t.Fatal("Acquire through a cut proxy succeeded")
	}
	pa.Release()
	px.heal()
	pb.Release()
	p := mustAcquire(t, a, 2)
	p.Release()
}

// TestLeaderKill kills the leader of a 3-member cluster while replicas
// acquire and release: no permit is lost (a permit held across the kill
// stays held and its fenced write still succeeds), nobody is admitted
// twice, and the cap holds throughout.
func TestLeaderKill(t *testing.T) {
	c := startEtcd(t, 3)
	const capacity = 2
	u := &inUse{t: t, capacity: capacity}
	var sems []*Semaphore
	for range 2 {
		sems = append(sems, newSem(t, client(t, c), "/leader", capacity))
	}
	held := mustAcquire(t, sems[0], 1)
	u.enter(1)

	ctx, stop := context.WithCancel(tctx(t))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		tokens   = map[int64]bool{}
		admitted atomic.Int64
	)
	for i := range 4 {
		s := sems[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p, err := s.Acquire(ctx, 1)
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, ErrLeaseLost) {
						t.Errorf("Acquire: %v", err)
					}
					continue
				}
				u.enter(1)
				mu.Lock()
				if tokens[p.Token()] {
					t.Errorf("token %d admitted twice", p.Token())
				}
				tokens[p.Token()] = true
				mu.Unlock()
				admitted.Add(1)
				u.leave(1)
				p.Release()
			}
		}()
	}
	conctest := func(n int64, what string) {
		deadline := time.Now().Add(liveness)
		for admitted.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d admissions", what, admitted.Load())
			}
			waitOneEvent(t, sems[0])
		}
	}
	conctest(20, "before the kill")
	lead := c.Leader()
	c.Kill(lead)
	before := admitted.Load()
	conctest(before+20, "after the kill")
	stop()
	wg.Wait()

	if held.Context().Err() != nil {
		t.Errorf("permit held across the kill lost: %v", context.Cause(held.Context()))
	}
	resp, err := sems[0].q.cli.Txn(tctx(t)).If(held.Fence()).Then(clientv3.OpPut("/leader-data", "x")).Commit()
	if err != nil || !resp.Succeeded {
		t.Errorf("fenced write after the kill: %v, %v", resp, err)
	}
	u.leave(1)
	held.Release()
	// A delete that failed during the election is retried in the
	// background: wait for it (etcd sends no event for "nothing left").
	conctestWait(t, "every queue key deleted", func() bool { return countKeys(t, sems[1].q.cli, "/leader/q/") == 0 })
	t.Logf("admissions: %d, peak in use %d of %d", admitted.Load(), u.max.Load(), capacity)
}

// waitOneEvent blocks until s's mirror moves to a newer revision.
func waitOneEvent(t testing.TB, s *Semaphore) {
	t.Helper()
	s.q.mu.Lock()
	r := s.q.rev
	s.q.mu.Unlock()
	deadline := time.NewTimer(liveness)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s.q.mu.Lock()
		moved := s.q.rev > r
		s.q.mu.Unlock()
		if moved {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatal("no etcd event within the liveness bound")
		}
	}
}
