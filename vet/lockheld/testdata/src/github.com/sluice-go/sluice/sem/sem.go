// Package sem is a stand-in for sluice's sem.
package sem

import "context"

type Semaphore struct{ ch chan struct{} }

func New(n int64) *Semaphore { return &Semaphore{ch: make(chan struct{}, n)} }

func (s *Semaphore) Acquire(ctx context.Context, n int64) error {
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Semaphore) Release(n int64) {
	select {
	case <-s.ch:
	default:
	}
}

type Permit struct{ s *Semaphore }

func (s *Semaphore) Permit(ctx context.Context, n int64) (*Permit, error) {
	if err := s.Acquire(ctx, n); err != nil {
		return nil, err
	}
	return &Permit{s}, nil
}

func (p *Permit) Release() bool { p.s.Release(1); return true }
