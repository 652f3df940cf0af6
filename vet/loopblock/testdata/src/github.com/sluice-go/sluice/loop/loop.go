// Package loop is a stand-in for sluice's loop with the same names.
package loop

import "context"

type Loop[S any] struct{ s S }

func New[S any](s S) *Loop[S]                                                 { return &Loop[S]{s: s} }
func (l *Loop[S]) Post(ctx context.Context, fn func(*S)) error                { return nil }
func (l *Loop[S]) PostNamed(ctx context.Context, n string, fn func(*S)) error { return nil }
func (l *Loop[S]) Do(ctx context.Context, fn func(*S)) error                  { return nil }

func Offload[S, R any](l *Loop[S], ctx context.Context, work func(context.Context) (R, error), then func(*S, R, error)) error {
	return nil
}
