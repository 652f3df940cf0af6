package cluster

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults.
const (
	// DefaultTTL is the etcd lease TTL when no WithTTL is given.
	DefaultTTL = 10 * time.Second
)

// Option configures a Semaphore, Mutex, Once or Guard.
type Option func(*config)

type config struct {
	ttl       time.Duration
	margin    time.Duration // 0: ttl/5
	opTimeout time.Duration // 0: ttl
	logger    *slog.Logger
	bad       []string
}

// WithTTL sets the TTL of the etcd lease that holds this replica's permits
// (default [DefaultTTL]). etcd counts TTLs in whole seconds, so d is
// rounded up to one. A crashed replica's permits come back at most TTL
// after its last keepalive; a TTL below the server's minimum (1.5 election
// timeouts) is an error from the constructor, since etcd would silently
// raise it.
func WithTTL(d time.Duration) Option {
	return func(c *config) {
		if d < time.Second {
			c.bad = append(c.bad, fmt.Sprintf("WithTTL(%v): below one second", d))
			return
		}
		c.ttl = ((d + time.Second - 1) / time.Second) * time.Second
	}
}

// WithMargin sets the safety margin (default TTL/5): a Permit's Context is
// cancelled once TTL-margin has passed, on this process's clock, since the
// last keepalive that succeeded was sent. The margin covers clock-rate
// error between this process and etcd's leader, and is the time your work
// has to stop after its Context is done before another replica can be
// admitted in its place. It must be positive and at most half the TTL.
func WithMargin(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.bad = append(c.bad, fmt.Sprintf("WithMargin(%v): not positive", d))
			return
		}
		c.margin = d
	}
}

// WithOpTimeout bounds the etcd calls a primitive makes on its own, where
// no caller's context applies: deleting the key of a released permit or a
// cancelled waiter, revoking the lease at the end (default: the TTL). A
// delete that fails is retried in the background until it succeeds or the
// lease ends.
func WithOpTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.bad = append(c.bad, fmt.Sprintf("WithOpTimeout(%v): not positive", d))
			return
		}
		c.opTimeout = d
	}
}

// WithLogger sets where the primitive logs lost leases and failed cleanup
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.bad = append(c.bad, "WithLogger(nil)")
			return
		}
		c.logger = l
	}
}

func buildConfig(what string, opts []Option) (config, error) {
	c := config{ttl: DefaultTTL}
	for _, o := range opts {
		if o == nil {
			panic("cluster: " + what + " with a nil Option")
		}
		o(&c)
	}
	if len(c.bad) > 0 {
		return c, fmt.Errorf("%w: %s: %s", ErrInvalid, what, c.bad[0])
	}
	if c.margin == 0 {
		c.margin = c.ttl / 5
	}
	if c.margin > c.ttl/2 {
		return c, fmt.Errorf("%w: %s: margin %v above half the TTL %v", ErrInvalid, what, c.margin, c.ttl)
	}
	if c.opTimeout == 0 {
		c.opTimeout = c.ttl
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}
