// Package errgroup is a stand-in for golang.org/x/sync/errgroup, shaped
// like the real one.
package errgroup

import (
	"context"
	"sync"
)

type token struct{}

type Group struct {
	wg  sync.WaitGroup
	sem chan token
}

func WithContext(ctx context.Context) (*Group, context.Context) { return &Group{}, ctx }

func (g *Group) SetLimit(n int) { g.sem = make(chan token, n) }

func (g *Group) Go(f func() error) {
	if g.sem != nil {
		g.sem <- token{}
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		_ = f()
	}()
}

func (g *Group) Wait() error { g.wg.Wait(); return nil }
