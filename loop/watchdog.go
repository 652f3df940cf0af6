package loop

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"time"
)

// Slow is the watchdog's report on a handler that has run longer than the
// threshold (reported at most a quarter threshold late). A handler that
// keeps running is reported again each time its running time doubles (at
// 1, 2, 4, ... times the threshold).
type Slow struct {
	// Name is the handler's name: the one given to DoNamed or PostNamed,
	// otherwise its function and source position (for an Offload result,
	// the then function's).
	Name string
	// Running is how long the handler has run so far, at least: the
	// watchdog times a handler from when it first sees it running, which
	// is when it starts on an idle loop and at most a quarter threshold
	// after it starts on a busy one.
	Running time.Duration
	// Stack is the loop goroutine's stack when the report was made: it
	// shows the call the handler is blocked in.
	Stack string
	// Report counts the reports on this handler: 1, 2, 3...
	Report int
}

// logSlow is the default slow hook: a warning on the loop's logger.
func (l *Loop[S]) logSlow(s Slow) {
	l.cfg.logger.Warn("loop: slow handler blocks the loop",
		"handler", s.Name, "running", s.Running, "report", s.Report, "stack", s.Stack)
}

// watchdog reports handlers that run longer than the threshold.
//
// The loop reads no clock; the watchdog times handlers by sight. While the
// loop is busy it looks every quarter threshold (or sooner, when a report
// is due) and notes when it first saw each handler. A handler it still
// sees one threshold after that has run at least the threshold, and at
// most a quarter threshold more: that is when it is reported. When the
// loop has been idle for a whole look, the watchdog parks until the loop
// kicks it as the next handler starts (then it sees that handler start),
// so an idle loop costs nothing and a busy one about four wake-ups per
// threshold.
func (l *Loop[S]) watchdog() {
	defer l.wg.Done()
	slow := l.cfg.slow
	tick := max(slow/4, 1)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		seen  uint64        // curSeq at the previous look
		first time.Time     // when handler `seen` was first seen
		next  time.Duration // report handler `seen` when it has run this long
		count int           // reports on handler `seen` so far
	)
	for {
		l.curMu.Lock()
		busy, seq := l.busy.Load(), l.curSeq
		if !busy && seq == seen {
			l.wdParked = true
			l.curMu.Unlock()
			select {
			case <-l.kick:
				continue
			case <-l.stopWD:
				return
			}
		}
		l.curMu.Unlock()
		now := time.Now()
		if seq != seen {
			seen, first, next, count = seq, now, slow, 0
		}
		wait := tick
		if busy {
			running := now.Sub(first)
			if running >= next {
				if l.report(seq, running, count+1) {
					count++
				}
				// Next report once the running time has doubled past now
				// (saturating: a handler stuck for centuries goes quiet).
				for running >= next && next < math.MaxInt64/2 {
					next *= 2
				}
				if running >= next {
					next = math.MaxInt64
				}
			}
			wait = min(next-running, tick)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-l.stopWD:
			timer.Stop()
			return
		}
	}
}

// report reports handler seq if it is still running, and says whether it
// did.
func (l *Loop[S]) report(seq uint64, running time.Duration, n int) bool {
	l.curMu.Lock()
	if !l.busy.Load() || l.curSeq != seq {
		l.curMu.Unlock()
		return false
	}
	t := l.cur
	l.curMu.Unlock()
	stack := goroutineStack(l.gid.Load())
	l.slow.Add(1)
	s := Slow{Name: t.name(), Running: running, Stack: stack, Report: n}
	l.snapshot(s)
	if l.cfg.onSlow != nil {
		l.cfg.onSlow(s)
	} else {
		l.logSlow(s)
	}
	return true
}

// name names a handler for the watchdog and for a *PanicError's Op.
func (t task[S]) name() string {
	switch lb := t.label.(type) {
	case string:
		return lb
	case nil:
		return funcName(t.fn)
	default:
		return funcName(lb)
	}
}

// funcName names a function by its symbol and source position, e.g.
// "main.score.func2 (score.go:41)".
func funcName(fn any) string {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "?"
	}
	f := runtime.FuncForPC(v.Pointer())
	if f == nil {
		return "?"
	}
	file, line := f.FileLine(f.Entry())
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	return fmt.Sprintf("%s (%s:%d)", f.Name(), file, line)
}
