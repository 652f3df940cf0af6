package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/sem"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// lease is one etcd lease as this process can prove it: valid until
// deadline, on this process's monotonic clock.
//
// Why the deadline is honest: etcd's leader sets the lease to expire TTL
// after it receives a grant or keepalive, and never earlier (a new leader
// extends every lease it inherits). The request was sent before it was
// received, so "send time + TTL" on our clock is no later than the
// server's expiry, give or take the two clocks' rate difference over one
// TTL; the margin covers that difference and leaves the holder time to
// stop. So ctx is done at deadline = send + TTL - margin, at the latest.
type lease struct {
	id     clientv3.LeaseID
	ctx    context.Context // done once the lease can no longer be proven
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	deadline time.Time
	timer    *time.Timer // fires at deadline
	lost     bool
}

// extend moves the deadline to d (never back) unless the lease is lost.
func (le *lease) extend(d time.Time) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.lost || !d.After(le.deadline) {
		return
	}
	le.deadline = d
	le.timer.Reset(time.Until(d))
}

func (le *lease) deadlineNow() time.Time {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.deadline
}

// expire runs when the timer fires: the lease is lost unless it was
// extended in the meantime.
func (le *lease) expire(l *leaser) {
	le.mu.Lock()
	if le.lost {
		le.mu.Unlock()
		return
	}
	if d := time.Until(le.deadline); d > 0 {
		le.timer.Reset(d)
		le.mu.Unlock()
		return
	}
	le.mu.Unlock()
	l.lose(le, fmt.Errorf("%w: no keepalive succeeded within the TTL less the margin", ErrLeaseLost))
}

// leaser grants a lease when one is needed and keeps it alive; one per
// primitive, so one lease holds all of a replica's keys of that
// primitive.
type leaser struct {
	cli *clientv3.Client
	cfg config
	bg  context.Context // ends at shutdown
	wg  *sync.WaitGroup

	granting *sem.Semaphore // one grant at a time (a ctx-aware mutex)

	mu  sync.Mutex
	cur *lease

	paused atomic.Bool // tests: keepalives are not sent while set
	lost   atomic.Int64
}

func newLeaser(cli *clientv3.Client, cfg config, bg context.Context, wg *sync.WaitGroup) *leaser {
	return &leaser{cli: cli, cfg: cfg, bg: bg, wg: wg, granting: sem.New(1)}
}

// get returns the live lease, granting one if there is none.
func (l *leaser) get(ctx context.Context) (*lease, error) {
	if le := l.live(); le != nil {
		return le, nil
	}
	if err := l.granting.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	defer l.granting.Release(1)
	if le := l.live(); le != nil {
		return le, nil
	}
	le, err := l.grant(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.cur = le
	l.mu.Unlock()
	return le, nil
}

func (l *leaser) live() *lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil && l.cur.ctx.Err() == nil {
		return l.cur
	}
	return nil
}

func (l *leaser) grant(ctx context.Context) (*lease, error) {
	if err := l.bg.Err(); err != nil {
		return nil, ErrClosed
	}
	secs := int64(l.cfg.ttl / time.Second)
	sent := time.Now()
	resp, err := l.cli.Grant(ctx, secs)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cluster: grant lease: %w", err)
	}
	if resp.TTL > secs {
		// etcd raised the TTL to its minimum: our deadline would be
		// computed from a TTL etcd does not use for our checks.
		rctx, cancel := context.WithTimeout(context.Background(), l.cfg.opTimeout)
		l.cli.Revoke(rctx, resp.ID)
		cancel()
		return nil, fmt.Errorf("%w: TTL %v is below this etcd cluster's minimum lease TTL (%ds)", ErrInvalid, l.cfg.ttl, resp.TTL)
	}
	le := &lease{id: resp.ID}
	le.ctx, le.cancel = context.WithCancelCause(context.Background())
	le.deadline = sent.Add(time.Duration(resp.TTL)*time.Second - l.cfg.margin)
	le.mu.Lock()
	le.timer = time.AfterFunc(time.Until(le.deadline), func() { le.expire(l) })
	le.mu.Unlock()
	l.wg.Add(1)
	go l.keepAlive(le)
	return le, nil
}

// lose marks le lost with cause: its ctx, and so every Permit under it,
// is cancelled, and the next get grants a new lease.
func (l *leaser) lose(le *lease, cause error) {
	le.mu.Lock()
	if le.lost {
		le.mu.Unlock()
		return
	}
	le.lost = true
	le.timer.Stop()
	le.mu.Unlock()
	le.cancel(cause)
	l.lost.Add(1)
	l.mu.Lock()
	if l.cur == le {
		l.cur = nil
	}
	l.mu.Unlock()
	l.cfg.logger.Warn("cluster: lease lost", "lease", fmt.Sprintf("%x", int64(le.id)), "cause", cause)
}

// keepAlive renews le every (TTL-margin)/3, sooner after a failure, and
// moves its deadline on each renewal by the send time of that request.
func (l *leaser) keepAlive(le *lease) {
	defer l.wg.Done()
	interval := (l.cfg.ttl - l.cfg.margin) / 3
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-l.bg.Done():
			return
		case <-le.ctx.Done():
			return
		case <-t.C:
		}
		if l.paused.Load() {
			t.Reset(interval / 4)
			continue
		}
		sent := time.Now()
		kctx, cancel := context.WithDeadline(l.bg, le.deadlineNow())
		resp, err := l.cli.KeepAliveOnce(kctx, le.id)
		cancel()
		switch {
		case err == nil && resp.TTL > 0:
			le.extend(sent.Add(time.Duration(resp.TTL)*time.Second - l.cfg.margin))
			t.Reset(interval)
		case errors.Is(err, rpctypes.ErrLeaseNotFound) || err == nil:
			l.lose(le, fmt.Errorf("%w: etcd no longer has the lease", ErrLeaseLost))
			return
		default:
			t.Reset(interval / 4)
		}
	}
}

// shutdown revokes the current lease (so its keys go at once) and cancels
// its ctx with ErrClosed. The caller has cancelled bg and waits for wg.
func (l *leaser) shutdown() {
	l.mu.Lock()
	le := l.cur
	l.cur = nil
	l.mu.Unlock()
	if le == nil {
		return
	}
	le.mu.Lock()
	already := le.lost
	le.lost = true
	le.timer.Stop()
	le.mu.Unlock()
	if !already {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.opTimeout)
		l.cli.Revoke(ctx, le.id)
		cancel()
	}
	le.cancel(ErrClosed)
}
