package cluster

import (
	"context"
	"sync"
	"testing"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// BenchmarkUncontended compares one acquire+release on one replica, with
// nobody else queued, against etcd's own concurrency.Mutex Lock/Unlock on
// the same embedded server in the same run: each is two round trips (a
// transaction that queues and reads the queue, then a delete).
//
//	go test -run '^$' -bench Uncontended -count 10 ./cluster
func BenchmarkUncontended(b *testing.B) {
	c := startEtcd(b, 1)
	cli := client(b, c)
	ctx := context.Background()
	b.Run("impl=etcd-mutex", func(b *testing.B) {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		m := concurrency.NewMutex(s, "/bench/etcd-mutex")
		for b.Loop() {
			if err := m.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			if err := m.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=sluice-semaphore", func(b *testing.B) {
		s, err := NewSemaphore(ctx, cli, "/bench/sem", 1)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			p, err := s.Acquire(ctx, 1)
			if err != nil {
				b.Fatal(err)
			}
			p.Release()
		}
	})
	// Once: a hit (the success recorded: one transaction that writes
	// nothing), and a run that records plus the Forget that undoes it.
	b.Run("impl=sluice-once-hit", func(b *testing.B) {
		o, err := NewOnce(ctx, cli, "/bench/once-hit")
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		nop := func(context.Context) error { return nil }
		if err := o.Do(ctx, "k", nop); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := o.Do(ctx, "k", nop); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=sluice-once-run+forget", func(b *testing.B) {
		o, err := NewOnce(ctx, cli, "/bench/once-run")
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		nop := func(context.Context) error { return nil }
		for b.Loop() {
			if err := o.Do(ctx, "k", nop); err != nil {
				b.Fatal(err)
			}
			if err := o.Forget(ctx, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=sluice-mutex", func(b *testing.B) {
		m, err := NewMutex(ctx, cli, "/bench/mutex")
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		for b.Loop() {
			p, err := m.Lock(ctx, "k")
			if err != nil {
				b.Fatal(err)
			}
			p.Release()
		}
	})
}

// BenchmarkContended: 3 replicas x 8 goroutines on a semaphore of 4
// permits; reports permits per second and wake-ups per admission after a
// wait. etcd's Mutex is the 1-permit case, for scale.
func BenchmarkContended(b *testing.B) {
	c := startEtcd(b, 1)
	ctx := context.Background()
	b.Run("impl=sluice-semaphore", func(b *testing.B) {
		var sems []*Semaphore
		for range 3 {
			s, err := NewSemaphore(ctx, client(b, c), "/bench/contended", 4)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sems = append(sems, s)
		}
		work := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 24 {
			s := sems[g%3]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					p, err := s.Acquire(ctx, 1)
					if err != nil {
						b.Error(err)
						return
					}
					p.Release()
				}
			}()
		}
		for b.Loop() {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		var wake, cont int64
		for _, s := range sems {
			st := s.Stats()
			wake += st.Wakeups
			cont += st.Contended
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "permits/s")
		if cont > 0 {
			b.ReportMetric(float64(wake)/float64(cont), "wakeups/admission")
		}
	})
	b.Run("impl=etcd-mutex", func(b *testing.B) {
		work := make(chan struct{})
		var wg sync.WaitGroup
		for range 24 {
			cli := client(b, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
				if err != nil {
					b.Error(err)
					return
				}
				defer s.Close()
				m := concurrency.NewMutex(s, "/bench/contended-mutex")
				for range work {
					if err := m.Lock(ctx); err != nil {
						b.Error(err)
						return
					}
					m.Unlock(ctx)
				}
			}()
		}
		for b.Loop() {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "permits/s")
	})
}
