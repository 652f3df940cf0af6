package debug

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors Register returns; each is wrapped with the detail of the call, so
// test with errors.Is.
var (
	ErrNil       = errors.New("debug: nil primitive")
	ErrNoStats   = errors.New("debug: not a primitive: no method Stats() returning a struct")
	ErrDuplicate = errors.New("debug: duplicate registration")
	ErrEmptyName = errors.New("debug: empty name")
)

// A Registry holds named primitives and reads their Stats on demand. The
// zero Registry is empty and ready to use, as is one from [NewRegistry]; a
// Registry must not be copied after first use. It is safe for concurrent
// use. Its methods panic, naming the method, on a nil *Registry.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*entry
	byPrim map[any]*entry // pointer-like primitives only, to catch the same one twice
	order  []*entry       // sorted by name, so Snapshot needs no sort
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{byName: make(map[string]*entry), byPrim: make(map[any]*entry)}
}

// check panics if r is nil, naming the method called on it.
func (r *Registry) check(method string) {
	if r == nil {
		panic("debug: " + method + " on a nil *Registry")
	}
}

// entry is one registered primitive.
type entry struct {
	name   string
	kind   string
	key    any           // the primitive, when it is pointer-like; else nil
	stats  reflect.Value // the bound Stats method
	layout *layout       // how to read the struct Stats returns
	waits  *histogram    // nil when the primitive has no OnWait
	stop   func()        // removes the OnWait hook; nil when none

	evMu   sync.Mutex
	events [maxEvents]Event // ring: the newest is at (evNext-1) % maxEvents
	evNext int
	evLen  int
}

// waitHooker is a primitive that reports each admitted waiter's wait.
type waitHooker interface {
	OnWait(fn func(wait time.Duration)) (stop func())
}

// addWaitHook adds h.observe as v's OnWait hook and returns its stop, or
// returns nil if v has no OnWait. The method set of an instantiated generic
// type is concrete, so the type assertion finds keyed.Mutex[K]'s too; the
// reflective fallback takes a method whose hook or stop is a named func
// type (OnWait(WaitFunc) Stop).
func addWaitHook(v reflect.Value, h *histogram) (stop func()) {
	if w, ok := v.Interface().(waitHooker); ok {
		if stop = w.OnWait(h.observe); stop == nil {
			stop = func() {}
		}
		return stop
	}
	m := v.MethodByName("OnWait")
	if !m.IsValid() {
		return nil
	}
	t := m.Type()
	if t.NumIn() != 1 || t.NumOut() != 1 {
		return nil
	}
	in, out := t.In(0), t.Out(0)
	if in.Kind() != reflect.Func || in.NumIn() != 1 || in.In(0) != durationType || in.NumOut() != 0 ||
		out.Kind() != reflect.Func || out.NumIn() != 0 || out.NumOut() != 0 {
		return nil
	}
	s := m.Call([]reflect.Value{reflect.ValueOf(h.observe).Convert(in)})[0]
	if s.IsNil() {
		return func() {}
	}
	return func() { s.Call(nil) }
}

