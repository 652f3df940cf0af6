package gate

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-go/sluice/sem"
)

// Defaults, for a [New] called without the matching option.
const (
	DefaultReaders        = 64
	DefaultStreams        = 8
	DefaultReadDeadline   = 5 * time.Second
	DefaultStreamLifetime = 60 * time.Second
)

// Option configures a [Gate]; pass options to [New]. An option given a
// value that can never be right panics at once, naming the option.
type Option func(*config)

type config struct {
	readers        int
	streams        int
	readDeadline   time.Duration
	streamLifetime time.Duration
	hook           func(Event) // nil: log each event with logger
	logger         *slog.Logger
}

func defaultConfig() config {
	return config{
		readers:        DefaultReaders,
		streams:        DefaultStreams,
		readDeadline:   DefaultReadDeadline,
		streamLifetime: DefaultStreamLifetime,
		logger:         slog.Default(),
	}
}

// WithReaders sets how many reads may hold a permit at once (default
// [DefaultReaders]). A write takes all of them. It panics if n is not
// positive or exceeds [sem.MaxSize].
func WithReaders(n int) Option {
	checkSize("WithReaders", n)
	return func(c *config) { c.readers = n }
}

// WithStreams sets how many streams may run at once (default
// [DefaultStreams]). It panics if n is not positive or exceeds
// [sem.MaxSize].
func WithStreams(n int) Option {
	checkSize("WithStreams", n)
	return func(c *config) { c.streams = n }
}

func checkSize(option string, n int) {
	if n <= 0 {
		panic(fmt.Sprintf("gate: %s(%d): size must be positive", option, n))
	}
	if int64(n) > sem.MaxSize {
		panic(fmt.Sprintf("gate: %s(%d): size must be at most %d", option, n, int64(sem.MaxSize)))
	}
}

// WithReadDeadline sets the deadline of each read, wait included, from the
// call (default [DefaultReadDeadline]); a ctx deadline that comes sooner
// wins. It also bounds the wait for a stream slot. It panics if d is not
// positive.
func WithReadDeadline(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("gate: WithReadDeadline(%v): deadline must be positive", d))
	}
	return func(c *config) { c.readDeadline = d }
}

// WithStreamLifetime caps how long a stream's ctx lives once it is
// admitted (default [DefaultStreamLifetime]); a ctx deadline that comes
// sooner wins. It panics if d is not positive.
func WithStreamLifetime(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("gate: WithStreamLifetime(%v): lifetime must be positive", d))
	}
	return func(c *config) { c.streamLifetime = d }
}

// WithHook sets the function that receives the events the gate cannot
// return to anyone: a read whose caller got control back while fn still
// runs ([Overdue]), that read's fn returning at last ([Late]), and panics
// with no caller to reach ([Panicked]). It is called synchronously (on
// the caller's goroutine for Overdue, on the gate's for the others) and
// must be quick. The default logs each event with the gate's logger (see
// [WithLogger]). It panics if fn is nil.
func WithHook(fn func(Event)) Option {
	if fn == nil {
		panic("gate: WithHook(nil): hook must not be nil")
	}
	return func(c *config) { c.hook = fn }
}

// WithLogger sets the logger the default hook writes each event to
// (default [slog.Default], read when New runs). It has no effect next to
// [WithHook]. It panics if lg is nil.
func WithLogger(lg *slog.Logger) Option {
	if lg == nil {
		panic("gate: WithLogger(nil): logger must not be nil")
	}
	return func(c *config) { c.logger = lg }
}
