package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func newMu(t testing.TB, cli *clientv3.Client, prefix string) *Mutex {
	t.Helper()
	m, err := NewMutex(tctx(t), cli, prefix, WithTTL(testTTL), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestMutexAcrossReplicas: one holder per key across replicas and
// goroutines (serialised locally first), keys independent, and no key
// left in etcd once everything is unlocked.
func TestMutexAcrossReplicas(t *testing.T) {
	c := startEtcd(t, 1)
	cli := client(t, c)
	ms := []*Mutex{newMu(t, cli, "/mu"), newMu(t, client(t, c), "/mu")}
	var holding [2]atomic.Int64
	var wg sync.WaitGroup
	for g := range 12 {
		m := ms[g%2]
		key := []string{"peer/a", "peer b"}[g%4/2]
		k := g % 4 / 2
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				p, err := m.Lock(tctx(t), key)
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				if n := holding[k].Add(1); n != 1 {
					t.Errorf("key %q held %d times at once", key, n)
				}
				holding[k].Add(-1)
				p.Release()
			}
		}()
	}
	wg.Wait()
	if n := countKeys(t, cli, "/mu/"); n != 0 {
		t.Errorf("%d keys left in etcd after every unlock", n)
	}
	st := ms[0].Stats()
	if st.Keys != 0 || st.Waiting != 0 || st.Admitted != 24 {
		t.Errorf("Stats = %+v, want Keys 0, Waiting 0, Admitted 24", st)
	}
	if st.Wakeups > st.Contended*3/2 {
		t.Errorf("%d wake-ups for %d contended locks", st.Wakeups, st.Contended)
	}
}

// TestMutexLocalFirst: two goroutines of one replica never both hold a
// key, and the second waits in the process, not in etcd.
func TestMutexLocalFirst(t *testing.T) {
	c := startEtcd(t, 1)
	m := newMu(t, client(t, c), "/local")
	p := mustLock(t, m, "k")
	got := make(chan *Permit, 1)
	go func() { got <- mustLock(t, m, "k") }()
	conctestWait(t, "local waiter", func() bool { return m.Stats().LocalWaiting == 1 })
	if st := m.Stats(); st.ClusterWaiting != 0 {
		t.Errorf("ClusterWaiting = %d: a local waiter reached etcd", st.ClusterWaiting)
	}
	if q, err := m.TryLock(tctx(t), "k"); err != nil || q != nil {
		t.Errorf("TryLock of a held key = %v, %v", q, err)
	}
	other, err := m.TryLock(tctx(t), "other")
	if err != nil || other == nil {
		t.Fatalf("TryLock of a free key = %v, %v", other, err)
	}
	other.Release()
	p.Release()
	p2 := <-got
	if p2.Token() <= p.Token() {
		t.Errorf("tokens %d then %d", p.Token(), p2.Token())
	}
	p2.Release()
}

func TestMutexCancelAndClose(t *testing.T) {
	c := startEtcd(t, 1)
	a, b := newMu(t, client(t, c), "/mc"), newMu(t, client(t, c), "/mc")
	p := mustLock(t, a, "k")
	ctx, cancel := context.WithCancel(tctx(t))
	errc := make(chan error, 1)
	go func() { _, err := b.Lock(ctx, "k"); errc <- err }()
	conctestWait(t, "b queued", func() bool { return b.Stats().Waiting == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Lock: %v", err)
	}
	go func() { _, err := b.Lock(tctx(t), "k"); errc <- err }()
	conctestWait(t, "b queued again", func() bool { return b.Stats().Waiting == 1 })
	b.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Lock at Close: %v", err)
	}
	p.Release()
}

func mustLock(t testing.TB, m *Mutex, key string) *Permit {
	t.Helper()
	p, err := m.Lock(tctx(t), key)
	if err != nil {
		t.Fatalf("Lock(%q): %v", key, err)
	}
	return p
}
