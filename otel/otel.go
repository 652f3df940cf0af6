// Package otel exports the sluice primitives registered in a
// [debug.Registry] through the OpenTelemetry metric API.
//
// [Register] creates observable instruments on a [metric.Meter] and
// registers one callback that reads the registry's
// [debug.Registry.Snapshot] at each collection and observes every figure:
//
//	reg := debug.NewRegistry()
//	reg.Register("db", sem.New(8))
//	r, err := otel.Register(provider.Meter("sluice"), reg)
//	...
//	defer r.Unregister()
//
// # Instruments
//
// Every number and bool of a primitive's Stats is one instrument,
// sluice.<kind>.<field>: the kind lowercased (sluice.sem...,
// sluice.keyed.mutex...), the field in snake_case (InUse: in_use,
// ReadWaiting: read_waiters), Waiting said "waiters" and sem's Capacity
// "permits". By the OpenTelemetry conventions names carry no unit and no
// "_total":
//
//   - a running total (Admitted, Cancelled, Rejected, TimedOut, Panicked,
//     ...; see [debug.Figure]) is an Int64ObservableCounter:
//     sluice.sem.admitted;
//   - a duration is a Float64ObservableGauge in seconds, unit "s":
//     sluice.sem.oldest_wait;
//   - every other figure is an Int64ObservableGauge, a bool 0 or 1:
//     sluice.sem.in_use, sluice.sem.closed.
//
// An exporter to Prometheus that adds unit and counter suffixes (the
// OpenTelemetry Prometheus exporter does) turns these into the names of
// the prom module: sluice_sem_admitted_total, sluice_sem_oldest_wait_seconds.
//
// Each observation has one attribute, "name": the name the primitive was
// registered under. Keys (of keyed.Mutex, keyed.Cache, ...) are never
// attributes, so the number of series is bounded by the number of
// registered primitives. A primitive unregistered from the registry is not
// observed again, so its series end.
//
// # Waits
//
// Observable instruments cannot be histograms, and the registry does not
// hand out its primitives for a synchronous histogram to hook, so the wait
// histogram of a primitive that has OnWait is exported as two observable
// counters: sluice.<kind>.waits, the callers that had to wait and were
// then admitted, and sluice.<kind>.wait_time, the seconds they waited in
// all (unit "s"). Their rates give the mean wait; for the distribution,
// use the prom module's sluice_<kind>_wait_seconds histogram or the debug
// page.
//
// # Kinds registered later
//
// The SDK creates instruments and registers callbacks under the lock it
// holds while collecting, so neither can happen inside a callback, and a
// callback observes only the instruments it was registered with. Register
// creates the instruments of every kind in the registry and registers one
// callback over them. A primitive of a kind first registered after that is
// noticed by the next collection, which starts a goroutine that creates
// the new kinds' instruments and registers one more callback for those
// alone: their series appear from the collection after that. (Primitives
// of a kind already seen appear at once.) Each instrument belongs to one
// callback, so no collection observes a series twice; each callback reads
// the registry's Snapshot, so register the primitives before calling
// Register to have one callback, and all of them in the first collection.
//
// Besides the primitives' figures, sluice.registered is a gauge of how
// many primitives the registry holds; it also keeps the callback
// registered while the registry is empty, so that it notices the first
// primitive.
//
// # Collections and Close
//
// The callback calls each primitive's Stats, a short internal lock, and
// never waits for a primitive's waiters or holders: collecting while
// primitives are used, closed, registered or unregistered neither blocks
// nor panics.
package otel

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"

	otelapi "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"

	"github.com/sluice-go/sluice/debug"
)

// Register creates instruments on meter for the primitives registered in
// reg and registers a callback that observes them at every collection. The
// returned Registration's Unregister removes the callbacks; the instruments
// stay with the meter (the API cannot delete an instrument) and are simply
// no longer observed. Register once per registry and meter: two
// registrations observe every series twice.
//
// It returns an error, and registers nothing, if the meter refuses an
// instrument or the callback. It panics if meter or reg is nil.
func Register(meter metric.Meter, reg *debug.Registry) (metric.Registration, error) {
	switch {
	case meter == nil:
		panic("otel: Register with nil metric.Meter")
	case reg == nil:
		panic("otel: Register with nil *debug.Registry")
	}
	x := &exporter{meter: meter, reg: reg, byName: make(map[string]instrument)}
	x.known.Store(&map[instKey]bool{})
	x.mu.Lock()
	defer x.mu.Unlock()
	registered, err := meter.Int64ObservableGauge("sluice.registered",
		metric.WithDescription("Primitives registered in the sluice debug registry."))
	if err != nil {
		return nil, err
	}
	x.registered = registered
	if err := x.syncLocked(true); err != nil {
		return nil, err
	}
	return x, nil
}

