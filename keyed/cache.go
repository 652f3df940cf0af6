package keyed

import (
	"context"
	"runtime/debug"
	"runtime/trace"
	"sync"
	"time"

	"github.com/sluice-go/sluice/internal/fifo"
	"github.com/sluice-go/sluice/internal/keymap"
)

// Cache is a validating cache with one fetch per key at a time: a value
// is fetched once however many callers miss it together, and stored only
// if a validation function accepts it (an API that returns incomplete
// records, say). Create it with [NewCache]; it is safe for concurrent use.
//
// Get returns the stored value for a key, or fetches it. A fetched value
// is stored only if valid accepts it; an invalid one is still returned to
// the callers that asked, and the next Get fetches again. Concurrent
// misses for one key share one fetch: the first caller runs fetch on its
// own goroutine with its own ctx, the others wait for its result (or their
// ctx). If the first caller's ctx ends the fetch, each waiter whose ctx is
// still live retries, in turn, as the new fetcher; a fetch that fails on
// its own while its caller's ctx is live fails for every caller that
// shared it. Values stay until Forget or Close. fetch blocks, so with a
// loop.Loop call Get from Offload work, not from a handler.
//
// Forget(k) also disowns a fetch of k that is in flight: its value is
// never stored, because it may predate whatever made the caller forget k.
// The fetching caller and the callers already waiting for that fetch
// still get its result (value or error), exactly as without the Forget; a
// Get that starts after the Forget does not join it but fetches anew, and
// only that fetch's value may be stored. So two fetches of one key may be
// in flight at once, one of them disowned.
//
// If fetch or valid panics (or calls runtime.Goexit), nothing is stored,
// the callers waiting for that fetch get a *[PanicError] (errors.As), and
// the panic goes on up the fetching caller's goroutine with its value,
// resumed from where it was caught, so that a crash trace still shows
// the frames that panicked.
//
// Close fails every Get waiting for a fetch, and every later Get, with
// [ErrClosed], and drops the stored values. A fetch in flight finishes and
// its fetching caller gets its result; the value is not stored.
type Cache[K comparable, V any] struct {
	fetch func(context.Context, K) (V, error)
	valid func(V) bool

	mu      sync.Mutex
	vals    map[K]V
	flying  map[K]*flight[V] // the current fetch of each key; Forget removes it
	closed  bool
	closing chan struct{} // closed by Close: wakes the waiters
	// fetching counts every fetch in flight, disowned ones included (those
	// are no longer in flying).
	fetching int64
	// waits holds the Gets blocked now on another caller's fetch, oldest
	// first, whatever their key.
	waits keymap.Waits
	hooks fifo.Hooks
	stats CacheStats
}

type flight[V any] struct {
	done chan struct{} // closed when v, err are set
	v    V
	err  error
	// abandoned: the fetch failed after the fetching caller's ctx ended,
	// so the waiters whose ctx is live fetch again rather than share it.
	abandoned bool
	// forgotten is set, under the cache's mu, by a Forget of the key while
	// the fetch is in flight: its value must not be stored.
	forgotten bool
}

// CacheStats is a snapshot of a [Cache].
type CacheStats struct {
	Entries  int64 // values stored
	Fetching int64 // fetches in flight, those disowned by Forget included
	Waiting  int64 // Gets blocked now, waiting for another caller's fetch
	// OldestWait is how long the longest-waiting Get blocked now on
	// another caller's fetch (over all keys) has waited, from the moment
	// it began this wait; 0 when nobody waits. (A Get whose fetcher gave
	// up and that waits again for a new fetch counts from its new wait.)
	OldestWait time.Duration
	// Admitted counts the Gets let through to an answer: answered from a
	// stored value (Hits), by a fetch of their own (counted when it
	// starts), or by the fetch of another caller they waited for. Not
	// those that returned ctx.Err() or ErrClosed.
	Admitted  int64
	Hits      int64 // total: Gets answered from a stored value
	Fetches   int64 // total: fetches started
	Shared    int64 // total: misses that waited for another caller's fetch
	Invalid   int64 // total: fetched values valid did not accept
	Cancelled int64 // total: Gets that gave up waiting because ctx ended
	Panicked  int64 // total: fetches whose fetch or valid panicked or called runtime.Goexit
	Closed    bool  // Close has been called
}

// NewCache returns a cache that fetches missing values with fetch and
// stores those that valid accepts. It panics if either is nil.
func NewCache[K comparable, V any](fetch func(context.Context, K) (V, error), valid func(V) bool) *Cache[K, V] {
	if fetch == nil {
		panic("keyed: NewCache with nil fetch function")
	}
	if valid == nil {
		panic("keyed: NewCache with nil valid function")
	}
	return &Cache[K, V]{
		fetch:   fetch,
		valid:   valid,
		vals:    map[K]V{},
		flying:  map[K]*flight[V]{},
		closing: make(chan struct{}),
	}
}

func (c *Cache[K, V]) check(method string) {
	if c == nil {
		panic("keyed: Cache." + method + " on nil *Cache")
	}
	if c.fetch == nil {
		panic("keyed: Cache." + method + " on a zero Cache: make one with NewCache")
	}
}

