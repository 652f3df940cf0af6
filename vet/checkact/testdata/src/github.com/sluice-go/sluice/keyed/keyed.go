// Package keyed is a stand-in for sluice's keyed with the same names.
package keyed

import "context"

type Once[K comparable] struct{}

func (o *Once[K]) Do(ctx context.Context, k K, fn func(context.Context) error) error { return fn(ctx) }
func (o *Once[K]) Forget(k K)                                                        {}

type Mutex[K comparable] struct{}

func (m *Mutex[K]) Lock(ctx context.Context, k K) error { return nil }
func (m *Mutex[K]) Unlock(k K)                          {}
