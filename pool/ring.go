package pool

// ring is the group's hand-off queue: a fixed-size FIFO of admitted tasks
// not yet started. Its size is set once, at New; a ring of size 0 is
// always full. It is not safe for concurrent use: the group's mu guards
// it.
type ring struct {
	buf  []Task
	head int // index of the oldest task
	n    int // tasks in the ring
}

func newRing(size int) ring {
	if size == 0 {
		return ring{}
	}
	return ring{buf: make([]Task, size)}
}

// len returns the number of tasks in the ring.
func (r *ring) len() int { return r.n }

// cap returns the ring's size.
func (r *ring) cap() int { return len(r.buf) }

// full reports whether push has no room.
func (r *ring) full() bool { return r.n == len(r.buf) }

// push appends fn after the newest task. The caller checks full first.
func (r *ring) push(fn Task) {
	r.buf[(r.head+r.n)%len(r.buf)] = fn
	r.n++
}

// pop removes and returns the oldest task. The caller checks len first.
func (r *ring) pop() Task {
	fn := r.buf[r.head]
	r.buf[r.head] = nil // the ring must not keep a finished task's closure alive
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return fn
}
