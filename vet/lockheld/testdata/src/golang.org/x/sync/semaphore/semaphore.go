// Package semaphore is a stand-in for golang.org/x/sync/semaphore.
package semaphore

import "context"

type Weighted struct{ ch chan struct{} }

func NewWeighted(n int64) *Weighted { return &Weighted{ch: make(chan struct{}, n)} }

func (s *Weighted) Acquire(ctx context.Context, n int64) error {
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Weighted) TryAcquire(n int64) bool { return true }

func (s *Weighted) Release(n int64) {
	select {
	case <-s.ch:
	default:
	}
}
