package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sluice-go/sluice/debug"
)

// debugServer serves a registry's debug page (package debug's handler) on
// one listener, for as long as `sluice demo -debug ADDR` runs.
type debugServer struct {
	URL  string // "http://HOST:PORT/", the address the listener got
	srv  *http.Server
	done chan error // Serve's error, once it has returned
}

// errNotLoopback is checkDebugAddr's error for an address that other
// machines could reach.
var errNotLoopback = errors.New("not a loopback address")

// checkDebugAddr accepts a host:port whose host is loopback: "localhost",
// 127.0.0.0/8 or ::1. An empty host (":8080") would listen on every
// interface, so it is not loopback.
func checkDebugAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errNotLoopback
}

// startDebug listens on addr and serves reg's page at "/" (and its JSON at
// "/?format=json") until Close. Unless remote is set, addr must be a
// loopback address, and so must the address the listener got.
func startDebug(addr string, remote bool, reg *debug.Registry) (*debugServer, error) {
	if !remote {
		if err := checkDebugAddr(addr); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !remote && (!ok || !tcp.IP.IsLoopback()) {
		ln.Close() // "localhost" resolved to something else
		return nil, fmt.Errorf("listening on %v: %w", ln.Addr(), errNotLoopback)
	}
	mux := http.NewServeMux()
	mux.Handle("/{$}", reg.Handler()) // the page and its JSON; any other path is 404
	d := &debugServer{
		URL:  "http://" + ln.Addr().String() + "/",
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { d.done <- d.srv.Serve(ln) }()
	return d, nil
}

// Close stops the server: it stops listening, lets the requests in
// progress finish (a page refresh is one short snapshot) for up to a
// second, then closes every connection, and returns once Serve has
// returned.
func (d *debugServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := d.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, d.srv.Close())
	}
	if serr := <-d.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
