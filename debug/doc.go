// Package debug shows what sluice primitives are doing right now: a
// registry of named primitives, a live HTML page and JSON over HTTP, and an
// expvar variable.
//
// Use it to see, in a running process, which semaphore, pool, gate, loop or
// lock is full, who waits and for how long, and what went wrong recently
// (a gate's overdue reads, a loop watchdog's reports with the handler's
// stack). Register each primitive once, under a name, and mount the
// handler where only operators can reach it:
//
//	reg := debug.NewRegistry()
//	slots := sem.New(10)
//	if err := reg.Register("slots", slots); err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("/debug/sluice/", http.StripPrefix("/debug/sluice", reg.Handler()))
//	go http.Serve(ln, mux) // ln listening on 127.0.0.1
//
// The exporters (github.com/sluice-go/sluice/prom and .../otel, modules of
// their own) read the same [Registry.Snapshot], so one registry feeds the
// page, expvar, Prometheus and OpenTelemetry.
//
// # What it reads
//
// A primitive is any value with a method Stats() returning a struct. The
// registry calls it by reflection at snapshot time, so generic types
// (keyed.Mutex[K], queue.Queue[T], loop.Loop[S]) need no adapter, and
// turns every number, bool and time.Duration field into a [Figure], in
// struct order, marked as a running total or a gauge by the README's Stats
// vocabulary. A primitive with a method OnWait(func(time.Duration)) func()
// also gets a wait [Histogram], fed by a hook Register adds and Unregister
// removes. Events come from [Registry.GateHook], [Registry.SlowHook] and
// [Registry.Record].
//
// # Invariants
//
//   - A name holds one primitive, and a primitive is registered under one
//     name per registry; Register refuses the rest with an error.
//   - Snapshot never blocks on a primitive's waiters or holders and never
//     panics for a primitive being used or closed concurrently: each Stats
//     is a primitive's short internal lock, called without the registry's
//     lock held.
//   - Snapshot shows names, figures and events only: never a key, a value
//     or a client of a primitive.
//   - The handler binds nowhere itself; it serves whoever reaches the
//     listener it is mounted on. It loads nothing from outside the process.
//
// # Cost
//
// Nothing until something reads: a registered primitive runs as fast as an
// unregistered one, except that each caller that had to wait also adds its
// wait to the histogram (two atomic adds, its bucket and the sum, on its own
// goroutine, after admission). A Snapshot costs one reflective Stats call
// and a few small allocations per primitive; a page refresh is one Snapshot.
// Each entry keeps its last 32 events.
//
// Importing the package imports expvar, which registers /debug/vars on
// http.DefaultServeMux (as importing expvar always does).
package debug
