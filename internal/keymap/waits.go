package keymap

import (
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// Wait is one caller's wait, as a [Waits] list holds it: when it began.
// An owner embeds it in its waiter record (or allocates one) only on the
// slow path, when a caller must block, so an uncontended call reads no
// clock.
type Wait struct {
	fifo.Node[Wait]
	// Since is when the wait began: set by [Waits.Start], under the lock
	// that guards the list, so the list is in the order of Since.
	Since time.Time
}

// Waits is the list of the callers waiting now on one lock's resources,
// oldest first, whatever they wait for (any key, any lane): its head is
// the oldest current waiter, so the oldest wait is O(1). The owner guards
// it with its lock. The zero value is empty.
type Waits struct {
	l fifo.List[Wait, *Wait]
}

// Start stamps w with the time now and appends it. Because every Start
// runs under the owner's lock and the clock is monotonic, the list stays
// sorted by Since.
func (ws *Waits) Start(w *Wait) {
	w.Since = time.Now()
	ws.l.PushBack(w)
}

// End takes w, which must be in ws, out of it. It reads no clock.
func (ws *Waits) End(w *Wait) { ws.l.Remove(w) }

// Len returns the number of waits in progress.
func (ws *Waits) Len() int64 { return int64(ws.l.Len()) }

// Oldest returns when the oldest wait in progress began, and false when
// nobody waits.
func (ws *Waits) Oldest() (time.Time, bool) {
	if w := ws.l.Front(); w != nil {
		return w.Since, true
	}
	return time.Time{}, false
}

// OldestWait turns the earliest start of a wait in progress (the zero
// time when nobody waits) into how long it has lasted at now: 0 when
// nobody waits.
func OldestWait(oldest, now time.Time) time.Duration {
	if oldest.IsZero() {
		return 0
	}
	return max(now.Sub(oldest), 0)
}

// Earlier returns the earlier of a and b, a zero time standing for "none".
func Earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
