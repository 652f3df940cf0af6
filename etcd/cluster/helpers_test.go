package cluster

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/etcd/internal/embedded"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// TestMain checks, as conctest.VerifyTestMain does, that no goroutine
// outlives the tests, except the peer connections of stopped embedded
// 3-member clusters: etcd's rafthttp leaves its keep-alive HTTP
// connections between members open after Close. Only net/http's own
// connection goroutines are ignored; this package starts none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("net/http.(*connReader).backgroundRead"),
	)
}

// liveness bounds every wait of the tests for an event that must come: a
// bug turns into a failure instead of a hang, and a loaded machine never
// reaches it.
const liveness = 60 * time.Second

// testTTL is the lease TTL of tests that do not wait for a lease to end;
// faultTTL that of those that do.
const (
	testTTL  = 5 * time.Second
	faultTTL = 2 * time.Second
)

// startEtcd starts an embedded cluster of n members for t, stopped when t
// ends.
func startEtcd(t testing.TB, n int) *embedded.Cluster {
	t.Helper()
	c, err := embedded.Start(t.TempDir(), n, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// client returns a client of c (or of endpoints), closed when t ends.
func client(t testing.TB, c *embedded.Cluster, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := c.Client(endpoints...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// tctx returns a context bounded by the liveness bound, ended with t.
func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	t.Cleanup(cancel)
	return ctx
}

func newSem(t testing.TB, cli *clientv3.Client, prefix string, capacity int64, opts ...Option) *Semaphore {
	t.Helper()
	opts = append([]Option{WithTTL(testTTL), WithLogger(quiet)}, opts...)
	s, err := NewSemaphore(tctx(t), cli, prefix, capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustAcquire(t testing.TB, s *Semaphore, n int64) *Permit {
	t.Helper()
	p, err := s.Acquire(tctx(t), n)
	if err != nil {
		t.Fatalf("Acquire(%d): %v", n, err)
	}
	return p
}

// waitStats waits until cond holds for s's Stats.
func waitStats(t testing.TB, s *Semaphore, what string, cond func(Stats) bool) {
	t.Helper()
	conctest.WaitFor(t, liveness, what, func() bool { return cond(s.Stats()) })
}

// countKeys returns the number of keys under prefix.
func countKeys(t testing.TB, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(tctx(t), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// quiet discards the primitives' warnings (lost leases, failed deletes):
// the fault tests cause them on purpose.
var quiet = slog.New(slog.DiscardHandler)

func conctestWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	conctest.WaitFor(t, liveness, what, cond)
}
