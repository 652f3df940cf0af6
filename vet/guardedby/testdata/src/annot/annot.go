// Package annot uses gVisor checklocks annotations.
package annot

import "sync"

type S struct {
	mu sync.Mutex
	// +checklocks:mu
	x int
	y int // +checklocks:mu
	z int
}

func (s *S) A() { s.mu.Lock(); s.x++; s.mu.Unlock() }

// B forgets the lock: annotated fields are reported with one guarded site.
func (s *S) B() int {
	return s.x + s.y // want `s.x is read without holding s.mu` `s.y is read without holding s.mu`
}

// C is skipped.
//
// +checklocksignore
func (s *S) C() int { return s.x }

// D is called with the lock held.
//
// +checklocks:s.mu
func (s *S) D() int { return s.x + s.y }

// E acquires; the annotation is ignored without harm.
//
// +checklocksacquire:s.mu
func (s *S) E() { s.mu.Lock(); s.z++ }

// +checklocksrelease:s.mu
func (s *S) F() { s.z++; s.mu.Unlock() }

func (s *S) G() { s.mu.Lock(); s.z++; s.mu.Unlock() }
