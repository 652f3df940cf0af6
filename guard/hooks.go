package guard

import (
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
)

// report calls the OnWait hooks in h with how long the caller waited since
// since; the list is loaded, and the clock read, only by a caller that
// queued, and only when there is a hook. If a hook panics, undo (which
// gives back what the caller was just granted) runs before the panic goes
// on, so a panicking hook never leaves the guard held.
func report(h *fifo.Hooks, since int64, undo func()) {
	if h.Len() == 0 {
		return
	}
	ok := false
	defer func() {
		if !ok {
			undo()
		}
	}()
	h.Call(since)
	ok = true
}

// addHook is OnWait's body; method names the caller for its panic.
func addHook(h *fifo.Hooks, method string, fn func(time.Duration)) (stop func()) {
	if fn == nil {
		panic("guard: " + method + " with nil func")
	}
	return h.Add(fn)
}
