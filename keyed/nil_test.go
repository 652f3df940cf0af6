package keyed

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// TestNilArguments calls every exported method with each argument that
// can be nil (or otherwise wrong) set so, one at a time: each must panic
// with a message that starts with "keyed: " and names the call and the
// mistake, and must leave no entry behind.
func TestNilArguments(t *testing.T) {
	var m Mutex[string]
	var rw RWMutex[string]
	var o Once[string]
	var nm *Mutex[string]
	var nrw *RWMutex[string]
	var no *Once[string]
	var nilCtx context.Context
	bg := context.Background()
	fn := func(context.Context) error { return nil }
	hook := func(time.Duration) {}
	cases := []struct {
		name string
		want string
		call func()
	}{
		{"Mutex.Lock nil ctx", "Mutex.Lock with nil Context", func() { _ = m.Lock(nilCtx, "k") }},
		{"Mutex.Unlock not locked", "Mutex.Unlock(k): key is not locked", func() { m.Unlock("k") }},
		{"RWMutex.Lock nil ctx", "RWMutex.Lock with nil Context", func() { _ = rw.Lock(nilCtx, "k") }},
		{"RWMutex.RLock nil ctx", "RWMutex.RLock with nil Context", func() { _ = rw.RLock(nilCtx, "k") }},
		{"RWMutex.Unlock not locked", "RWMutex.Unlock(k): key is not write-locked", func() { rw.Unlock("k") }},
		{"RWMutex.RUnlock not locked", "RWMutex.RUnlock(k): key is not read-locked", func() { rw.RUnlock("k") }},
		{"Once.Do nil ctx", "Once.Do with nil Context", func() { _ = o.Do(nilCtx, "k", fn) }},
		{"Once.Do nil fn", "Once.Do with nil fn", func() { _ = o.Do(bg, "k", nil) }},
		{"nil Mutex.Lock", "Mutex.Lock on nil *Mutex", func() { _ = nm.Lock(bg, "k") }},
		{"nil Mutex.TryLock", "Mutex.TryLock on nil *Mutex", func() { nm.TryLock("k") }},
		{"nil Mutex.Unlock", "Mutex.Unlock on nil *Mutex", func() { nm.Unlock("k") }},
		{"nil Mutex.Close", "Mutex.Close on nil *Mutex", func() { nm.Close() }},
		{"nil Mutex.Len", "Mutex.Len on nil *Mutex", func() { nm.Len() }},
		{"nil Mutex.Stats", "Mutex.Stats on nil *Mutex", func() { nm.Stats() }},
		{"nil RWMutex.Lock", "RWMutex.Lock on nil *RWMutex", func() { _ = nrw.Lock(bg, "k") }},
		{"nil RWMutex.RLock", "RWMutex.RLock on nil *RWMutex", func() { _ = nrw.RLock(bg, "k") }},
		{"nil RWMutex.TryLock", "RWMutex.TryLock on nil *RWMutex", func() { nrw.TryLock("k") }},
		{"nil RWMutex.TryRLock", "RWMutex.TryRLock on nil *RWMutex", func() { nrw.TryRLock("k") }},
		{"nil RWMutex.Unlock", "RWMutex.Unlock on nil *RWMutex", func() { nrw.Unlock("k") }},
		{"nil RWMutex.RUnlock", "RWMutex.RUnlock on nil *RWMutex", func() { nrw.RUnlock("k") }},
		{"nil RWMutex.Close", "RWMutex.Close on nil *RWMutex", func() { nrw.Close() }},
		{"nil RWMutex.Len", "RWMutex.Len on nil *RWMutex", func() { nrw.Len() }},
		{"nil RWMutex.Stats", "RWMutex.Stats on nil *RWMutex", func() { nrw.Stats() }},
		{"nil Once.Do", "Once.Do on nil *Once", func() { _ = no.Do(bg, "k", fn) }},
		{"nil Once.Forget", "Once.Forget on nil *Once", func() { no.Forget("k") }},
		{"nil Once.Close", "Once.Close on nil *Once", func() { no.Close() }},
		{"nil Once.Len", "Once.Len on nil *Once", func() { no.Len() }},
		{"nil Once.Stats", "Once.Stats on nil *Once", func() { no.Stats() }},
		{"Mutex.OnWait nil fn", "Mutex.OnWait with nil fn", func() { m.OnWait(nil) }},
		{"RWMutex.OnWait nil fn", "RWMutex.OnWait with nil fn", func() { rw.OnWait(nil) }},
		{"Once.OnWait nil fn", "Once.OnWait with nil fn", func() { o.OnWait(nil) }},
		{"nil Mutex.OnWait", "Mutex.OnWait on nil *Mutex", func() { nm.OnWait(hook) }},
		{"nil RWMutex.OnWait", "RWMutex.OnWait on nil *RWMutex", func() { nrw.OnWait(hook) }},
		{"nil Once.OnWait", "Once.OnWait on nil *Once", func() { no.OnWait(hook) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conctest.MustPanic(t, tc.call, "keyed: "+tc.want)
		})
	}
	if m.Len() != 0 || rw.Len() != 0 || o.Len() != 0 {
		t.Fatalf("entries left by the bad calls: %d, %d, %d", m.Len(), rw.Len(), o.Len())
	}
}
