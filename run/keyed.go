package run

import (
	"context"

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
// use the Guard without the shard lock: refs > 0 keeps it in the map.
type keyedEntry struct {
	g    Guard
	refs int // calls in Do for this key
}

// The counters of the Guards already freed, in each shard's Count.
const (
	kRuns = iota
	kRejected
	kShared
	kPanicked
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
	e.refs++
	sh.Unlock()
	// Deferred, so that a run that panics or calls runtime.Goexit still
	// gives its reference back.
	defer func() {
		sh.Lock()
		defer sh.Unlock()
		if e.refs--; e.refs == 0 {
			// The last call for key is leaving, so its Guard is idle: no
			// run (a run's caller holds a reference) and no waiter.
			st := e.g.Stats()
			sh.Count[kRuns] += st.Runs
			sh.Count[kRejected] += st.Rejected
			sh.Count[kShared] += st.Shared
			sh.Count[kPanicked] += st.Panicked
			sh.Remove(sh.Find(h, key))
		}
	}()
	return e.g.do(ctx, mode, fn)
}

// Close closes the Guard of every key with a call in progress, failing
// its waiting calls with [ErrClosed] (runs in progress go on, see
// [Guard.Close]), and makes every later Do return ErrClosed. Close is
// idempotent. It panics if k is nil.
func (k *Keyed[K]) Close() {
	if k == nil {
		panic("run: Keyed.Close on nil *Keyed")
	}
	k.m.Close(func(_ *keymap.Shard[K, *keyedEntry], e **keyedEntry) { (*e).g.Close() })
}

// KeyedStats is a snapshot of a Keyed.
type KeyedStats struct {
	Keys     int64 // keys with a call in progress
	Running  int64 // keys with a run in progress
	Waiting  int64 // calls waiting, over all keys
	Runs     int64 // total: runs started, over all keys ever
	Rejected int64 // total: calls that got ErrRunning
	Shared   int64 // total: calls that got the result of another call's run
	Panicked int64 // total: runs whose fn panicked or called runtime.Goexit
	Closed   bool
}

// Stats returns a snapshot. The keys are read shard by shard, each under
// its lock, so under load the figures are each exact for some instant but
// not all for the same one. It panics if k is nil.
func (k *Keyed[K]) Stats() KeyedStats {
	if k == nil {
		panic("run: Keyed.Stats on nil *Keyed")
	}
	var s KeyedStats
	t := k.m.Totals(func(e **keyedEntry) {
		st := (*e).g.Stats()
		if st.Running {
			s.Running++
		}
		s.Waiting += st.Waiting
		s.Runs += st.Runs
		s.Rejected += st.Rejected
		s.Shared += st.Shared
		s.Panicked += st.Panicked
	})
	s.Keys = t.Entries
	s.Runs += t.Count[kRuns]
	s.Rejected += t.Count[kRejected]
	s.Shared += t.Count[kShared]
	s.Panicked += t.Count[kPanicked]
	s.Closed = t.Closed
	return s
}