// exporter is one Register: the instruments made so far and the callbacks
// that observe them.
type exporter struct {
	embedded.Registration

	meter      metric.Meter
	reg        *debug.Registry
	registered metric.Int64ObservableGauge

	// mu serializes syncLocked and Unregister. No callback takes it:
	// syncLocked calls into the SDK, which takes the lock it collects under.
	mu     sync.Mutex
	byName map[string]instrument // every instrument made, never fewer
	regs   []metric.Registration // one per group, the first one's first
	// known holds every key some group observes (or whose instrument the
	// meter refused): a callback that meets another key kicks a sync. The
	// map is never changed once stored.
	known atomic.Pointer[map[instKey]bool]

	// kickMu guards stopped, syncing and the Add of wg; it is never held
	// while calling into the SDK, so a callback may take it.
	kickMu  sync.Mutex
	stopped bool
	syncing bool
	wg      sync.WaitGroup // the sync goroutine, if one runs
}

// group is the instruments of one callback: exactly those it was
// registered with (the SDK drops an observation of any other). Groups are
// disjoint, and never changed once registered.
type group struct {
	insts map[instKey]instrument
	first bool // the group Register made: it also observes sluice.registered
}

// instKey is what an instrument observes: a field of a kind, or a kind's
// waits (field waitsField) or wait time (field waitTimeField). A key
// allocates nothing, unlike the instrument's name.
type instKey struct{ kind, field string }

// The fields of the wait counters' keys: no Go field name has a space.
const (
	waitsField    = "wait count"
	waitTimeField = "wait time"
)

// instrument is one observable instrument: an int64 or a float64 one, or
// neither for one the meter refused.
type instrument struct {
	i64 metric.Int64Observable
	f64 metric.Float64Observable
}

func (in instrument) observable() metric.Observable {
	switch {
	case in.i64 != nil:
		return in.i64
	case in.f64 != nil:
		return in.f64
	}
	return nil
}

func (in instrument) observe(o metric.Observer, v float64, opt metric.ObserveOption) {
	switch {
	case in.i64 != nil:
		// Every non-duration figure of a sluice primitive is an integer or
		// a bool; a float field of another type is rounded.
		o.ObserveInt64(in.i64, int64(math.Round(v)), opt)
	case in.f64 != nil:
		o.ObserveFloat64(in.f64, v, opt)
	}
}

// Unregister removes the callbacks. It waits for a sync goroutine that is
// running, and it is idempotent.
func (x *exporter) Unregister() error {
	x.kickMu.Lock()
	x.stopped = true
	x.kickMu.Unlock()
	x.wg.Wait() // no Add after stopped: see kick
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for _, r := range x.regs {
		errs = append(errs, r.Unregister())
	}
	x.regs = nil
	return errors.Join(errs...)
}

