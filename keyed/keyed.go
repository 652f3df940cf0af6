// Package keyed provides per-key locks and per-key once-only setup whose
// memory follows the keys in use, never every key ever seen.
//
//   - [Mutex]: one holder per key. Lock waits, cancellably, in FIFO order.
//   - [RWMutex]: many readers or one writer per key, FIFO; a waiting writer
//     holds back the readers that arrive after it.
//   - [Once]: run a setup function for a key at most once at a time;
//     callers that arrive while it runs share its result, a success is
//     remembered until [Once.Forget], a failure is not.
//   - [Cache]: a validating cache with one fetch per key at a time; a
//     value is stored only if a validation function accepts it.
//
// Use Mutex or RWMutex where a map of locks would otherwise grow with the
// keys (per peer, per account, per file), and Once for idempotent setup
// per key that must be redone after a disconnect ("open the stream to this
// peer unless it is open or being opened").
//
// # Invariants
//
//   - Nobody deletes anything: a [Mutex] or [RWMutex] entry exists only
//     while its key is held or waited on (the last Unlock removes it), a
//     [Once] entry only while a run is in progress or its success is
//     remembered.
//   - [Once.Forget] never removes a setup that is running: it marks it
//     stale, and a caller arriving after it waits for that run to end
//     before it starts its own, so two setups of one key never overlap.
//   - An uncontended Lock/Unlock allocates nothing; a caller that must
//     block allocates one small waiter for the time it waits.
//
// # Fairness
//
// Per key, waiters are served in the order they queued, and a newcomer
// never takes a key from under a queued caller (see each type for the
// details). Keys are independent: a caller of one key never waits for
// another key.
//
// # Errors
//
// A waiter whose ctx ends returns ctx.Err() and holds nothing. Close fails
// every current waiter and every later Lock or Do with [ErrClosed];
// holders keep what they hold and may still unlock. The callers waiting on
// a [Once] run whose fn panicked get an error that matches both
// [ErrAborted] and [*PanicError].
//
// # Observing
//
// Each type's Stats has running totals (Admitted, Cancelled, Rejected for
// the Try methods, Panicked where a function runs) and OldestWait, the
// wait so far of the oldest caller blocked now over all keys (read from
// the head of each shard's list of waiters, so its cost does not grow
// with the keys). OnWait registers a function called with each waiting
// caller's wait once it is admitted. Only a caller that has to block
// reads the clock, loads the hooks, and opens a runtime/trace region
// ("sluice/keyed: Mutex.Lock wait", ...); an uncontended call does none
// of this.
//
// A Mutex, RWMutex or Once value is about 8 KiB (its shards): make one
// per kind of resource ("peers", "accounts"), not one per object.
package keyed

import (
	"errors"

	"github.com/sluice-go/sluice/internal/panics"
)

// ErrClosed is returned by Lock, RLock, Do and Get once the Mutex,
// RWMutex, Once or Cache has been closed.
var ErrClosed = errors.New("keyed: closed")

// PanicError reports a function run for the callers of a key (a Once fn,
// a Cache fetch) that panicked or called runtime.Goexit; the callers
// waiting on that run get it (from a Once, wrapped with [ErrAborted]). It
// is the PanicError of every sluice package.
type PanicError = panics.Error

// The runtime/trace regions around the waits that block, one per method.
// Only a caller that must wait opens one, and only while tracing is on.
const (
	regionMutexLock = "sluice/keyed: Mutex.Lock wait"
	regionRWLock    = "sluice/keyed: RWMutex.Lock wait"
	regionRWRLock   = "sluice/keyed: RWMutex.RLock wait"
	regionOnceDo    = "sluice/keyed: Once.Do wait"
	regionCacheGet  = "sluice/keyed: Cache.Get wait"
)

// testHookGiveUp, when set by a test, runs in a waiter whose ctx has just
// ended, before it takes the shard lock to leave the queue. Tests use it to
// land a hand-off in that window, which otherwise only a race can hit.
var testHookGiveUp func()

func giveUpHook() {
	if testHookGiveUp != nil {
		testHookGiveUp()
	}
}

// ended reports whether done (a ctx's Done channel, nil for a ctx that
// never ends) is closed already: a done ctx fails at once, even if the key
// is free.
func ended(done <-chan struct{}) bool {
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}
