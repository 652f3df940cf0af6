package pool

import (
	"context"
	"errors"
	"testing"
)

// taskN returns a task that returns an error naming n, so that tests can
// tell the tasks in a ring apart.
func taskN(n int) Task {
	err := errors.New(string(rune('a' + n)))
	return func(context.Context) error { return err }
}

func name(fn Task) string { return fn(context.Background()).Error() }

func TestRingFIFOAcrossWrap(t *testing.T) {
	r := newRing(3)
	if r.cap() != 3 || r.len() != 0 || r.full() {
		t.Fatalf("new ring: cap %d len %d full %v", r.cap(), r.len(), r.full())
	}
	want := ""
	got := ""
	next := 0
	// Push and pop in an uneven rhythm, so that head wraps around several
	// times at different fill levels.
	for round := range 10 {
		for range 1 + round%3 {
			if r.full() {
				break
			}
			r.push(taskN(next))
			want += string(rune('a' + next))
			next = (next + 1) % 26
		}
		for range 1 + (round+1)%2 {
			if r.len() == 0 {
				break
			}
			got += name(r.pop())
		}
	}
	for r.len() > 0 {
		got += name(r.pop())
	}
	if got != want {
		t.Fatalf("popped %q, pushed %q", got, want)
	}
}

func TestRingFullAndLen(t *testing.T) {
	r := newRing(2)
	r.push(taskN(0))
	if r.full() || r.len() != 1 {
		t.Fatalf("one in a ring of 2: full %v len %d", r.full(), r.len())
	}
	r.push(taskN(1))
	if !r.full() || r.len() != 2 {
		t.Fatalf("two in a ring of 2: full %v len %d", r.full(), r.len())
	}
	if got := name(r.pop()); got != "a" {
		t.Fatalf("pop = %q, want a", got)
	}
	r.push(taskN(2)) // wraps to index 0
	if got := name(r.pop()) + name(r.pop()); got != "bc" {
		t.Fatalf("pops = %q, want bc", got)
	}
	if r.len() != 0 || r.full() {
		t.Fatalf("drained: len %d full %v", r.len(), r.full())
	}
}

// A popped slot is cleared, so the ring does not keep a finished task (and
// what its closure holds) alive.
func TestRingPopClearsSlot(t *testing.T) {
	r := newRing(2)
	r.push(taskN(0))
	r.push(taskN(1))
	r.pop()
	if r.buf[0] != nil {
		t.Fatal("the popped slot still holds its task")
	}
}

// A ring of size 0 (WithQueueSize(0)) is always full and holds nothing.
func TestRingZero(t *testing.T) {
	r := newRing(0)
	if !r.full() || r.cap() != 0 || r.len() != 0 {
		t.Fatalf("zero ring: full %v cap %d len %d", r.full(), r.cap(), r.len())
	}
}