// Get returns k's value, fetching it if it is not stored. See [Cache]. It
// returns [ErrClosed] once the cache is closed, and ctx.Err() if ctx ends
// while it waits for another caller's fetch. It panics if ctx is nil.
func (c *Cache[K, V]) Get(ctx context.Context, k K) (V, error) {
	c.check("Get")
	if ctx == nil {
		panic("keyed: Cache.Get with nil Context")
	}
	var zero V
	var since time.Time // when this Get first had to wait; zero if it never did
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return zero, ErrClosed
		}
		if v, ok := c.vals[k]; ok {
			c.stats.Hits++
			c.stats.Admitted++
			c.mu.Unlock()
			if !since.IsZero() {
				c.hooks.CallTime(since) // waited, then found a value stored meanwhile
			}
			return v, nil
		}
		if f, ok := c.flying[k]; ok {
			// The slow path: wait for the fetch in flight. Only here is the
			// clock read (by Start) and the hook list loaded.
			c.stats.Shared++
			w := new(keymap.Wait)
			c.waits.Start(w)
			if since.IsZero() {
				since = w.Since
			}
			c.mu.Unlock()
			var err error
			cancelled := false
			var region *trace.Region
			if trace.IsEnabled() {
				region = trace.StartRegion(ctx, regionCacheGet)
			}
			select {
			case <-f.done:
			case <-ctx.Done():
				err, cancelled = ctx.Err(), true
			case <-c.closing:
				err = ErrClosed
			}
			if region != nil {
				region.End()
			}
			retry := err == nil && f.abandoned && ctx.Err() == nil
			c.mu.Lock()
			c.waits.End(w)
			if cancelled {
				c.stats.Cancelled++
			} else if err == nil && !retry {
				c.stats.Admitted++
			}
			c.mu.Unlock()
			if err != nil {
				return zero, err
			}
			if retry {
				continue // the fetcher's ctx ended, not ours: fetch again
			}
			c.hooks.CallTime(since)
			return f.v, f.err
		}
		f := &flight[V]{done: make(chan struct{})}
		c.flying[k] = f
		c.fetching++
		c.stats.Fetches++
		c.stats.Admitted++
		c.mu.Unlock()
		if !since.IsZero() {
			c.hooks.CallTime(since) // waited, and now fetches itself
		}
		return c.fetchAndLand(ctx, k, f)
	}
}

// fetchAndLand runs fetch and valid for the flight f of k, then lands it:
// stores the value if valid and not forgotten, and wakes the waiters, also
// when fetch or valid panicked or called runtime.Goexit. A panic is landed
// from the deferred function that recovers it and re-panicked from there,
// while the panicking frames are still on the stack (as in Once).
func (c *Cache[K, V]) fetchAndLand(ctx context.Context, k K, f *flight[V]) (V, error) {
	store, returned := false, false
	defer func() {
		if returned {
			return
		}
		r := recover() // nil: runtime.Goexit, which goes on after this
		c.land(k, f, &PanicError{Op: "keyed: Cache fetch", Value: r, Goexit: r == nil, Stack: debug.Stack()}, false)
		if r != nil {
			panic(r)
		}
	}()
	f.v, f.err = c.fetch(ctx, k)
	if f.err == nil {
		store = c.valid(f.v)
	}
	returned = true
	// Only a failure after our ctx ended makes the others fetch again: a
	// fetch that timed out on its own failed for everyone.
	f.abandoned = f.err != nil && ctx.Err() != nil
	c.land(k, f, nil, store)
	return f.v, f.err
}

// land ends the flight f of k and wakes its waiters. pe, when set, is the
// panic the waiters get instead of a result.
func (c *Cache[K, V]) land(k K, f *flight[V], pe *PanicError, store bool) {
	if pe != nil {
		var zero V
		f.v, f.err = zero, pe
	}
	c.mu.Lock()
	c.fetching--
	if c.flying[k] == f {
		delete(c.flying, k)
	}
	switch {
	case pe != nil:
		c.stats.Panicked++
	case f.forgotten, c.closed:
		// Forget or Close came after this fetch started: drop its value.
	case store:
		c.vals[k] = f.v
	case f.err == nil:
		c.stats.Invalid++
	}
	c.mu.Unlock()
	close(f.done)
}

// Forget drops k's stored value, so the next Get fetches it again, and
// disowns a fetch of k in flight, whose value is then never stored (see
// [Cache]).
func (c *Cache[K, V]) Forget(k K) {
	c.check("Forget")
	c.mu.Lock()
	delete(c.vals, k)
	if f, ok := c.flying[k]; ok {
		f.forgotten = true
		delete(c.flying, k)
	}
	c.mu.Unlock()
}

// Close fails every Get waiting for another caller's fetch, and every
// later Get, with [ErrClosed], and drops the stored values. Fetches in
// flight finish; their fetching callers get their results, which are not
// stored. Close is idempotent.
func (c *Cache[K, V]) Close() {
	c.check("Close")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	clear(c.vals)
	close(c.closing)
}

// Stats returns a snapshot, read under the cache's lock.
func (c *Cache[K, V]) Stats() CacheStats {
	c.check("Stats")
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries, s.Fetching, s.Waiting, s.Closed = int64(len(c.vals)), c.fetching, c.waits.Len(), c.closed
	if oldest, ok := c.waits.Oldest(); ok {
		s.OldestWait = keymap.OldestWait(oldest, time.Now())
	}
	return s
}

// OnWait adds fn to the functions called for every Get that had to wait
// for another caller's fetch, once it is served: fn(wait) runs on that
// caller's goroutine with how long it waited, from the moment it first
// began to wait to the moment it resumed with an answer (the shared
// fetch's result, a value stored meanwhile, or the turn to fetch itself,
// before it calls fetch). Gets that did not wait, and waits that ended in
// ctx.Err() or [ErrClosed], do not call it. fn must be quick. Several
// functions may be added; each is called in turn. The returned stop
// removes this fn; stop is idempotent. OnWait and stop are safe to call
// at any time, concurrently with Get. A Get that does not wait pays
// nothing for the hooks. It panics if fn is nil.
func (c *Cache[K, V]) OnWait(fn func(wait time.Duration)) (stop func()) {
	c.check("OnWait")
	if fn == nil {
		panic("keyed: Cache.OnWait with nil fn")
	}
	return c.hooks.Add(fn)
}
