package run

import (
	"context"
	"time"

	"github.com/sluice-go/sluice/internal/keymap"
)

// Keyed is a set of Guards, one per key: runs for different keys proceed
// independently, runs for one key one at a time, as [Guard.Do] says. A
// key's Guard exists only while a call for that key is in progress, so
// idle keys cost nothing; a Keyed value itself is about 8 KiB (the shards
// of its table), so make one per kind of job, not one per object. The zero
// value is ready to use; a Keyed must not be copied after first use.
//
// [Keyed.Close] closes every key's Guard (see [Guard.Close]) and fails
// every later Do with [ErrClosed].
type Keyed[K comparable] struct {
	m keymap.Map[K, *keyedEntry]
}

// keyedEntry is one key's Guard. It is a pointer so that its calls can
// use the Guard without the shard lock: g.refs > 0 (the calls in Do for
// this key) keeps it in the map.
type keyedEntry struct {
	g guard
}

// The counters of the Guards already freed, in each shard's Count.
const (
	kRuns = iota
	kRejected
	kShared
	kPanicked
	kAdmitted
	kCancelled
)

// Do is [Guard.Do] on the Guard of key. It panics if k, ctx or fn is nil
// or mode is not one of the three.
func (k *Keyed[K]) Do(ctx context.Context, key K, mode Mode, fn func(context.Context) error) error {
	if k == nil {
		panic("run: Keyed.Do on nil *Keyed")
	}
	// Check before taking a reference, so a bad call leaves nothing behind.
	checkDo("Keyed.Do", ctx, mode, fn)
	sh, h := k.m.Shard(key)
	sh.Lock()
	if k.m.Closed() {
		sh.Unlock()
		return ErrClosed
	}
	var e *keyedEntry
	if i := sh.Find(h, key); i >= 0 {
		e = *sh.At(i)
	} else {
		e = &keyedEntry{}
		sh.Insert(h, key, e)
	}
	e.g.refs++
	sh.Unlock()
	// Deferred, so that a run that panics or calls runtime.Goexit still
	// gives its reference back.
	defer func() {
		sh.Lock()
		defer sh.Unlock()
		if e.g.refs--; e.g.refs == 0 {
			// The last call for key is leaving, so its Guard is idle: no
			// run (a run's caller holds a reference) and no waiter.
			st, _ := e.g.stats()
			sh.Count[kAdmitted] += st.Admitted
			sh.Count[kCancelled] += st.Cancelled
			sh.Count[kRuns] += st.Runs
			sh.Count[kRejected] += st.Rejected
			sh.Count[kShared] += st.Shared
			sh.Count[kPanicked] += st.Panicked
			sh.Remove(sh.Find(h, key))
		}
	}()
	return e.g.do(ctx, mode, fn, waitOp{k.m.Hooks(), regionKeyedDo})
}

// Close closes the Guard of every key with a call in progress, failing
// its waiting calls with [ErrClosed] (runs in progress go on, see
// [Guard.Close]), and makes every later Do return ErrClosed. Close is
// idempotent. It panics if k is nil.
func (k *Keyed[K]) Close() {
	if k == nil {
		panic("run: Keyed.Close on nil *Keyed")
	}
	k.m.Close(func(_ *keymap.Shard[K, *keyedEntry], e **keyedEntry) { (*e).g.close() })
}

// OnWait adds fn to the functions called for every Do, whatever its key,
// that had to wait, once it is served, as [Guard.OnWait] says: on that
// caller's goroutine, with how long it waited. fn must be quick. The
// returned stop removes this fn; stop is idempotent. OnWait and stop are
// safe to call at any time, concurrently with Do. A Do that does not wait
// pays nothing for the hooks. It panics if k or fn is nil.
func (k *Keyed[K]) OnWait(fn func(wait time.Duration)) (stop func()) {
	if k == nil {
		panic("run: Keyed.OnWait on nil *Keyed")
	}
	if fn == nil {
		panic("run: Keyed.OnWait with nil func")
	}
	return k.m.Hooks().Add(fn)
}

// KeyedStats is a snapshot of a Keyed.
type KeyedStats struct {
	Keys    int64 // keys with a call in progress
	Running int64 // keys with a run in progress
	Waiting int64 // calls waiting, over all keys
	// OldestWait is how long the longest-waiting call now, over all keys,
	// has waited, from the moment it began to wait; 0 when nobody waits.
	OldestWait time.Duration
	Admitted   int64 // total: calls that started a run or got another call's result (Runs + Shared)
	Cancelled  int64 // total: waiting calls that returned ctx.Err() because their ctx ended
	Runs       int64 // total: runs started, over all keys ever
	Rejected   int64 // total: calls that got ErrRunning
	Shared     int64 // total: calls that got the result of another call's run
	Panicked   int64 // total: runs whose fn panicked or called runtime.Goexit
	Closed     bool
}

// Stats returns a snapshot. The keys are read shard by shard, each under
// its lock, so under load the figures are each exact for some instant but
// not all for the same one. Its cost is O(keys with a call in progress):
// every such key's Guard is read (its oldest waiter is the head of its
// list of waits, O(1)), plus one clock read if anybody waits; keys with
// no call in progress have no entry and cost nothing. It panics if k is
// nil.
func (k *Keyed[K]) Stats() KeyedStats {
	if k == nil {
		panic("run: Keyed.Stats on nil *Keyed")
	}
	var s KeyedStats
	var oldest time.Time
	t := k.m.Totals(func(e **keyedEntry) {
		st, since := (*e).g.stats()
		oldest = keymap.Earlier(oldest, since)
		if st.Running {
			s.Running++
		}
		s.Waiting += st.Waiting
		s.Admitted += st.Admitted
		s.Cancelled += st.Cancelled
		s.Runs += st.Runs
		s.Rejected += st.Rejected
		s.Shared += st.Shared
		s.Panicked += st.Panicked
	})
	s.Keys = t.Entries
	s.Admitted += t.Count[kAdmitted]
	s.Cancelled += t.Count[kCancelled]
	s.Runs += t.Count[kRuns]
	s.Rejected += t.Count[kRejected]
	s.Shared += t.Count[kShared]
	s.Panicked += t.Count[kPanicked]
	s.Closed = t.Closed
	if !oldest.IsZero() {
		s.OldestWait = keymap.OldestWait(oldest, time.Now())
	}
	return s
}
