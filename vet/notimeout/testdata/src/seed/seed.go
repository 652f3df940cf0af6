// Package seed is seed 002's replay on http.DefaultClient and its shapes.
package seed

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

func validateWithPayloads(u string) error {
	resp, err := http.Post(u, "application/json", strings.NewReader("{}")) // want `http\.Post uses http\.DefaultClient, which has no Timeout.*fix: use a shared http\.Client\{Timeout`
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func get(u string) {
	_, _ = http.Get(u)                    // want `http\.Get uses http\.DefaultClient`
	_, _ = http.Head(u)                   // want `http\.Head uses`
	_, _ = http.PostForm(u, url.Values{}) // want `http\.PostForm uses`
	_, _ = http.DefaultClient.Get(u)      // want `\(\*http\.Client\)\.Get on http\.DefaultClient, which has no Timeout, and no context`
}

// The naive demo's shape: a field whose only assignment is a client
// literal without Timeout.
type naiveValidator struct {
	client *http.Client
	mu     sync.Mutex
}

func newNaive() *naiveValidator {
	return &naiveValidator{client: &http.Client{Transport: &counting{}}}
}

type counting struct{}

func (*counting) RoundTrip(r *http.Request) (*http.Response, error) {
	return http.DefaultTransport.RoundTrip(r)
}

func (v *naiveValidator) validate(u string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	resp, err := v.client.Post(u, "application/json", nil) // want `\(\*http\.Client\)\.Post on field client, an http\.Client with no Timeout`
	if err == nil {
		resp.Body.Close()
	}
}

// Do with a request that has no context, on a literal client.
func doNoCtx(u string) {
	c := &http.Client{}
	req, _ := http.NewRequest("GET", u, nil)
	_, _ = c.Do(req) // want `\(\*http\.Client\)\.Do on an http\.Client with no Timeout, and the request has no context \(http\.NewRequest\)`
}

// Do with a request whose context is Background through WithCancel.
func doBackground(u string) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, 1))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	_, _ = http.DefaultClient.Do(req) // want `the request context is context\.Background\(\)`
}

type key struct{}

// new(http.Client) and a package-level client.
var shared = &http.Client{}

func doNew(u string) {
	c := new(http.Client)
	_, _ = c.Get(u)      // want `\(\*http\.Client\)\.Get on an http\.Client with no Timeout`
	_, _ = shared.Get(u) // want `on package variable shared, an http\.Client with no Timeout`
}

// A goroutine capturing the client and the request.
func inGoroutine(u string) {
	c := &http.Client{}
	req, _ := http.NewRequestWithContext(context.TODO(), "GET", u, nil)
	go func() {
		_, _ = c.Do(req) // want `context is context\.TODO\(\)`
	}()
	go http.Get(u) // want `http\.Get uses`
}

// A value-typed client field never given a Timeout.
type holder struct{ c http.Client }

func (h *holder) fetch(u string) {
	_, _ = h.c.Get(u) // want `on field c, a zero http\.Client, which has no Timeout`
}

// WithoutCancel drops the caller's deadline.
func detached(ctx context.Context, u string) {
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "GET", u, nil)
	_, _ = http.DefaultClient.Do(req) // want `context is from context\.WithoutCancel`
}

// The request rebound to a context without deadline.
func rebound(u string, req *http.Request) {
	r2 := req.WithContext(context.Background())
	_, _ = http.DefaultClient.Do(r2) // want `context is context\.Background\(\)`
}

func suppressed(u string) {
	//sluice:ignore notimeout the endpoint is local and answers by contract
	_, _ = http.Get(u)
}
