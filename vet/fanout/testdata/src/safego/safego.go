// Package safego is a helper package that starts goroutines for its
// callers, one unbounded, one bounded.
package safego

// Go runs f on a new goroutine, recovering its panics.
func Go(f func()) {
	go func() {
		defer func() { _ = recover() }()
		f()
	}()
}

// Limited runs f on a new goroutine once one of its slots is free.
type Limited struct{ slots chan struct{} }

func (l *Limited) Go(f func()) {
	l.slots <- struct{}{}
	go func() {
		defer func() { <-l.slots }()
		f()
	}()
}
