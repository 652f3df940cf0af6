package keymap

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Totals.OldestWait is the oldest waiter over every shard, and follows the
// queues as waiters leave, are dequeued or are failed by Close.
func TestTotalsOldestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Map[int, entry]
		if tot := m.Totals(nil); tot.OldestWait != 0 || tot.Waiting != 0 {
			t.Fatalf("empty map: %+v", tot)
		}
		// One waiter per key, a second apart, on keys spread over shards.
		const n = 200
		ws := make([]*Waiter, n)
		for k := range n {
			sh, h := m.Shard(k)
			sh.Lock()
			i := sh.Find(h, k)
			if i < 0 {
				i = sh.Insert(h, k, entry{})
			}
			ws[k] = NewWaiter()
			sh.Enqueue(&sh.At(i).q, ws[k])
			sh.Unlock()
			time.Sleep(time.Second)
		}
		if tot := m.Totals(nil); tot.Waiting != n || tot.OldestWait != n*time.Second {
			t.Fatalf("Totals = %+v, want %d waiting, the oldest for %ds", tot, n, n)
		}
		if ws[0].Since().IsZero() {
			t.Fatal("Enqueue did not stamp the waiter")
		}
		// Key 0's waiter leaves; key 1's is dequeued: the oldest is key 2's.
		for k, leave := range []bool{true, false} {
			sh, h := m.Shard(k)
			sh.Lock()
			q := &sh.At(sh.Find(h, k)).q
			if leave {
				sh.Leave(q, ws[k])
			} else if w := sh.Dequeue(q); w != ws[k] {
				t.Fatal("Dequeue returned another waiter")
			}
			if sh.Dequeue(q) != nil {
				t.Fatal("Dequeue of an empty queue returned a waiter")
			}
			sh.Unlock()
		}
		if tot := m.Totals(nil); tot.Waiting != n-2 || tot.OldestWait != (n-2)*time.Second {
			t.Fatalf("Totals = %+v, want %d waiting, the oldest for %ds", tot, n-2, n-2)
		}
		m.Close(func(s *Shard[int, entry], e *entry) { s.Fail(&e.q, nil) })
		if tot := m.Totals(nil); tot.Waiting != 0 || tot.OldestWait != 0 {
			t.Fatalf("after Close: %+v", tot)
		}
		for k := 2; k < n; k++ {
			if !ws[k].Await(context.Background(), nil, "test") || !ws[k].Closed {
				t.Fatalf("waiter %d not failed by Close", k)
			}
		}
	})
}

// Waits keeps its start times in order and OldestWait reads them.
func TestWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ws Waits
		if _, ok := ws.Oldest(); ok || ws.Len() != 0 {
			t.Fatal("empty Waits has an oldest")
		}
		a, b := new(Wait), new(Wait)
		ws.Start(a)
		time.Sleep(time.Second)
		ws.Start(b)
		time.Sleep(time.Second)
		if o, ok := ws.Oldest(); !ok || o != a.Since || OldestWait(o, time.Now()) != 2*time.Second || ws.Len() != 2 {
			t.Fatalf("oldest %v, %v, len %d", o, ok, ws.Len())
		}
		ws.End(a)
		if o, _ := ws.Oldest(); OldestWait(o, time.Now()) != time.Second {
			t.Fatal("oldest did not move to b")
		}
		ws.End(b)
		if OldestWait(time.Time{}, time.Now()) != 0 {
			t.Fatal("OldestWait of nobody is not 0")
		}
		now := time.Now()
		if Earlier(time.Time{}, now) != now || Earlier(now, time.Time{}) != now || Earlier(now, now.Add(time.Second)) != now || Earlier(now.Add(time.Second), now) != now {
			t.Fatal("Earlier")
		}
	})
}
