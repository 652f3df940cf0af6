package loop

import (
	"context"
	"errors"
	"sync"
)

// Cache is a validating cache with one fetch per key at a time (seed 003:
// the pipeline cached user records fetched from an API, and had to stop
// storing incomplete ones).
//
// Get returns the stored value for a key, or fetches it. A fetched value
// is stored only if valid accepts it; an invalid one is still returned to
// the callers that asked, and the next Get fetches again. Concurrent misses
// for one key share one fetch: the first caller runs fetch on its own
// goroutine with its own ctx, the others wait for its result (or their
// ctx). If the first caller's ctx ends the fetch, each waiter whose ctx is
// still live retries, in turn, as the new fetcher. Values stay until
// Forget. Create it with [NewCache]; it is safe for concurrent use. Call
// Get from Offload work, not from a handler: fetch blocks.
//
// Forget(k) also disowns a fetch of k that is in flight: its value is
// never stored, because it may predate whatever made the caller forget k.
// The fetching caller and the callers already waiting for that fetch
// still get its result (value or error), exactly as without the Forget; a
// Get that starts after the Forget does not join it but fetches anew, and
// only that fetch's value may be stored. So two fetches of one key may be
// in flight at once, one of them disowned.
type Cache[K comparable, V any] struct {
	fetch func(context.Context, K) (V, error)
	valid func(V) bool

	mu     sync.Mutex
	vals   map[K]V
	flying map[K]*flight[V] // the current fetch of each key; Forget removes it
	// fetching counts every fetch in flight, disowned ones included (those
	// are no longer in flying).
	fetching int
	stats    CacheStats
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

// errPanicked is what waiters get when the fetch they waited for (or its
// validation) panicked; the panic itself goes on up the fetching caller's
// stack.
var errPanicked = errors.New("loop: Cache fetch panicked")

// CacheStats is a snapshot of a Cache.
type CacheStats struct {
	Entries  int // values stored
	Fetching int // fetches in flight, those disowned by Forget included
	Hits     uint64
	Fetches  uint64 // fetches started
	Shared   uint64 // misses that waited for another caller's fetch
	Rejected uint64 // fetched values valid did not accept
}

// NewCache returns a cache that fetches missing values with fetch and
// stores those that valid accepts. It panics if either is nil.
func NewCache[K comparable, V any](fetch func(context.Context, K) (V, error), valid func(V) bool) *Cache[K, V] {
	if fetch == nil {
		panic("loop: NewCache with nil fetch function")
	}
	if valid == nil {
		panic("loop: NewCache with nil valid function")
	}
	return &Cache[K, V]{fetch: fetch, valid: valid, vals: map[K]V{}, flying: map[K]*flight[V]{}}
}

// Get returns k's value, fetching it if it is not stored. See [Cache].
func (c *Cache[K, V]) Get(ctx context.Context, k K) (V, error) {
	if ctx == nil {
		panic("loop: Cache.Get with nil Context")
	}
	for {
		c.mu.Lock()
		if v, ok := c.vals[k]; ok {
			c.stats.Hits++
			c.mu.Unlock()
			return v, nil
		}
		if f, ok := c.flying[k]; ok {
			c.stats.Shared++
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
			if f.abandoned && ctx.Err() == nil {
				continue // the fetcher's ctx ended, not ours: fetch again
			}
			return f.v, f.err
		}
		f := &flight[V]{done: make(chan struct{}), err: errPanicked}
		c.flying[k] = f
		c.fetching++
		c.stats.Fetches++
		c.mu.Unlock()
		defer c.land(k, f) // also when fetch panics: waiters must not hang
		f.v, f.err = c.fetch(ctx, k)
		// Only a failure after our ctx ended makes the others fetch again:
		// a fetch that timed out on its own failed for everyone.
		f.abandoned = f.err != nil && ctx.Err() != nil
		return f.v, f.err
	}
}

// land ends a fetch: stores its value if valid and not forgotten, and
// wakes its waiters, also when fetch or valid panicked (then waiters get
// errPanicked).
func (c *Cache[K, V]) land(k K, f *flight[V]) {
	store := false
	defer func() {
		c.mu.Lock()
		c.fetching--
		if c.flying[k] == f {
			delete(c.flying, k)
		}
		switch {
		case f.forgotten:
			// Forget came after this fetch started: drop its value.
		case store:
			c.vals[k] = f.v
		case f.err == nil:
			c.stats.Rejected++
		}
		c.mu.Unlock()
		close(f.done)
	}()
	if f.err == nil {
		f.err = errPanicked // until valid returns
		store = c.valid(f.v)
		f.err = nil
	}
}

// Forget drops k's stored value, so the next Get fetches it again, and
// disowns a fetch of k in flight, whose value is then never stored (see
// [Cache]).
func (c *Cache[K, V]) Forget(k K) {
	c.mu.Lock()
	delete(c.vals, k)
	if f, ok := c.flying[k]; ok {
		f.forgotten = true
		delete(c.flying, k)
	}
	c.mu.Unlock()
}

// Stats returns a snapshot.
func (c *Cache[K, V]) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries, s.Fetching = len(c.vals), c.fetching
	return s
}
