package recovery

import (
	"context"
	"sync"
)

// payloadStore stands in for where a validator retrieves an inference's
// payloads before replaying it (the seed's retrievePayloadsWithRetry,
// which could retry for twenty minutes). It serves nobody until the
// harness opens it, and then everybody at once.
//
// The harness opens it only once every trigger path has fired (and, for
// the naive variant, every goroutine has been started), so that what the
// demo shows about concurrency is forced by construction rather than left
// to how the scheduler interleaves the triggers: every naive goroutine is
// alive at the same time, all three naive recovery runs are in progress
// at once, and the sluice run that wins the guard is still running when
// the two others call it.
type payloadStore struct {
	ready chan struct{}
	once  sync.Once
}

func newPayloadStore() *payloadStore {
	return &payloadStore{ready: make(chan struct{})}
}

// open lets every fetch, present and future, through. It may be called
// any number of times.
func (s *payloadStore) open() { s.once.Do(func() { close(s.ready) }) }

// fetch blocks until the store is open or ctx ends, and returns ctx's
// error in the second case.
func (s *payloadStore) fetch(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
