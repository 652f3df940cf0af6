// Package handler: handlers posted to a sluice loop.Loop run on the loop.
package handler

import (
	"context"
	"net/http"
	"time"

	"github.com/sluice-go/sluice/loop"
)

type state struct{ n int }

type api struct{ c *http.Client }

func (a *api) get(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Seed 003's naive shape: the handler makes the call itself, on a client
// with a timeout; the loop is still blocked for as long as the call takes.
func naive(ctx context.Context, l *loop.Loop[state]) error {
	a := &api{c: &http.Client{Timeout: time.Second}}
	return l.PostNamed(ctx, "score", func(s *state) {
		n, err := a.get(ctx, "http://example.com") // want `http\.Client\.Do blocks the loop\.Loop handler.*func literal in naive -> api\.get -> http\.Client\.Do`
		if err == nil {
			s.n += n
		}
	})
}

// The fix: Offload runs the call off the loop; then runs on the loop.
func fixed(ctx context.Context, l *loop.Loop[state]) error {
	a := &api{c: &http.Client{Timeout: time.Second}}
	return l.Post(ctx, func(s *state) {
		loop.Offload(l, ctx,
			func(ctx context.Context) (int, error) { return a.get(ctx, "http://example.com") },
			func(s *state, n int, err error) {
				if err == nil {
					s.n += n
				}
			})
	})
}

// Offload's then runs on the loop: blocking there counts.
func thenBlocks(ctx context.Context, l *loop.Loop[state]) error {
	return loop.Offload(l, ctx,
		func(ctx context.Context) (int, error) { return 1, nil },
		func(s *state, n int, err error) {
			time.Sleep(time.Second) // want `time\.Sleep may block`
		})
}

// The seed's naive demo shape: a factory returns the handler, and the
// handler posts the next one.
func factory(ctx context.Context, l *loop.Loop[state], a *api) error {
	var score func(w int) func(*state)
	score = func(w int) func(*state) {
		return func(s *state) {
			n, _ := a.get(ctx, "http://example.com") // want `http\.Client\)?\.Do blocks the loop\.Loop handler`
			s.n += n
			if w < 3 {
				l.PostNamed(ctx, "score", score(w+1))
			}
		}
	}
	return l.PostNamed(ctx, "score", score(0))
}

// Plain state updates in a handler.
func cheap(ctx context.Context, l *loop.Loop[state]) error {
	return l.Do(ctx, func(s *state) { s.n++ })
}
