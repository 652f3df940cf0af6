// Package embedded starts etcd servers inside the process, on 127.0.0.1,
// for sluice/etcd's tests, benchmarks and demo: one member or a cluster of
// several, each in its own data directory, on ports the OS chooses.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Options tunes a cluster. Zero fields take the defaults.
type Options struct {
	// TickMs is the raft heartbeat interval (default 50 ms) and ElectionMs
	// the election timeout (default 10 ticks). etcd's smallest lease TTL
	// is 1.5 election timeouts, rounded up to a second: 1 s by default.
	TickMs, ElectionMs uint
	// StartTimeout bounds the wait for the members to be ready (default
	// 60 s).
	StartTimeout time.Duration
}

// Cluster is a running set of embedded members.
type Cluster struct {
	Members []*Member
	dir     string
	ownDir  bool
}

// Member is one embedded etcd server.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string
	e         *embed.Etcd
	stopped   bool
}

// Start starts an n-member cluster in dir (a fresh temporary directory when
// dir is ""), and returns once every member serves clients and the cluster
// has a leader.
func Start(dir string, n int, o Options) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("embedded: Start with %d members", n)
	}
	if o.TickMs == 0 {
		o.TickMs = 50
	}
	if o.ElectionMs == 0 {
		o.ElectionMs = 10 * o.TickMs
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	c := &Cluster{dir: dir}
	if dir == "" {
		d, err := os.MkdirTemp("", "sluice-etcd-")
		if err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		c.dir, c.ownDir = d, true
	}
	// Free ports, found now: a cluster's members must know each other's
	// peer URLs before they start. Another process could take one in
	// between; the start then fails and is retried on new ports.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = c.start(n, o, attempt); err == nil {
			return c, nil
		}
		c.stopAll()
	}
	c.removeDir()
	return nil, err
}

func (c *Cluster) start(n int, o Options, attempt int) error {
	ports, err := freePorts(2 * n)
	if err != nil {
		return err
	}
	c.Members = make([]*Member, n)
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		c.Members[i] = m
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	type started struct {
		i   int
		e   *embed.Etcd
		err error
	}
	ch := make(chan started, n)
	for i, m := range c.Members {
		cfg := embed.NewConfig()
		cfg.Name = m.Name
		cfg.Dir = filepath.Join(c.dir, fmt.Sprintf("%s-%d", m.Name, attempt))
		cfg.ListenClientUrls = []url.URL{mustURL(m.ClientURL)}
		cfg.AdvertiseClientUrls = cfg.ListenClientUrls
		cfg.ListenPeerUrls = []url.URL{mustURL(m.PeerURL)}
		cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = fmt.Sprintf("sluice-%d", attempt)
		cfg.TickMs, cfg.ElectionMs = o.TickMs, o.ElectionMs
		cfg.UnsafeNoFsync = true
		cfg.LogLevel = "error"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.ListenMetricsUrls = nil
		go func() { // members of a new cluster start together: each waits for the others
			e, err := embed.StartEtcd(cfg)
			ch <- started{i, e, err}
		}()
	}
	var errs []error
	for range n {
		s := <-ch
		if s.err != nil {
			errs = append(errs, s.err)
			continue
		}
		c.Members[s.i].e = s.e
	}
	if len(errs) > 0 {
		return fmt.Errorf("embedded: start: %w", errors.Join(errs...))
	}
	timeout := time.NewTimer(o.StartTimeout)
	defer timeout.Stop()
	for _, m := range c.Members {
		select {
		case <-m.e.Server.ReadyNotify():
		case err := <-m.e.Err():
			return fmt.Errorf("embedded: %s: %w", m.Name, err)
		case <-timeout.C:
			return fmt.Errorf("embedded: members not ready within %v", o.StartTimeout)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.StartTimeout)
	defer cancel()
	return c.WaitLeader(ctx)
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}

func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Endpoints returns the client URLs of the members still running.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		if !m.stopped {
			eps = append(eps, m.ClientURL)
		}
	}
	return eps
}

// Client returns a new client of the running members, or of the given
// endpoints when some are passed.
func (c *Cluster) Client(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	return NewClient(endpoints)
}

// NewClient returns a client of endpoints with the settings the tests use:
// a short dial timeout and no logging.
func NewClient(endpoints []string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: client: %w", err)
	}
	return cli, nil
}

// Leader returns the index of the member that leads now, or -1.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		if m.stopped {
			continue
		}
		if m.e.Server.Leader() == m.e.Server.MemberID() {
			return i
		}
	}
	return -1
}

// WaitLeader waits until a running member is the leader and every running
// member agrees on it.
func (c *Cluster) WaitLeader(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if i := c.Leader(); i >= 0 {
			lead := c.Members[i].e.Server.Leader()
			agree := true
			for _, m := range c.Members {
				if !m.stopped && m.e.Server.Leader() != lead {
					agree = false
				}
			}
			if agree {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded: no leader: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Kill stops member i at once, without handing its leadership on, as a
// crash would.
func (c *Cluster) Kill(i int) {
	m := c.Members[i]
	if m.stopped {
		return
	}
	m.stopped = true
	m.e.Server.HardStop()
	m.e.Close()
}

// Close stops every member and removes the data directory Start made.
func (c *Cluster) Close() {
	c.stopAll()
	c.removeDir()
}

func (c *Cluster) stopAll() {
	for _, m := range c.Members {
		if m != nil && m.e != nil && !m.stopped {
			m.stopped = true
			m.e.Close()
		}
	}
}

func (c *Cluster) removeDir() {
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}
