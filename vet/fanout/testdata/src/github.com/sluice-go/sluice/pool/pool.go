// Package pool is a stand-in for sluice's pool.
package pool

import (
	"context"

	"github.com/sluice-go/sluice/sem"
)

type Pool struct {
	ctx context.Context
	s   *sem.Semaphore
}

func Shared(ctx context.Context, s *sem.Semaphore) *Pool { return &Pool{ctx: ctx, s: s} }
func New(ctx context.Context, limit int) *Pool           { return &Pool{ctx: ctx, s: sem.New(int64(limit))} }

func (p *Pool) Go(fn func(ctx context.Context) error) error {
	if err := p.s.Acquire(p.ctx, 1); err != nil {
		return err
	}
	go func() {
		defer p.s.Release(1)
		_ = fn(p.ctx)
	}()
	return nil
}

func (p *Pool) Wait() error { return nil }
