package conctest

import "sync"

// Tracker counts calls in flight and remembers the most seen at once.
// The zero value is ready to use.
type Tracker struct {
	mu    sync.Mutex
	cur   int
	max   int
	total int
}

// Enter records one call entering and returns the function that records
// it leaving. Call the returned function exactly once, usually with defer:
//
//	defer tr.Enter()()
func (t *Tracker) Enter() (leave func()) {
	t.mu.Lock()
	t.cur++
	t.total++
	if t.cur > t.max {
		t.max = t.cur
	}
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.cur--
			t.mu.Unlock()
		})
	}
}

// Current reports the calls in flight now.
func (t *Tracker) Current() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur
}

// Max reports the most calls that were ever in flight at once.
func (t *Tracker) Max() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.max
}

// Total reports how many calls have entered in all.
func (t *Tracker) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}