// Register adds p under name. p is a sluice primitive, or any value with a
// method Stats() that returns a struct: Snapshot calls it by reflection and
// reads its fields (ints, unsigned ints, floats, bools and time.Duration;
// other fields are skipped), so generic types such as keyed.Mutex[K] and
// queue.Queue[T] work. If p has a method OnWait(func(time.Duration))
// func(), Register adds a hook that feeds the entry's wait histogram;
// Unregister removes it.
//
// Register returns an error, and registers nothing, for an empty name
// ([ErrEmptyName]), a nil p or a nil pointer ([ErrNil]), a p with no such
// Stats method ([ErrNoStats]), and a p already registered here or a name
// already taken ([ErrDuplicate]).
func (r *Registry) Register(name string, p any) error {
	r.check("Register")
	if name == "" {
		return fmt.Errorf("%w: Register(\"\", %T)", ErrEmptyName, p)
	}
	if p == nil {
		return fmt.Errorf("%w: Register(%q, nil)", ErrNil, name)
	}
	v := reflect.ValueOf(p)
	if isNilable(v.Kind()) && v.IsNil() {
		return fmt.Errorf("%w: Register(%q, (%T)(nil))", ErrNil, name, p)
	}
	m := v.MethodByName("Stats")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0).Kind() != reflect.Struct {
		return fmt.Errorf("%w: Register(%q, %T)", ErrNoStats, name, p)
	}
	statsType := m.Type().Out(0)
	e := &entry{
		name:   name,
		kind:   kindOf(reflect.TypeOf(p), statsType),
		stats:  m,
		layout: layoutOf(statsType),
	}
	// Only pointer-like values are keys: they are comparable without a
	// panic, and a copy of a struct value is not "the same primitive".
	switch v.Kind() {
	case reflect.Pointer, reflect.Chan, reflect.UnsafePointer:
		e.key = p
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byName == nil { // the zero Registry
		r.byName = make(map[string]*entry)
		r.byPrim = make(map[any]*entry)
	}
	if old, ok := r.byName[name]; ok {
		return fmt.Errorf("%w: name %q already holds a %s", ErrDuplicate, name, old.kind)
	}
	if e.key != nil {
		if old, ok := r.byPrim[e.key]; ok {
			return fmt.Errorf("%w: this %s is already registered as %q", ErrDuplicate, e.kind, old.name)
		}
	}
	// OnWait only swaps the primitive's hook list; it never calls into the
	// registry, so holding r.mu here cannot deadlock.
	h := new(histogram)
	if stop := addWaitHook(v, h); stop != nil {
		e.waits, e.stop = h, stop
	}
	r.byName[name] = e
	if e.key != nil {
		r.byPrim[e.key] = e
	}
	i, _ := slices.BinarySearchFunc(r.order, name, func(e *entry, name string) int { return strings.Compare(e.name, name) })
	r.order = slices.Insert(r.order, i, e)
	return nil
}

// Unregister removes the primitive registered under name, and its OnWait
// hook, and reports whether there was one. Its recorded events go with it.
func (r *Registry) Unregister(name string) bool {
	r.check("Unregister")
	r.mu.Lock()
	e, ok := r.byName[name]
	if ok {
		delete(r.byName, name)
		if e.key != nil {
			delete(r.byPrim, e.key)
		}
		if i := slices.Index(r.order, e); i >= 0 {
			r.order = slices.Delete(r.order, i, i+1)
		}
	}
	r.mu.Unlock()
	if ok && e.stop != nil {
		e.stop()
	}
	return ok
}

// Snapshot reads every registered primitive's Stats now and returns one
// Entry each, sorted by name. It holds the registry's lock only to copy the
// list, and each Stats call is a primitive's short internal lock, so it
// never waits for a primitive's waiters or holders; it is safe while
// primitives are used, closed or registered concurrently.
func (r *Registry) Snapshot() []Entry {
	r.check("Snapshot")
	r.mu.RLock()
	list := slices.Clone(r.order)
	r.mu.RUnlock()
	// One allocation each for all entries' figures, histograms and counts,
	// carved up below, keeps a scrape of many primitives cheap.
	nfig, nhist := 0, 0
	for _, e := range list {
		nfig += len(e.layout.fields)
		if e.waits != nil {
			nhist++
		}
	}
	a := arena{
		figs:   make([]Figure, nfig),
		hists:  make([]Histogram, nhist),
		counts: make([]uint64, nhist*(nBounds+1)),
	}
	if nhist > 0 {
		a.bounds = slices.Clone(bounds[:])
	}
	out := make([]Entry, len(list))
	for i, e := range list {
		out[i] = e.snapshot(&a)
	}
	return out
}

// arena holds the memory one Snapshot hands out.
type arena struct {
	figs   []Figure
	hists  []Histogram
	counts []uint64
	bounds []float64 // shared by this snapshot's histograms
}

// take returns the next n figures, capped so that an append by the caller
// cannot reach the next entry's.
func (a *arena) take(n int) []Figure {
	f := a.figs[:n:n]
	a.figs = a.figs[n:]
	return f
}

func (e *entry) snapshot(a *arena) Entry {
	st := e.stats.Call(nil)[0]
	en := Entry{Name: e.name, Kind: e.kind, Figures: a.take(len(e.layout.fields))}
	en.OldestWait, en.Closed = e.layout.read(st, en.Figures)
	if e.waits != nil {
		h := &a.hists[0]
		a.hists = a.hists[1:]
		h.Bounds = a.bounds
		h.Counts = a.counts[: nBounds+1 : nBounds+1]
		a.counts = a.counts[nBounds+1:]
		e.waits.read(h)
		en.Waits = h
	}
	en.Events = e.recent()
	return en
}

// lookup returns the entry registered under name, or nil.
func (r *Registry) lookup(name string) *entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byName[name]
}

func isNilable(k reflect.Kind) bool {
	switch k {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return true
	}
	return false
}
