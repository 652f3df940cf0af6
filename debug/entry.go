package debug

import (
	"reflect"
	"strings"
	"time"
)

// Entry is one registered primitive, as Snapshot read it.
type Entry struct {
	Name string // the name it was registered under
	// Kind is the primitive's package and type, type parameters dropped:
	// "sem", "pool", "queue", "gate", "loop" (a package whose main type is
	// the package), "keyed.Mutex", "keyed.RWMutex", "keyed.Once",
	// "keyed.Cache", "run.Guard", "run.Keyed", "guard.Value", "guard.RW",
	// "guard.Access". Any other type reads "pkg.Type".
	Kind       string
	Figures    []Figure      // every number and bool of its Stats, in struct order
	OldestWait time.Duration // the largest field named OldestWait or ending in it; 0 if none
	Closed     bool          // its Stats field Closed
	Waits      *Histogram    // its admitted waiters' waits; nil when it has no OnWait
	Events     []Event       // the last 32 events recorded for it, newest last
}

// Figure is one field of a Stats struct.
type Figure struct {
	Field string // the Stats field name, e.g. "InUse", "ReadWaiting"
	// Value is the field's value: an integer as is, a bool as 0 or 1, a
	// time.Duration in seconds.
	Value float64
	// Counter marks a running total (it only grows): the field name is or
	// ends with Admitted, Cancelled, Rejected, TimedOut, Panicked,
	// Completed, Failed, Contended, Handled, Runs, Shared, Hits, Fetches,
	// Invalid or SlowReports. Every other figure is a gauge.
	Counter bool
	Seconds bool // the field is a time.Duration (Value is in seconds)
}

// Event is something that happened to a primitive: a gate's overdue read,
// a loop watchdog's report, or anything given to [Registry.Record].
type Event struct {
	At      time.Time
	Kind    string // e.g. "overdue", "late", "panicked", "slow"
	Message string // one line
	Stack   string // a goroutine stack, when the event has one
}

// counterSuffixes are the field names (and lane-prefixed endings) of running
// totals, by the README's Stats vocabulary.
var counterSuffixes = []string{
	"Admitted", "Cancelled", "Rejected", "TimedOut", "Panicked", "Completed", "Failed",
	"Contended", "Handled", "Runs", "Shared", "Hits", "Fetches", "Invalid", "SlowReports",
}

func isCounter(field string) bool {
	for _, s := range counterSuffixes {
		if strings.HasSuffix(field, s) {
			return true
		}
	}
	return false
}

var durationType = reflect.TypeFor[time.Duration]()

// field is how to read one Stats field.
type field struct {
	index   int
	name    string
	kind    reflect.Kind
	counter bool
	seconds bool
	oldest  bool // a *OldestWait duration
	closed  bool // the Closed bool
}

// layout is how to read a Stats struct type, worked out once at Register.
type layout struct {
	fields []field
}

func layoutOf(t reflect.Type) *layout {
	l := &layout{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || len(sf.Index) != 1 {
			continue
		}
		f := field{index: i, name: sf.Name, kind: sf.Type.Kind()}
		switch f.kind {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64:
			f.seconds = sf.Type == durationType
			f.oldest = f.seconds && strings.HasSuffix(f.name, "OldestWait")
			f.counter = !f.seconds && isCounter(f.name)
		case reflect.Bool:
			f.closed = f.name == "Closed"
		default:
			continue // strings, structs, slices...: not a figure
		}
		l.fields = append(l.fields, f)
	}
	return l
}

// read turns a Stats value into figs (len(l.fields) of them) and returns
// the oldest wait and Closed.
func (l *layout) read(v reflect.Value, figs []Figure) (oldest time.Duration, closed bool) {
	for i, f := range l.fields {
		fv := v.Field(f.index)
		var x float64
		switch f.kind {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n := fv.Int()
			if f.seconds {
				x = time.Duration(n).Seconds()
				if f.oldest && time.Duration(n) > oldest {
					oldest = time.Duration(n)
				}
			} else {
				x = float64(n)
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			x = float64(fv.Uint())
		case reflect.Float32, reflect.Float64:
			x = fv.Float()
		case reflect.Bool:
			if fv.Bool() {
				x = 1
				if f.closed {
					closed = true
				}
			}
		}
		figs[i] = Figure{Field: f.name, Value: x, Counter: f.counter, Seconds: f.seconds}
	}
	return oldest, closed
}

// mainTypes are the packages whose main type is the package: their Kind is
// the package name alone.
var mainTypes = map[string]string{
	"sem": "Semaphore", "pool": "Pool", "queue": "Queue", "gate": "Gate", "loop": "Loop",
}

// kindOf names a primitive's type: "pkg.Type" with type parameters dropped,
// or "pkg" for a package's main type. An unexported type (guard's Serial and
// Concurrent implementations of Access) is named by its Stats type instead:
// AccessStats gives "guard.Access".
func kindOf(t, stats reflect.Type) string {
	for t.Kind() == reflect.Pointer && t.Name() == "" {
		t = t.Elem()
	}
	pkg := t.PkgPath()
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		pkg = pkg[i+1:]
	}
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	if name == "" || !isExportedName(name) {
		if s := strings.TrimSuffix(stats.Name(), "Stats"); s != "" && isExportedName(s) && stats.PkgPath() == t.PkgPath() {
			name = s
		}
	}
	switch {
	case pkg == "":
		return name
	case name == "" || mainTypes[pkg] == name || strings.EqualFold(pkg, name):
		return pkg
	}
	return pkg + "." + name
}

func isExportedName(s string) bool {
	return s != "" && s[0] >= 'A' && s[0] <= 'Z'
}
