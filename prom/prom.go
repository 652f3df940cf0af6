// Package prom exports the sluice primitives registered in a
// [debug.Registry] to Prometheus.
//
// [NewCollector] returns a [prometheus.Collector] that reads the registry's
// [debug.Registry.Snapshot] at scrape time, so a primitive registered or
// unregistered at any time shows up or goes away at the next scrape, and
// nothing is counted between scrapes beyond what the primitives count
// themselves:
//
//	reg := debug.NewRegistry()
//	s := sem.New(8)
//	reg.Register("db", s)
//	prometheus.MustRegister(prom.NewCollector(reg))
//
// # Metric names
//
// Every number and bool of a primitive's Stats is one metric,
// sluice_<kind>_<field>: the kind lowercased with "." made "_"
// (sluice_sem_..., sluice_keyed_mutex_...), the field in snake_case
// (InUse: in_use, ReadWaiting: read_waiters), with these rules of the
// Prometheus conventions:
//
//   - a running total (Admitted, Cancelled, Rejected, TimedOut, Panicked,
//     ...; see [debug.Figure]) is a counter ending in _total:
//     sluice_sem_admitted_total;
//   - a duration is in seconds, ending in _seconds:
//     sluice_sem_oldest_wait_seconds;
//   - Waiting is said "waiters" (sluice_sem_waiters), and sem's Capacity
//     "permits" (sluice_sem_permits);
//   - a bool (Closed, ...) is a gauge of 0 or 1: sluice_sem_closed.
//
// A primitive that has OnWait also has a histogram,
// sluice_<kind>_wait_seconds, of how long each caller that had to wait
// waited before it was admitted (callers admitted at once are not in it),
// with the registry's fixed buckets from 1µs to 100s.
//
// Every series has one label, "name": the name the primitive was
// registered under. Keys (of keyed.Mutex, keyed.Cache, ...) are never
// labels, so the number of series is bounded by the number of registered
// primitives. To add a prefix or constant labels, register the collector
// through [prometheus.WrapRegistererWithPrefix] or
// [prometheus.WrapRegistererWith].
//
// # Scrapes and Close
//
// A scrape calls each primitive's Stats, a short internal lock, and never
// waits for a primitive's waiters or holders: scraping while primitives
// are used, closed, registered or unregistered neither blocks nor panics.
package prom

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sluice-go/sluice/debug"
)

// NewCollector returns a collector of every primitive registered in reg,
// read at scrape time. It panics if reg is nil.
//
// The collector is unchecked: its Describe sends nothing, because the set
// of metrics it exports is not fixed when it is registered (a primitive of
// a new kind registered later brings new metric names), and a checked
// collector must describe every metric it will ever collect. A
// [prometheus.Registry] still checks each scrape for consistency.
func NewCollector(reg *debug.Registry) prometheus.Collector {
	if reg == nil {
		panic("prom: NewCollector with nil *debug.Registry")
	}
	return &collector{reg: reg}
}

type collector struct {
	reg   *debug.Registry
	kinds sync.Map // kind string -> *kindDescs
}

// kindDescs are the descriptors of one kind's figures, in the order of its
// Stats fields. NewDesc is far costlier than a lookup, so each is made once;
// the slice is copied on write, so a scrape reads it without a lock.
type kindDescs struct {
	mu      sync.Mutex // serializes writers of figures
	figures atomic.Pointer[[]figureDesc]
	waits   atomic.Pointer[prometheus.Desc]
}

type figureDesc struct {
	field   string
	counter bool
	seconds bool
	desc    *prometheus.Desc
}

var labels = []string{"name"}

// Describe sends nothing: see NewCollector.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect sends the metrics of every primitive registered now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, e := range c.reg.Snapshot() {
		kd := c.descsOf(e.Kind)
		descs := kd.descs(e.Kind, e.Figures)
		// The entry's metrics share one label pair, and their values live
		// in one slab: a scrape of many primitives allocates per entry,
		// not per figure (NewConstMetric would build the pairs each time).
		pairs := []*dto.LabelPair{{Name: &nameLabel, Value: &e.Name}}
		ms := make([]figureMetric, len(e.Figures))
		for i, f := range e.Figures {
			ms[i] = figureMetric{desc: descs[i].desc, labels: pairs, value: f.Value, counter: f.Counter}
			ch <- &ms[i]
		}
		if e.Waits != nil {
			ch <- &histogramMetric{desc: kd.waitDesc(e.Kind), labels: pairs, h: e.Waits}
		}
	}
}

