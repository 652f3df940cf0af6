package keymap

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

type entry struct {
	n int
	q Queue
}

// An owner's round: insert on demand, update in place, queue a waiter,
// fail it by Close, remove when unused; Totals and Len follow.
func TestMapRound(t *testing.T) {
	var m Map[string, entry]
	sh, h := m.Shard("a")
	if sh2, h2 := m.Shard("a"); sh2 != sh || h2 != h || h>>63 != 1 {
		t.Fatal("a key's shard and hash are not stable, or the hash is not tagged")
	}
	sh.Lock()
	if sh.Find(h, "a") >= 0 {
		t.Fatal("found a key never inserted")
	}
	i := sh.Insert(h, "a", entry{n: 1})
	sh.At(i).n++
	w := NewWaiter()
	sh.Enqueue(&sh.At(i).q, w)
	sh.Count[3] += 7
	sh.Unlock()

	if got := m.Len(); got != 1 {
		t.Fatalf("Len = %d, want 1", got)
	}
	sum := 0
	tot := m.Totals(func(e *entry) { sum += e.n })
	if tot.Entries != 1 || tot.Waiting != 1 || tot.Count[3] != 7 || tot.Closed || sum != 2 {
		t.Fatalf("Totals = %+v (sum %d)", tot, sum)
	}

	errClosed := errors.New("closed")
	m.Close(func(s *Shard[string, entry], e *entry) { s.Fail(&e.q, errClosed) })
	if !w.Await(context.Background(), nil, "test wait") || !w.Closed || w.Err != errClosed || w.Woken() {
		t.Fatalf("waiter after Close: closed %v err %v", w.Closed, w.Err)
	}
	if !m.Closed() {
		t.Fatal("Closed() = false after Close")
	}
	tot = m.Totals(nil)
	if tot.Entries != 1 || tot.Waiting != 0 || !tot.Closed {
		t.Fatalf("Totals after Close = %+v", tot)
	}

	sh.Lock()
	sh.Remove(sh.Find(h, "a"))
	sh.Unlock()
	if m.Len() != 0 || m.Slots() > NumShards*dropAbove {
		t.Fatalf("Len %d, %d slots after the last entry went", m.Len(), m.Slots())
	}
}

// A waiter not woken reports so without blocking, and Await returns false
// when done closes first.
func TestWaiterAwait(t *testing.T) {
	w := NewWaiter()
	if w.Woken() {
		t.Fatal("Woken before Wake")
	}
	done := make(chan struct{})
	close(done)
	if w.Await(context.Background(), done, "test wait") {
		t.Fatal("Await = true with no token")
	}
	w.Wake()
	if !w.Woken() {
		t.Fatal("Woken = false after Wake")
	}
}
