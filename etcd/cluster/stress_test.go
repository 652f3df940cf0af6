package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice/conctest"
)

// stressOps is the number of operations per goroutine; SLUICE_STRESS_OPS
// scales it up for a long hunt.
func stressOps(t *testing.T) int {
	if s := os.Getenv("SLUICE_STRESS_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SLUICE_STRESS_OPS=%q", s)
		}
		return n
	}
	return 20
}

// TestStressModel runs several replicas (separate clients, leases and
// watches) x several goroutines acquiring random weights, some cancelled
// while they wait, and checks the run against a model replayed from
// etcd's own history of the queue:
//
//   - every holder's fenced write (its work) lands at a revision where
//     the model, applying the admission rule to the keys at that revision,
//     says the holder is admitted: nobody holds out of FIFO order or above
//     the capacity;
//   - the holders that believe they hold never sum above the capacity;
//   - nothing is lost: every Acquire not cancelled succeeds, every key is
//     gone at the end, and every replica's figures are back to zero.
func TestStressModel(t *testing.T) {
	c := startEtcd(t, 1)
	const replicas, goroutines, capacity = 3, 5, 5
	ops := stressOps(t)
	var clis []*clientv3.Client
	for range replicas {
		clis = append(clis, client(t, c))
	}
	run := 0
	conctest.Runs(t, 2, func(t *testing.T, seed uint64) {
		run++
		prefix := fmt.Sprintf("/stress%d", run)
		start, err := clis[0].Get(tctx(t), prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		var sems []*Semaphore
		for _, cli := range clis {
			sems = append(sems, newSem(t, cli, prefix, capacity))
		}
		u := &inUse{t: t, capacity: capacity}
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			holders   = map[int64]int64{} // token -> weight
			cancelled int
		)
		for g := range replicas * goroutines {
			s := sems[g%replicas]
			r := rand.New(rand.NewPCG(seed, uint64(g)))
			plan := make([]struct {
				n      int64
				cancel time.Duration
			}, ops)
			for i := range plan {
				plan[i].n = 1 + r.Int64N(capacity)
				if r.IntN(4) == 0 {
					plan[i].cancel = time.Duration(1+r.IntN(20)) * time.Millisecond
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, op := range plan {
					ctx, cancel := context.WithTimeout(context.Background(), liveness)
					if op.cancel > 0 {
						cancel()
						ctx, cancel = context.WithTimeout(context.Background(), op.cancel)
					}
					p, err := s.Acquire(ctx, op.n)
					if err != nil {
						cancel()
						if op.cancel > 0 && errors.Is(err, context.DeadlineExceeded) {
							mu.Lock()
							cancelled++
							mu.Unlock()
							continue
						}
						t.Errorf("Acquire(%d): %v", op.n, err)
						return
					}
					u.enter(op.n)
					resp, err := s.q.cli.Txn(tctx(t)).If(p.Fence()).
						Then(clientv3.OpPut(fmt.Sprintf("%s/work/%d", prefix, p.Token()), strconv.FormatInt(op.n, 10))).Commit()
					if err != nil || !resp.Succeeded {
						t.Errorf("fenced write of a holder: %v, %v", resp, err)
					}
					mu.Lock()
					holders[p.Token()] = op.n
					mu.Unlock()
					u.leave(op.n)
					p.Release()
					cancel()
				}
			}()
		}
		conctest.NoDeadlock(t, liveness, "stress goroutines", wg.Wait)

		for i, s := range sems {
			waitStats(t, s, "figures back to zero", func(st Stats) bool {
				return st.InUse == 0 && st.Waiting == 0 && st.LocalWaiting == 0 && st.ClusterInUse == 0 && st.ClusterWaiting == 0
			})
			if st := s.Stats(); st.LeasesLost != 0 {
				t.Errorf("replica %d lost %d leases", i, st.LeasesLost)
			}
		}
		if n := countKeys(t, clis[0], prefix+"/q/"); n != 0 {
			t.Errorf("%d queue keys left", n)
		}
		checkModel(t, clis[0], prefix, start.Header.Revision, capacity, holders)
		var wakeups, contended int64
		for _, s := range sems {
			st := s.Stats()
			wakeups += st.Wakeups
			contended += st.Contended
		}
		t.Logf("%d holders, %d cancelled, peak in use %d of %d, %d wake-ups for %d admissions after a wait",
			len(holders), cancelled, u.max.Load(), capacity, wakeups, contended)
	})
}

// checkModel replays the history of prefix after rev and checks every
// holder's work against the admission rule.
func checkModel(t *testing.T, cli *clientv3.Client, prefix string, rev, capacity int64, holders map[int64]int64) {
	t.Helper()
	end := prefix + "/zz-end"
	if _, err := cli.Put(tctx(t), end, ""); err != nil {
		t.Fatal(err)
	}
	type ent struct{ rev, n int64 }
	var q []ent // by create revision
	admitted := func(token int64) bool {
		var sum int64
		for _, e := range q {
			sum += e.n
			if sum > capacity {
				return false
			}
			if e.rev == token {
				return true
			}
		}
		return false
	}
	keyRev := map[string]int64{}
	worked := map[int64]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	for resp := range cli.Watch(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			switch {
			case key == end:
				for tok := range holders {
					if !worked[tok] {
						t.Errorf("holder %d: no work in the history", tok)
					}
				}
				return
			case strings.HasPrefix(key, prefix+"/q/"):
				if ev.Type == clientv3.EventTypePut {
					q = append(q, ent{ev.Kv.CreateRevision, weight(ev.Kv.Value)})
					keyRev[key] = ev.Kv.CreateRevision
				} else {
					r := keyRev[key]
					q = slices.DeleteFunc(q, func(e ent) bool { return e.rev == r })
				}
			case strings.HasPrefix(key, prefix+"/work/"):
				tok, _ := strconv.ParseInt(strings.TrimPrefix(key, prefix+"/work/"), 10, 64)
				worked[tok] = true
				if !admitted(tok) {
					t.Errorf("holder %d worked at revision %d while the model says it is not admitted (queue %v)", tok, ev.Kv.ModRevision, q)
				}
			}
		}
	}
	t.Fatal("history watch ended before the end marker")
}
