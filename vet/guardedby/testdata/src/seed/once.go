package seed

import "sync"

// Tally is changed under mu everywhere but in Sloppy, which touches it
// three times: one finding, at the first access.
type Tally struct {
	mu sync.Mutex
	n  int
}

func (t *Tally) A() { t.mu.Lock(); t.n++; t.mu.Unlock() }
func (t *Tally) B() { t.mu.Lock(); t.n += 2; t.mu.Unlock() }
func (t *Tally) C() { t.mu.Lock(); t.n = 0; t.mu.Unlock() }
func (t *Tally) D() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}
func (t *Tally) E() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n * 2
}
func (t *Tally) F() { t.mu.Lock(); t.n--; t.mu.Unlock() }
func (t *Tally) G() { t.mu.Lock(); t.n *= 3; t.mu.Unlock() }
func (t *Tally) H() { t.mu.Lock(); t.n /= 3; t.mu.Unlock() }
func (t *Tally) I() { t.mu.Lock(); t.n -= 4; t.mu.Unlock() }

func (t *Tally) Sloppy() {
	t.n = 1 // want `t.n is written without holding t.mu`
	t.n++
}
