// Package dial holds net.Dial shapes.
package dial

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

func untimed(addr string) {
	_, _ = net.Dial("tcp", addr)      // want `net\.Dial has no timeout.*fix: use net\.DialTimeout or a net\.Dialer\{Timeout`
	_, _ = tls.Dial("tcp", addr, nil) // want `tls\.Dial has no timeout`
	var d net.Dialer
	_, _ = d.Dial("tcp", addr) // want `\(\*net\.Dialer\)\.Dial on a net\.Dialer with no Timeout or Deadline`
	d2 := &net.Dialer{KeepAlive: time.Second}
	_, _ = d2.DialContext(context.Background(), "tcp", addr) // want `\(\*net\.Dialer\)\.DialContext on a net\.Dialer with no Timeout or Deadline, with context\.Background\(\)`
}

func timed(ctx context.Context, addr string, network string) {
	_, _ = net.DialTimeout("tcp", addr, time.Second)
	d := net.Dialer{Timeout: time.Second}
	_, _ = d.Dial("tcp", addr)
	d2 := &net.Dialer{Deadline: time.Now().Add(time.Second)}
	_, _ = d2.Dial("tcp", addr)
	var d3 net.Dialer
	_, _ = d3.DialContext(ctx, "tcp", addr) // the caller's ctx: unknown
	tctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = d3.DialContext(tctx, "tcp", addr)
	// Datagram dials do not wait for a peer.
	_, _ = net.Dial("udp", addr)
	_, _ = net.Dial("unixgram", addr)
	_, _ = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, nil)
}
