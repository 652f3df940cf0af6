package a

import (
	"context"

	"github.com/sluice-go/sluice/sem"
	"golang.org/x/sync/semaphore"
)

type read struct{ key string }

func serve(r read) {}

// Seed 004: the dispatcher takes the read permit itself before spawning the read.
type store struct {
	reads  chan read
	writes chan read
	sem    *semaphore.Weighted
	ssem   *sem.Semaphore
	tokens chan struct{}
}

func (s *store) dispatch(ctx context.Context) {
	for {
		select {
		case r := <-s.reads:
			s.sem.Acquire(ctx, 1) // want `semaphore\.Weighted\.Acquire waits for capacity in the loop goroutine`
			go func() {
				defer s.sem.Release(1)
				serve(r)
			}()
		case w := <-s.writes:
			serve(w)
		case <-ctx.Done():
			return
		}
	}
}

func (s *store) dispatchSluice(ctx context.Context) {
	for r := range s.reads {
		if err := s.ssem.Acquire(ctx, 1); err != nil { // want `sem\.Semaphore\.Acquire waits for capacity`
			return
		}
		go func() {
			defer s.ssem.Release(1)
			serve(r)
		}()
	}
}

// A buffered channel used as a semaphore.
func (s *store) dispatchTokens(ctx context.Context) {
	for {
		select {
		case r := <-s.reads:
			s.tokens <- struct{}{} // want `a send into a channel semaphore waits for capacity`
			go func() {
				defer func() { <-s.tokens }()
				serve(r)
			}()
		case w := <-s.writes:
			serve(w)
		}
	}
}

func startStore(ctx context.Context, s *store) {
	go s.dispatch(ctx)
	go s.dispatchSluice(ctx)
	go s.dispatchTokens(ctx)
}

// The fix: the permit is taken in the spawned goroutine.
func (s *store) dispatchFixed(ctx context.Context) {
	for {
		select {
		case r := <-s.reads:
			go func() {
				if err := s.sem.Acquire(ctx, 1); err != nil {
					return
				}
				defer s.sem.Release(1)
				serve(r)
			}()
		case w := <-s.writes:
			serve(w)
		case <-ctx.Done():
			return
		}
	}
}

func startFixed(ctx context.Context, s *store) { go s.dispatchFixed(ctx) }
