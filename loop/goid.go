package loop

import (
	"runtime"
	"strconv"
	"strings"
)

// Goroutine introspection: which goroutine is the loop's, and what is it
// doing.
//
// The loop tells a handler calling back into its own loop (a Do that would
// wait for itself, a Post that must not wait for room) by the goroutine it
// runs on, not by a context token as package guard does: handlers are
// func(*S) and receive no ctx, so the only thing a nested call carries from
// its handler is the goroutine it runs on.

// goid returns the calling goroutine's id, read from the first line of its
// stack trace ("goroutine 18 [running]:"). The runtime offers no cheaper
// way; the loop reads it once, at start, and otherwise only on paths that
// are about to fail or wait.
func goid() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		id, err := strconv.ParseUint(s[:i], 10, 64)
		if err == nil {
			return id
		}
	}
	return 0
}

// onLoop reports whether the caller runs on the loop goroutine, that is,
// inside one of its handlers.
//
// Reading the goroutine id costs a stack trace (microseconds), so first a
// cheap test: a handler's stack holds the return address of the fn call
// in (*Loop).invoke, recorded at start. If the caller's stack has no such
// frame it is not in a handler of any Loop of this shape. If it has one,
// the goroutine id says whether the handler is this loop's. A stack too
// deep to search goes straight to the id.
func (l *Loop[S]) onLoop() bool {
	id := l.gid.Load()
	if id == 0 {
		return false
	}
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	if n < len(pcs) {
		found := false
		for _, pc := range pcs[:n] {
			if pc == l.callPC {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return goid() == id
}

// goroutineStack returns the stack of goroutine id. Go has no call that
// dumps another goroutine's stack, so this dumps all of them
// (runtime.Stack with all=true, which briefly stops the world) and keeps
// the one whose header names id. The watchdog only does this for a handler
// that is already slow.
func goroutineStack(id uint64) string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	head := "goroutine " + strconv.FormatUint(id, 10) + " ["
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, head) {
			return g
		}
	}
	return "(loop goroutine not found)"
}