// syncLocked creates the instruments of every figure in the registry that
// has none yet and registers a callback over them (first: the one Register
// makes, registered even with no primitive, so that some callback runs and
// notices the first one).
func (x *exporter) syncLocked(first bool) error {
	known := *x.known.Load()
	g := &group{insts: make(map[instKey]instrument), first: first}
	refused := make(map[instKey]bool)
	var errs []error
	add := func(k instKey, name string, mk func() (instrument, error)) {
		if known[k] || refused[k] {
			return
		}
		if _, ok := g.insts[k]; ok {
			return
		}
		in, ok := x.byName[name] // two kinds that give one name share it
		if !ok {
			var err error
			if in, err = mk(); err != nil {
				// Remembered as known, so that it is reported once, not at
				// every collection.
				errs = append(errs, err)
				refused[k] = true
				return
			}
			x.byName[name] = in
		}
		g.insts[k] = in
	}
	for _, e := range x.reg.Snapshot() {
		for _, f := range e.Figures {
			add(instKey{e.Kind, f.Field}, instrumentName(e.Kind, f), func() (instrument, error) {
				return x.newInstrument(e.Kind, f)
			})
		}
		if e.Waits != nil {
			add(instKey{e.Kind, waitsField}, waitsName(e.Kind), func() (instrument, error) {
				c, err := x.meter.Int64ObservableCounter(waitsName(e.Kind), metric.WithDescription(waitsHelp))
				return instrument{i64: c}, err
			})
			add(instKey{e.Kind, waitTimeField}, waitTimeName(e.Kind), func() (instrument, error) {
				c, err := x.meter.Float64ObservableCounter(waitTimeName(e.Kind), metric.WithDescription(waitTimeHelp), metric.WithUnit("s"))
				return instrument{f64: c}, err
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		if first {
			return err // Register: registers nothing
		}
		otelapi.Handle(err) // a collection's sync: the rest still works
	}

	var list []metric.Observable
	if first {
		list = append(list, x.registered)
	}
	for _, in := range g.insts {
		list = append(list, in.observable())
	}
	if len(list) > 0 {
		r, err := x.meter.RegisterCallback(x.callback(g), list...)
		if err != nil {
			if first {
				return err
			}
			otelapi.Handle(err)
			return nil // not known: the next collection tries again
		}
		x.regs = append(x.regs, r)
	}
	if len(g.insts)+len(refused) > 0 {
		next := make(map[instKey]bool, len(known)+len(g.insts)+len(refused))
		for k := range known {
			next[k] = true
		}
		for k := range g.insts {
			next[k] = true
		}
		for k := range refused {
			next[k] = true
		}
		x.known.Store(&next)
	}
	return nil
}

func (x *exporter) newInstrument(kind string, f debug.Figure) (instrument, error) {
	name := instrumentName(kind, f)
	desc := metric.WithDescription(help(kind, f.Field))
	switch {
	case f.Counter && f.Seconds:
		c, err := x.meter.Float64ObservableCounter(name, desc, metric.WithUnit("s"))
		return instrument{f64: c}, err
	case f.Counter:
		c, err := x.meter.Int64ObservableCounter(name, desc)
		return instrument{i64: c}, err
	case f.Seconds:
		g, err := x.meter.Float64ObservableGauge(name, desc, metric.WithUnit("s"))
		return instrument{f64: g}, err
	default:
		g, err := x.meter.Int64ObservableGauge(name, desc)
		return instrument{i64: g}, err
	}
}

// callback returns the callback of group g: it observes g's instruments
// for every primitive registered now, and kicks a sync if one has a figure
// no group observes.
func (x *exporter) callback(g *group) metric.Callback {
	return func(_ context.Context, o metric.Observer) error {
		entries := x.reg.Snapshot()
		if g.first {
			o.ObserveInt64(x.registered, int64(len(entries)))
		}
		known := *x.known.Load()
		missing := false
		for _, e := range entries {
			var opt metric.ObserveOption // made for the first figure g observes
			observe := func(k instKey, v float64) {
				in, ok := g.insts[k]
				if !ok {
					missing = missing || !known[k]
					return
				}
				if opt == nil {
					opt = metric.WithAttributeSet(attribute.NewSet(attribute.String("name", e.Name)))
				}
				in.observe(o, v, opt)
			}
			for _, f := range e.Figures {
				observe(instKey{e.Kind, f.Field}, f.Value)
			}
			if e.Waits != nil {
				observe(instKey{e.Kind, waitsField}, float64(e.Waits.Count))
				observe(instKey{e.Kind, waitTimeField}, e.Waits.Sum)
			}
		}
		if missing {
			x.kick()
		}
		return nil
	}
}

// kick starts a goroutine that syncs the instruments, unless one runs or
// Unregister has been called.
func (x *exporter) kick() {
	x.kickMu.Lock()
	defer x.kickMu.Unlock()
	if x.stopped || x.syncing {
		return
	}
	x.syncing = true
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.mu.Lock()
		x.kickMu.Lock()
		stopped := x.stopped
		// Cleared before the sync reads the registry: a kind registered
		// after that read kicks again at the next collection.
		x.syncing = false
		x.kickMu.Unlock()
		var err error
		if !stopped {
			err = x.syncLocked(false)
		}
		x.mu.Unlock()
		if err != nil {
			otelapi.Handle(err)
		}
	}()
}
