// Package fifo is the waiter queue every sluice primitive keeps: a doubly
// linked list, oldest first, whose elements carry their own links, so that
// pushing, popping and removing a cancelled waiter from the middle are O(1)
// and allocate nothing.
//
// An element type embeds [Node]:
//
//	type waiter struct {
//		fifo.Node[waiter]
//		...
//	}
//
//	var q fifo.List[waiter, *waiter]
//
// A List is not safe for concurrent use: its owner guards it with its own
// lock. An element is in at most one list at a time.
//
// [Hooks] is the other half of a primitive's waiter bookkeeping: the
// functions its OnWait method adds, called with each admitted waiter's
// wait. The enqueue time a waiter is timed from is the element's own
// field: only waiters that queue pay for the clock read.
package fifo

// Node is what an element of a [List] embeds: its links. The zero value
// is an element in no list.
type Node[T any] struct {
	prev, next *T
	in         bool
}

// node is promoted to the embedding type, which is how a List reaches the
// links of its elements.
func (n *Node[T]) node() *Node[T] { return n }

// Next returns the element after this one in its list, or nil.
func (n *Node[T]) Next() *T { return n.next }

// Linked reports whether the element is in a list now.
func (n *Node[T]) Linked() bool { return n.in }

// Elem is the constraint on a List's element pointer type: a pointer to a
// type that embeds Node.
type Elem[T any] interface {
	*T
	node() *Node[T]
}

// List is a FIFO of elements of type T. The zero value is an empty list.
type List[T any, P Elem[T]] struct {
	head, tail *T
	n          int
}

// Len returns the number of elements in the list.
func (q *List[T, P]) Len() int { return q.n }

// Front returns the oldest element, or nil if the list is empty.
func (q *List[T, P]) Front() *T { return q.head }

// PushBack appends e, which must not be in a list.
func (q *List[T, P]) PushBack(e *T) {
	l := P(e).node()
	if l.in {
		panic("fifo: PushBack of an element already in a list")
	}
	l.prev, l.next, l.in = q.tail, nil, true
	if q.tail == nil {
		q.head = e
	} else {
		P(q.tail).node().next = e
	}
	q.tail = e
	q.n++
}

// Remove takes e, which must be in this list, out of it.
func (q *List[T, P]) Remove(e *T) {
	l := P(e).node()
	if !l.in {
		panic("fifo: Remove of an element in no list")
	}
	if l.prev == nil {
		q.head = l.next
	} else {
		P(l.prev).node().next = l.next
	}
	if l.next == nil {
		q.tail = l.prev
	} else {
		P(l.next).node().prev = l.prev
	}
	l.prev, l.next, l.in = nil, nil, false
	q.n--
}

// PopFront removes and returns the oldest element, or nil if the list is
// empty.
func (q *List[T, P]) PopFront() *T {
	e := q.head
	if e != nil {
		q.Remove(e)
	}
	return e
}
