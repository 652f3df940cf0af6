// Package ok holds the shapes notimeout must not report.
package ok

import (
	"context"
	"net/http"
	"time"
)

// The seed's fix: a shared client with a Timeout.
var validationHTTPClient = &http.Client{Timeout: 5 * time.Minute}

func fixed(u string) {
	_, _ = validationHTTPClient.Post(u, "application/json", nil)
}

// A request with a deadline on a client without one.
func withDeadline(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func withDeadlineBackground(u string) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Second))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	_, _ = (&http.Client{}).Do(req)
}

// The caller's context: unknown, not reported.
func callersCtx(ctx context.Context, u string) {
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	_, _ = http.DefaultClient.Do(req)
}

// A client passed in: unknown.
func passedIn(c *http.Client, u string) {
	_, _ = c.Get(u)
}

// A client returned by a call: unknown.
func fromCall(u string) {
	_, _ = makeClient().Get(u)
}

func makeClient() *http.Client { return &http.Client{Timeout: time.Second} }

// A local literal with a Timeout, or one set after construction.
func local(u string) {
	c := &http.Client{Timeout: time.Second}
	_, _ = c.Get(u)
	d := &http.Client{}
	d.Timeout = time.Second
	_, _ = d.Get(u)
}

// A local client handed to a function that may configure it.
func configured(u string) {
	c := &http.Client{}
	configure(c)
	_, _ = c.Get(u)
}

func configure(c *http.Client) { c.Timeout = time.Second }

// A field assigned both a timed and an untimed client: not provably
// untimed.
type svc struct{ client *http.Client }

func newSvc(fast bool) *svc {
	if fast {
		return &svc{client: &http.Client{Timeout: time.Second}}
	}
	return &svc{client: &http.Client{}}
}

func (s *svc) call(u string) { _, _ = s.client.Get(u) }

// An exported field: other packages may set it.
type Exported struct{ Client *http.Client }

func NewExported() *Exported { return &Exported{Client: &http.Client{}} }

func (e *Exported) Call(u string) { _, _ = e.Client.Get(u) }

// A field whose Timeout is set later.
type later struct{ c *http.Client }

func newLater() *later {
	l := &later{c: &http.Client{}}
	l.c.Timeout = time.Minute
	return l
}

func (l *later) call(u string) { _, _ = l.c.Get(u) }

// A transport with a response-header timeout bounds the wait.
var transported = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: time.Second}}

func viaTransport(u string) { _, _ = transported.Get(u) }

// Server-side request context: unknown.
func handler(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), "GET", "http://backend", nil)
	_, _ = http.DefaultClient.Do(req)
}

// The deprecated Request.Cancel, set from the caller's ctx (etcd's
// leasehttp).
func cancelField(ctx context.Context, u string) {
	req, _ := http.NewRequest("POST", u, nil)
	req.Cancel = ctx.Done()
	_, _ = http.DefaultClient.Do(req)
}

// A RoundTripper passed in may be a timeout transport (etcd's
// NewTimeoutTransport).
func withRoundTripper(rt http.RoundTripper, u string) {
	cc := &http.Client{Transport: rt}
	_, _ = cc.Get(u)
}
