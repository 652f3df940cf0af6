package ok

import (
	"net"
	"net/url"
	"sync"
)

// Shapes from servers (nats-server, etcd's tcpproxy): goroutines per
// connection, per configured route or remote, per owned component.

type options struct {
	Routes  []*url.URL
	Remotes []*RemoteLeafOpts
}

type RemoteLeafOpts struct{ URL string }

type server struct {
	mu      sync.Mutex
	opts    *options
	running bool
	grWG    sync.WaitGroup
	remotes []*remote
}

func (s *server) getOpts() *options { return s.opts }

func (s *server) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// startGoRoutine only wraps a go statement around f: a spawner.
func (s *server) startGoRoutine(f func()) { // want startGoRoutine:`spawns\(param 0\)`
	s.grWG.Add(1)
	go f()
}

// An accept loop under a call condition: one goroutine per connection.
func (s *server) acceptLoop(l net.Listener) {
	for s.isRunning() {
		conn, err := l.Accept()
		if err != nil {
			continue
		}
		s.startGoRoutine(func() {
			get(conn.RemoteAddr().String())
			s.grWG.Done()
		})
	}
}

// The same with a go statement in a for {} loop around AcceptTCP.
func acceptTCP(l *net.TCPListener) {
	for {
		conn, err := l.AcceptTCP()
		if err != nil {
			return
		}
		go get(conn.RemoteAddr().String())
	}
}

// A packet loop: one goroutine per datagram read from a conn.
func packets(pc net.PacketConn, peers []string) {
	buf := make([]byte, 1500)
	for _, p := range peers {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		go get(p + string(buf[:n]))
	}
}

// One goroutine per configured route: every caller passes configuration.
func (s *server) solicitRoutes(routes []*url.URL) {
	for _, r := range routes {
		route := r
		s.startGoRoutine(func() { get(route.String()) })
	}
}

type routesOption struct{ add []*url.URL }

func (s *server) start() {
	s.solicitRoutes(s.getOpts().Routes)
	s.solicitLeafNodeRemotes(s.opts.Remotes)
}

func (s *server) reload(r *routesOption) { s.solicitRoutes(r.add) }

// The element type says options.
func (s *server) solicitLeafNodeRemotes(remotes []*RemoteLeafOpts) {
	for _, r := range remotes {
		s.startGoRoutine(func() { get(r.URL) })
	}
}

// One reactivation per owned backend (etcd's tcpproxy monitor): the
// components are the proxy's own, even though each dials with no timeout.
type remote struct{ addr string }

func (r *remote) tryReactivate() error {
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func (s *server) monitor() {
	for _, rem := range s.remotes {
		go func(r *remote) { _ = r.tryReactivate() }(rem)
	}
}
