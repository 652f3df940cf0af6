package debug

import (
	"sync/atomic"
	"time"
)

// bounds are the wait histogram's bucket upper bounds, in seconds
// (inclusive, as Prometheus's "le"): 1µs to 100s in steps of about 4.
var bounds = [nBounds]float64{
	1e-6, 4e-6, 16e-6, 64e-6, 250e-6,
	1e-3, 4e-3, 16e-3, 64e-3, 250e-3,
	1, 4, 16, 64, 100,
}

// boundsNS is Bounds in nanoseconds, for observe's comparisons.
var boundsNS = func() [nBounds]int64 {
	var b [nBounds]int64
	for i, s := range bounds {
		b[i] = int64(s * 1e9)
	}
	return b
}()

const nBounds = 15

// Histogram is a snapshot of one primitive's waits: how long each caller
// that had to wait waited before it was admitted. The buckets are fixed:
// upper bounds 1µs, 4µs, 16µs, 64µs, 250µs, 1ms, 4ms, ... 16s, 64s, 100s,
// and one more bucket above 100s.
type Histogram struct {
	Bounds []float64 // bucket upper bounds in seconds, inclusive (Prometheus's "le"), ascending
	Counts []uint64  // waits per bucket, not cumulative: len(Bounds)+1, the last one above the last bound (+Inf)
	Count  uint64    // waits in all: the sum of Counts
	Sum    float64   // seconds waited in all
}

// histogram is the live form: one atomic counter per bucket, so observe,
// which runs on the admitted caller's goroutine, takes no lock.
type histogram struct {
	counts [nBounds + 1]atomic.Uint64
	sumNS  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	ns := int64(d)
	i := 0
	for i < nBounds && ns > boundsNS[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(ns)
}

// read fills out (whose Bounds and Counts are set, Counts zeroed) from the
// counters, one by one: a wait observed meanwhile may be in Sum but not yet
// in Counts. Count is always the sum of Counts.
func (h *histogram) read(out *Histogram) {
	for i := range h.counts {
		c := h.counts[i].Load()
		out.Counts[i] = c
		out.Count += c
	}
	out.Sum = time.Duration(h.sumNS.Load()).Seconds()
}