func (c *collector) descsOf(kind string) *kindDescs {
	if kd, ok := c.kinds.Load(kind); ok {
		return kd.(*kindDescs)
	}
	kd, _ := c.kinds.LoadOrStore(kind, new(kindDescs))
	return kd.(*kindDescs)
}

// descs returns the descriptors of a kind's figures, one per figure. The
// figures of one kind are normally the same fields in the same order every
// time; the check covers two types that map to one kind with different
// Stats.
func (kd *kindDescs) descs(kind string, figs []debug.Figure) []figureDesc {
	if p := kd.figures.Load(); p != nil && matches(*p, figs) {
		return *p
	}
	kd.mu.Lock()
	defer kd.mu.Unlock()
	var old []figureDesc
	if p := kd.figures.Load(); p != nil {
		if matches(*p, figs) {
			return *p
		}
		old = *p
	}
	out := make([]figureDesc, len(figs))
	for i, f := range figs {
		if i < len(old) && old[i].is(f) {
			out[i] = old[i]
			continue
		}
		out[i] = figureDesc{
			field:   f.Field,
			counter: f.Counter,
			seconds: f.Seconds,
			desc:    prometheus.NewDesc(metricName(kind, f), help(kind, f.Field), labels, nil),
		}
	}
	kd.figures.Store(&out)
	return out
}

func (fd figureDesc) is(f debug.Figure) bool {
	return fd.field == f.Field && fd.counter == f.Counter && fd.seconds == f.Seconds
}

func matches(descs []figureDesc, figs []debug.Figure) bool {
	if len(descs) != len(figs) {
		return false
	}
	for i, f := range figs {
		if !descs[i].is(f) {
			return false
		}
	}
	return true
}

// waitDesc returns the descriptor of a kind's wait histogram.
func (kd *kindDescs) waitDesc(kind string) *prometheus.Desc {
	d := kd.waits.Load()
	if d == nil {
		// Two scrapes may both make it; they are equal, either one will do.
		d = prometheus.NewDesc(waitName(kind), waitHelp, labels, nil)
		kd.waits.Store(d)
	}
	return d
}

// nameLabel is the one label's name, shared by every label pair.
var nameLabel = "name"

// figureMetric is one figure of one entry as a Prometheus metric.
type figureMetric struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	value   float64
	counter bool
}

func (m *figureMetric) Desc() *prometheus.Desc { return m.desc }

func (m *figureMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	if m.counter {
		out.Counter = &dto.Counter{Value: &m.value}
	} else {
		out.Gauge = &dto.Gauge{Value: &m.value}
	}
	return nil
}

// histogramMetric is an entry's wait histogram as a Prometheus metric.
type histogramMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      *debug.Histogram
}

func (m *histogramMetric) Desc() *prometheus.Desc { return m.desc }

// Write converts the registry's per-bucket counts into the cumulative
// buckets Prometheus wants; the last bucket (above the last bound) is the
// implicit +Inf one, whose count is the sample count.
func (m *histogramMetric) Write(out *dto.Metric) error {
	h := m.h
	n := min(len(h.Bounds), len(h.Counts))
	if n > 0 && math.IsInf(h.Bounds[n-1], +1) {
		n-- // an explicit +Inf bound is the implicit one
	}
	cum := make([]uint64, n)
	slab := make([]dto.Bucket, n)
	buckets := make([]*dto.Bucket, n)
	var total uint64
	for i := range n {
		total += h.Counts[i]
		cum[i] = total
		slab[i].CumulativeCount = &cum[i]
		slab[i].UpperBound = &h.Bounds[i]
		buckets[i] = &slab[i]
	}
	for _, c := range h.Counts[n:] {
		total += c
	}
	count := max(h.Count, total)
	out.Label = m.labels
	out.Histogram = &dto.Histogram{SampleCount: &count, SampleSum: &h.Sum, Bucket: buckets}
	return nil
}
