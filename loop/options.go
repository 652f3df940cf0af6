package loop

import (
	"fmt"
	"io"
	"log/slog"
	"runtime/trace"
	"time"
)

// Defaults.
const (
	DefaultQueueSize     = 256
	DefaultWorkers       = 16
	DefaultSlowThreshold = 100 * time.Millisecond // asyncio's slow-callback threshold
)

// Option configures a Loop. Options panic on bad values.
type Option func(*config)

type config struct {
	queueSize int
	workers   int
	slow      time.Duration
	onSlow    func(Slow) // nil: log with logger
	logger    *slog.Logger

	flight     *trace.FlightRecorder // nil: no snapshots
	flightOpen func(Slow) (io.WriteCloser, error)
}

func defaultConfig() config {
	return config{
		queueSize: DefaultQueueSize,
		workers:   DefaultWorkers,
		slow:      DefaultSlowThreshold,
		logger:    slog.Default(),
	}
}

// WithQueueSize sets how many handlers may be queued or running at once,
// results of offloaded work in flight included (default
// [DefaultQueueSize]). It panics if n is not positive.
func WithQueueSize(n int) Option {
	if n <= 0 {
		panic(fmt.Sprintf("loop: WithQueueSize(%d): size must be positive", n))
	}
	return func(c *config) { c.queueSize = n }
}

// WithWorkers sets how many offloaded works may run at once (default
// [DefaultWorkers]). It panics if n is not positive.
func WithWorkers(n int) Option {
	if n <= 0 {
		panic(fmt.Sprintf("loop: WithWorkers(%d): worker count must be positive", n))
	}
	return func(c *config) { c.workers = n }
}

// WithSlowThreshold sets how long a handler may run before the watchdog
// reports it (default [DefaultSlowThreshold]). It panics if d is not
// positive.
func WithSlowThreshold(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("loop: WithSlowThreshold(%v): threshold must be positive", d))
	}
	return func(c *config) { c.slow = d }
}

// WithSlowHook sets the function the watchdog calls with each report. It
// runs on the watchdog's goroutine, never on the loop's. The default logs
// a warning with the loop's logger (see [WithLogger]). It panics if fn is
// nil.
func WithSlowHook(fn func(Slow)) Option {
	if fn == nil {
		panic("loop: WithSlowHook(nil): hook must not be nil")
	}
	return func(c *config) { c.onSlow = fn }
}

// WithLogger sets the logger the loop writes to (default
// [slog.Default], read when New runs): the watchdog's reports, unless
// [WithSlowHook] replaces them. It panics if lg is nil.
func WithLogger(lg *slog.Logger) Option {
	if lg == nil {
		panic("loop: WithLogger with nil logger")
	}
	return func(c *config) { c.logger = lg }
}

// WithFlightRecorder makes the watchdog write a snapshot of fr, a
// runtime/trace flight recorder, with each slow-handler report: the last
// seconds of the execution trace, showing what the loop goroutine and
// everything else did up to the moment the handler was caught (open it
// with `go tool trace`).
//
// For each report the watchdog calls open with it, writes the snapshot
// to the writer open returns (fr.WriteTo) and closes it; open may return
// a nil writer and no error to skip a report (say, all but each handler's
// first: Slow.Report > 1). It all runs on the watchdog's goroutine,
// before the report reaches the slow hook, so a slow writer delays the
// watchdog, never the loop. A failure (open's error, or the write's, or
// Close's) is logged as a warning on the loop's logger ([WithLogger]);
// the report still goes out.
//
// The caller owns fr: it starts it (fr.Start; only one flight recorder
// may be active in a program) and stops it; while fr is not running, the
// snapshot fails and is logged. Snapshots from this package's loops are
// written one at a time, as a FlightRecorder requires; another WriteTo on
// fr elsewhere at the same moment makes one of them fail.
//
// It panics if fr or open is nil.
func WithFlightRecorder(fr *trace.FlightRecorder, open func(Slow) (io.WriteCloser, error)) Option {
	if fr == nil {
		panic("loop: WithFlightRecorder with nil FlightRecorder")
	}
	if open == nil {
		panic("loop: WithFlightRecorder with nil open func")
	}
	return func(c *config) { c.flight, c.flightOpen = fr, open }
}
