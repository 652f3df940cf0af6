package debug

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/loop"
)

// maxEvents is how many events each entry keeps.
const maxEvents = 32

// Record adds ev to the events of the primitive registered under name,
// which keeps its last 32. A zero ev.At is set to now. An event for a name
// not registered (yet, or any more) is dropped. Record is safe to call from
// any goroutine, including from a primitive's hook. It panics if name is
// empty (no primitive can have that name).
func (r *Registry) Record(name string, ev Event) {
	r.check("Record")
	if name == "" {
		panic("debug: Record with an empty name")
	}
	e := r.lookup(name)
	if e == nil {
		return
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	e.evMu.Lock()
	e.events[e.evNext] = ev
	e.evNext = (e.evNext + 1) % maxEvents
	e.evLen = min(e.evLen+1, maxEvents)
	e.evMu.Unlock()
}

// recent returns the entry's events, oldest first; nil if none.
func (e *entry) recent() []Event {
	e.evMu.Lock()
	defer e.evMu.Unlock()
	if e.evLen == 0 {
		return nil
	}
	out := make([]Event, e.evLen)
	start := (e.evNext - e.evLen + maxEvents) % maxEvents
	for i := range out {
		out[i] = e.events[(start+i)%maxEvents]
	}
	return out
}

// GateHook returns a hook for [gate.WithHook] that records each of the
// gate's events (overdue reads, late results, panics) under name:
//
//	g := gate.New(gate.WithHook(reg.GateHook("store")))
//	reg.Register("store", g)
//
// The event's Kind is the gate event's kind ("overdue", "late",
// "panicked"), its Stack the panic's stack for a panic. It panics if name
// is empty.
func (r *Registry) GateHook(name string) func(gate.Event) {
	r.check("GateHook")
	if name == "" {
		panic("debug: GateHook with an empty name")
	}
	return func(ev gate.Event) {
		r.Record(name, gateEvent(ev))
	}
}

func gateEvent(ev gate.Event) Event {
	out := Event{Kind: ev.Kind.String()}
	if !ev.Started.IsZero() {
		out.At = ev.Started.Add(ev.Elapsed)
	}
	msg := ev.Lane
	if ev.Op != "" {
		msg += " " + ev.Op
	}
	msg += fmt.Sprintf(": after %v", ev.Elapsed)
	if ev.Limit > 0 {
		msg += fmt.Sprintf(" (deadline %v)", ev.Limit)
	}
	if ev.Err != nil {
		msg += ": " + ev.Err.Error()
		if pe, ok := errors.AsType[*gate.PanicError](ev.Err); ok {
			out.Stack = string(pe.Stack)
		}
	}
	out.Message = msg
	return out
}

// SlowHook returns a hook for [loop.WithSlowHook] that records each
// watchdog report under name, with the handler's name and the loop
// goroutine's stack:
//
//	l := loop.New(state, loop.WithSlowHook(reg.SlowHook("scores")))
//	reg.Register("scores", l)
//
// It panics if name is empty.
func (r *Registry) SlowHook(name string) func(loop.Slow) {
	r.check("SlowHook")
	if name == "" {
		panic("debug: SlowHook with an empty name")
	}
	return func(s loop.Slow) {
		r.Record(name, Event{
			Kind:    "slow",
			Message: fmt.Sprintf("handler %s running %v (report %d)", s.Name, s.Running, s.Report),
			Stack:   s.Stack,
		})
	}
}
