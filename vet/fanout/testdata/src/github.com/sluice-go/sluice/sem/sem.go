// Package sem is a stand-in for sluice's sem.
package sem

import "context"

type Semaphore struct{ n int64 }

func New(n int64) *Semaphore                                    { return &Semaphore{n: n} }
func (s *Semaphore) Acquire(ctx context.Context, n int64) error { return nil }
func (s *Semaphore) Release(n int64)                            {}
