// Package seed is seed 000's shape: a validator whose every path takes
// mu before using the shared websocket, except one balance check.
package seed

import (
	"context"
	"sync"
)

// WSConn allows one reader at a time.
type WSConn struct{ n int }

func (c *WSConn) Query(ctx context.Context, m string) (int, error) { c.n++; return c.n, nil }
func (c *WSConn) GetBalance(ctx context.Context, a string) (int, error) {
	c.n++
	return c.n, nil
}

type Validator struct {
	mu    sync.Mutex
	conn  *WSConn
	count int
	last  string
	phase int
	epoch int
}

func New(c *WSConn) *Validator {
	v := &Validator{conn: c}
	v.count = 0
	return v
}

func (v *Validator) Activate(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, err := v.conn.Query(ctx, "activate")
	v.count++
	v.last = "activate"
	v.phase++
	v.epoch++
	return err
}

func (v *Validator) Confirm(ctx context.Context) error {
	v.mu.Lock()
	_, err := v.conn.Query(ctx, "confirm")
	v.count++
	v.last = "confirm"
	v.phase++
	v.epoch++
	v.mu.Unlock()
	return err
}

func (v *Validator) Forward(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.count > 10 {
		return nil
	}
	_, err := v.conn.Query(ctx, "bounds")
	v.last = "forward"
	v.phase++
	v.epoch++
	return err
}

// Reserve is the bug: the balance check runs before the lock.
func (v *Validator) Reserve(ctx context.Context, addr string) error {
	if _, err := v.conn.GetBalance(ctx, addr); err != nil { // want `v.conn is used \(v.conn.GetBalance\) without holding v.mu, which guards it at its other sites \(accessed under v.mu at 4 of 5 sites: seed.go:\d+, seed.go:\d+, seed.go:\d+, seed.go:\d+\); fix: .*guard.Serial`
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	_, err := v.conn.Query(ctx, "reserve")
	return err
}

// Reset writes count outside the lock.
func (v *Validator) Reset() {
	v.count = 0 // want `v.count is written without holding v.mu`
}

// Watch reads last in a goroutine, after the lock is gone.
func (v *Validator) Watch(out chan<- string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	go func() {
		out <- v.last // want `v.last is read in a goroutine that does not hold v.mu`
	}()
}

// Branchy holds the lock on one path only.
func (v *Validator) Branchy(b bool) int {
	if b {
		v.mu.Lock()
		defer v.mu.Unlock()
	}
	return v.phase // want `v.phase is read without holding v.mu`
}

// ReleaseEarly releases before the read.
func (v *Validator) ReleaseEarly() int {
	v.mu.Lock()
	v.mu.Unlock()
	return v.epoch // want `v.epoch is read without holding v.mu`
}

// A package-level mutex guards a package-level table's owner.
var regMu sync.Mutex

type registry struct{ items map[string]int }

var reg = &registry{items: map[string]int{}}

func Put(k string)      { regMu.Lock(); reg.items[k] = 1; regMu.Unlock() }
func Del(k string)      { regMu.Lock(); delete(reg.items, k); regMu.Unlock() }
func Get(k string) int  { regMu.Lock(); defer regMu.Unlock(); return reg.items[k] }
func Peek(k string) int { return reg.items[k] } // want `reg.items is read without holding regMu`
