package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchHandler keeps a primitive's mirror of the keys under one prefix.
// Its methods are called from one goroutine at a time.
type watchHandler interface {
	// reset replaces the mirror with kvs, the whole prefix at rev.
	reset(kvs []*mvccpb.KeyValue, rev int64)
	// apply applies evs (in revision order) and then records that the
	// mirror is at rev.
	apply(evs []*clientv3.Event, rev int64)
	// fail reports that the watch cannot go on: the client is closed.
	fail(err error)
}

// startWatch loads prefix into h and starts the primitive's one watch on
// it, owned by wg and stopped by bg. A primitive has exactly one watch,
// however many callers wait: the watch goroutine wakes only the callers
// whose condition an event has met.
func startWatch(ctx context.Context, cli *clientv3.Client, prefix string, h watchHandler, bg context.Context, wg *sync.WaitGroup) error {
	rev, err := loadPrefix(ctx, cli, prefix, h)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchLoop(bg, cli, prefix, h, rev)
	}()
	return nil
}

func loadPrefix(ctx context.Context, cli *clientv3.Client, prefix string, h watchHandler) (int64, error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("cluster: load %q: %w", prefix, err)
	}
	h.reset(resp.Kvs, resp.Header.Revision)
	return resp.Header.Revision, nil
}

// watchLoop watches prefix from rev+1 until bg ends, re-watching after an
// error from where it was, and reloading the prefix when etcd has
// compacted the revisions it needs. It requires a leader, so that a
// member cut off from the others ends the watch instead of going silent.
func watchLoop(bg context.Context, cli *clientv3.Client, prefix string, h watchHandler, rev int64) {
	backoff := newBackoff()
	for {
		reload := false
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(bg))
		wch := cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1),
			clientv3.WithPrevKV(), clientv3.WithProgressNotify())
		for resp := range wch {
			if resp.CompactRevision != 0 {
				reload = true
				break
			}
			if resp.Err() != nil {
				break
			}
			r := resp.Header.Revision
			if n := len(resp.Events); n > 0 {
				r = resp.Events[n-1].Kv.ModRevision
			}
			if r < rev {
				r = rev
			}
			h.apply(resp.Events, r)
			rev = r
			backoff.reset()
		}
		cancel()
		if bg.Err() != nil {
			return
		}
		if err := cli.Ctx().Err(); err != nil {
			h.fail(fmt.Errorf("cluster: etcd client closed: %w", err))
			return
		}
		if !backoff.wait(bg) {
			return
		}
		if reload {
			lctx, lcancel := context.WithTimeout(bg, 10*time.Second)
			r, err := loadPrefix(lctx, cli, prefix, h)
			lcancel()
			if err == nil {
				rev = r
			}
		}
	}
}

// backoff paces retries: 20 ms doubling to 1 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 20 * time.Millisecond} }

func (b *backoff) reset() { b.d = 20 * time.Millisecond }

// wait waits the current delay, doubling it, and reports false if ctx
// ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, time.Second)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
