package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// queue is the engine under Semaphore and Mutex: FIFO queues of weighted
// entries in etcd, one queue per group, each with a capacity.
//
// An entry is a key under prefix+group, put under this replica's lease,
// whose value is its weight. Entries of a group are ordered by their
// create revision. The rule that decides who holds is a pure function of
// the keys at a revision:
//
//	an entry is admitted iff the weights of the entries created before it,
//	plus its own, do not exceed the capacity.
//
// So the admitted entries are always a prefix of the group, their weights
// never sum above the capacity, and admission is monotone: an entry, once
// admitted at some revision, stays admitted at every later one until its
// key is deleted (entries only join at the end, and leaving only lowers
// the sums of those behind). Every replica evaluates the same rule on the
// same revisions, so they agree on who holds without talking to each
// other, and a waiter that retries its put with the same key keeps its
// revision, and so its place.
type queue struct {
	cli    *clientv3.Client
	cfg    config
	prefix string // watched; ends in "/"
	capOf  func(group string) int64
	// cmps guard every entry's creation (the Semaphore's capacity check);
	// onElse explains a failed guard from the Else responses.
	cmps    []clientv3.Cmp
	elseOps []clientv3.Op
	onElse  func(resps []*pb.ResponseOp) error

	ls   *leaser
	bg   context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	kick chan struct{} // wakes the janitor

	mu      sync.Mutex
	rev     int64
	entries map[string]*entry
	groups  map[string]*group
	waiters map[string]*waiter // this replica's entries: waiting or held
	termErr error
	closed  bool
	active  int64 // calls in progress and permits held
	down    bool
	pending []pendingDelete
	// slots are the key suffixes in use per group (by a live entry or a
	// pending delete). A new entry takes the lowest free one, so a replica
	// reuses a bounded set of key names: etcd keeps a deleted key in its
	// index until compaction, and ranges over a prefix of ever-new names
	// would slow down with the history.
	slots map[string]map[int64]bool
	// creating are the keys whose put is in flight: their put event is
	// expected before their waiter registers.
	creating map[string]bool

	inUse, waiting                                    int64
	admitted, contended, cancelled, rejected, wakeups int64
}

type entry struct {
	key, group string
	rev, n     int64
	admitted   bool
}

type group struct {
	q         []*entry // oldest first
	inUse     int64
	nAdmitted int
}

type waiter struct {
	key   string
	group string
	slot  int64
	rev   int64
	n     int64
	le    *lease
	ready chan struct{} // closed when settled while waiting
	// under queue.mu:
	waiting bool  // still waiting for admission
	settled bool  // the wait has an outcome (err nil: admitted)
	err     error // the outcome
	permit  *Permit
}

type pendingDelete struct {
	key   string
	le    *lease
	group string
	slot  int64
	rev   int64 // > 0: delete only the entry created at rev
}

func (q *queue) allocLocked(group string) int64 {
	s := q.slots[group]
	if s == nil {
		s = map[int64]bool{}
		q.slots[group] = s
	}
	for i := int64(0); ; i++ {
		if !s[i] {
			s[i] = true
			return i
		}
	}
}

func (q *queue) freeSlot(group string, i int64) {
	if i < 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if s := q.slots[group]; s != nil {
		delete(s, i)
		if len(s) == 0 {
			delete(q.slots, group)
		}
	}
}

func newQueue(cli *clientv3.Client, cfg config, prefix string, capOf func(string) int64) *queue {
	bg, stop := context.WithCancel(context.Background())
	q := &queue{
		cli: cli, cfg: cfg, prefix: prefix, capOf: capOf,
		bg: bg, stop: stop, kick: make(chan struct{}, 1),
		entries: map[string]*entry{}, groups: map[string]*group{}, waiters: map[string]*waiter{},
		slots: map[string]map[int64]bool{}, creating: map[string]bool{},
	}
	q.ls = newLeaser(cli, cfg, bg, &q.wg)
	return q
}

// start grants the first lease (which checks the TTL) and starts the
// watch and the janitor.
func (q *queue) start(ctx context.Context) error {
	if _, err := q.ls.get(ctx); err != nil {
		q.shutdown()
		return err
	}
	if err := startWatch(ctx, q.cli, q.prefix, q, q.bg, &q.wg); err != nil {
		q.shutdown()
		return err
	}
	q.wg.Add(1)
	go q.janitor()
	return nil
}

func (q *queue) groupPrefix(g string) string {
	if g == "" {
		return q.prefix
	}
	return q.prefix + g + "/"
}

func (q *queue) groupOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, q.prefix)
	if !ok {
		return "", false
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		return rest[:i], true
	}
	return "", true
}

// begin counts a call in progress, or fails once closed.
func (q *queue) begin() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.termErr != nil {
		return q.termErr
	}
	q.active++
	return nil
}

// end uncounts a call or a released permit; the last one after Close
// stops the background goroutines and revokes the lease.
func (q *queue) end() {
	q.mu.Lock()
	q.active--
	last := q.closed && q.active == 0 && !q.down
	if last {
		q.down = true
	}
	q.mu.Unlock()
	if last {
		q.shutdown()
	}
}

func (q *queue) shutdown() {
	q.stop()
	q.ls.shutdown()
	q.wg.Wait()
}

// close fails every waiter with ErrClosed; permits held stay held, their
// lease kept alive, until released.
func (q *queue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	for _, w := range q.waiters {
		q.settleLocked(w, ErrClosed)
	}
	last := q.active == 0 && !q.down
	if last {
		q.down = true
	}
	q.mu.Unlock()
	if last {
		q.shutdown()
	}
}

// acquire queues an entry of weight n in group and waits until it is
// admitted. With try, it does not wait: an entry that is not admitted at
// once is deleted and acquire returns nil, nil. onRelease runs when the
// permit is released. x, if not nil, adds a condition to the entry's
// creation (see extra). The caller has called begin; acquire calls end if
// it fails.
func (q *queue) acquire(ctx context.Context, group string, n int64, try bool, onRelease func(), x *extra) (*Permit, error) {
	var (
		le       *lease
		key      string
		slot     int64
		rev      int64
		admitted bool
		c        created
	)
	for {
		var err error
		if le, err = q.ls.get(ctx); err != nil {
			q.end()
			return nil, err
		}
		q.mu.Lock()
		slot = q.allocLocked(group)
		key = q.groupPrefix(group) + fmt.Sprintf("%016x-%x", int64(le.id), slot)
		q.creating[key] = true
		q.mu.Unlock()
		c, err = q.create(ctx, le, key, group, n, x)
		rev, admitted = c.rev, c.admitted
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			// etcd dropped the lease before we knew: no entry exists
			// under it, so start again on a new one.
			q.ls.lose(le, fmt.Errorf("%w: etcd no longer has the lease", ErrLeaseLost))
			q.mu.Lock()
			delete(q.creating, key)
			q.mu.Unlock()
			continue
		}
		if err != nil && c.clean {
			// Refused, and no put can land: nothing to delete.
			q.mu.Lock()
			delete(q.creating, key)
			q.mu.Unlock()
			q.freeSlot(group, slot)
			q.end()
			return nil, err
		}
		if err != nil {
			// An attempt may have landed, or may still land after this
			// delete (a proposal the old leader had not committed): the
			// watch deletes such a late entry (see addLocked). The slot
			// stays taken, so the name is never reused under this lease.
			q.mu.Lock()
			delete(q.creating, key)
			q.mu.Unlock()
			q.deleteKey(key, le, group, -1)
			q.end()
			return nil, err
		}
		break
	}
	w := &waiter{key: key, group: group, slot: slot, rev: rev, n: n, le: le, ready: make(chan struct{})}
	q.mu.Lock()
	if q.closed {
		delete(q.creating, key)
		q.mu.Unlock()
		q.deleteKey(key, le, group, slot)
		q.end()
		return nil, ErrClosed
	}
	q.waiters[key] = w
	delete(q.creating, key)
	if admitted {
		w.settled = true
	} else if try {
		delete(q.waiters, key)
		q.rejected++
		q.mu.Unlock()
		q.deleteKey(key, le, group, slot)
		q.end()
		return nil, nil
	} else {
		w.waiting = true
		q.waiting++
		if q.rev >= rev {
			// The mirror is past our put: judge by it now.
			if e := q.entries[key]; e == nil || e.rev != rev {
				q.settleLocked(w, fmt.Errorf("%w: the entry was deleted while waiting", ErrLeaseLost))
			} else if e.admitted {
				q.settleLocked(w, nil)
			}
		}
	}
	q.mu.Unlock()

	if !admitted {
		select {
		case <-w.ready:
		case <-ctx.Done():
		case <-le.ctx.Done():
		}
		q.mu.Lock()
		var err error
		switch {
		case ctx.Err() != nil:
			err = ctx.Err() // even if admitted just now: the caller holds nothing
			q.cancelled++
		case w.settled:
			err = w.err
		default:
			err = context.Cause(le.ctx)
		}
		if w.waiting {
			w.waiting = false
			q.waiting--
		}
		w.settled = true
		if err != nil {
			if q.waiters[key] == w {
				delete(q.waiters, key)
			}
			q.mu.Unlock()
			q.deleteKey(key, le, group, slot)
			q.end()
			return nil, err
		}
		q.contended++
		q.mu.Unlock()
	}
	p := &Permit{q: q, key: key, group: group, slot: slot, token: rev, n: n, le: le, onRelease: onRelease,
		atOnce: admitted, mod: c.mod}
	p.ctx, p.cancel = context.WithCancelCause(le.ctx)
	q.mu.Lock()
	q.admitted++
	q.inUse += n
	w.permit = p
	if q.waiters[key] != w {
		// The key was deleted between admission and now.
		p.cancel(fmt.Errorf("%w: the permit's key was deleted", ErrLeaseLost))
	}
	q.mu.Unlock()
	return p, nil
}

// extra adds a caller's own condition to the transaction that creates
// an entry (the Once's "no success recorded"): cmps must hold for the put,
// reads are read in its Else, and check judges them; a non-nil error from
// check means the entry must not stand: acquire withdraws it (if a put
// landed) and returns that error.
type extra struct {
	cmps  []clientv3.Cmp
	reads []clientv3.Op
	check func(reads []*pb.ResponseOp) error
}

// created is what create learnt.
type created struct {
	rev      int64 // the entry's create revision
	mod      int64 // its mod revision, at the revision of the transaction
	admitted bool  // admitted at the revision of the transaction
	// clean: the call failed and no put of the key landed or can still
	// land (one attempt only, and its answer said so): nothing to delete.
	clean bool
}

// create puts key (weight n, under le) unless it exists, and reports its
// create revision and whether it is admitted at the revision of the put.
// It retries on errors that may be transient, with the same key, so a
// retry after a lost response finds its own entry and keeps its place.
// With x, x's conditions must hold too, and a failed one is reported as
// x.check says; when the entry is admitted, they held at the revision at
// which it was judged admitted.
func (q *queue) create(ctx context.Context, le *lease, key, group string, n int64, x *extra) (created, error) {
	gp := q.groupPrefix(group)
	sorted := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}
	cmps := append(slices.Clip(q.cmps), clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
	elseOps := append([]clientv3.Op{clientv3.OpGet(key), clientv3.OpGet(gp, sorted...)}, q.elseOps...)
	if x != nil {
		cmps = append(cmps, x.cmps...)
		elseOps = append(elseOps, x.reads...)
	}
	b := newBackoff()
	attempts := 0
	for {
		attempts++
		resp, err := q.cli.Txn(ctx).If(cmps...).
			Then(clientv3.OpPut(key, strconv.FormatInt(n, 10), clientv3.WithLease(le.id)), clientv3.OpGet(gp, sorted...)).
			Else(elseOps...).Commit()
		if err == nil {
			var kvs []*mvccpb.KeyValue
			c := created{}
			if resp.Succeeded {
				kvs = resp.Responses[1].GetResponseRange().Kvs
				c.rev = resp.Header.Revision
				c.mod = c.rev
			} else {
				own := resp.Responses[0].GetResponseRange().Kvs
				clean := len(own) == 0 && attempts == 1
				rest := resp.Responses[2:]
				if q.onElse != nil {
					if err := q.onElse(rest[:len(q.elseOps)]); err != nil {
						return created{clean: clean}, err
					}
				}
				if x != nil {
					if err := x.check(rest[len(q.elseOps):]); err != nil {
						return created{clean: clean}, err
					}
				}
				if len(own) == 0 {
					return created{clean: clean}, fmt.Errorf("cluster: put of %q failed its checks", key)
				}
				c.rev, c.mod = own[0].CreateRevision, own[0].ModRevision
				kvs = resp.Responses[1].GetResponseRange().Kvs
			}
			c.admitted = fitsAt(kvs, key, q.capOf(group))
			return c, nil
		}
		if err := giveUp(ctx, q.cli, le, err); err != nil {
			return created{}, err
		}
		if !b.wait(ctx) {
			return created{}, ctx.Err()
		}
	}
}

// fitsAt applies the admission rule to kvs, a group's entries sorted by
// create revision: is key admitted?
func fitsAt(kvs []*mvccpb.KeyValue, key string, capacity int64) bool {
	var sum int64
	for _, kv := range kvs {
		sum += weight(kv.Value)
		if sum > capacity {
			return false
		}
		if string(kv.Key) == key {
			return true
		}
	}
	return false
}

func weight(v []byte) int64 {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// giveUp returns nil if a failed etcd call should be retried, and the
// error to return otherwise: the caller's ctx ended, the client is
// closed, the lease is lost, or etcd refused the request for good.
func giveUp(ctx context.Context, cli *clientv3.Client, le *lease, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return err
	case cli.Ctx().Err() != nil:
		return fmt.Errorf("cluster: etcd client closed: %w", err)
	case le != nil && le.ctx.Err() != nil:
		return context.Cause(le.ctx)
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition,
		codes.OutOfRange, codes.Unimplemented, codes.ResourceExhausted:
		return fmt.Errorf("cluster: %w", err)
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		switch ee.Code() {
		case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition,
			codes.OutOfRange, codes.Unimplemented, codes.ResourceExhausted:
			return fmt.Errorf("cluster: %w", err)
		}
	}
	return nil
}

// deleteKey deletes key, bounded by the op timeout; if that fails while
// its lease lives (so the key would stay), the janitor retries.
func (q *queue) deleteKey(key string, le *lease, group string, slot int64) {
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.opTimeout)
	_, err := q.cli.Delete(ctx, key)
	cancel()
	if err == nil || le.ctx.Err() != nil {
		q.freeSlot(group, slot)
		return
	}
	q.mu.Lock()
	if q.down {
		q.mu.Unlock()
		return
	}
	q.pending = append(q.pending, pendingDelete{key: key, le: le, group: group, slot: slot})
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
	q.cfg.logger.Warn("cluster: delete failed, retrying in the background", "key", key, "err", err)
}

// janitor retries failed deletes until each succeeds or its lease ends
// (its keys then go with it). At shutdown the lease is revoked instead.
func (q *queue) janitor() {
	defer q.wg.Done()
	b := newBackoff()
	for {
		q.mu.Lock()
		todo := q.pending
		q.pending = nil
		q.mu.Unlock()
		var again []pendingDelete
		for _, d := range todo {
			if d.le.ctx.Err() == nil {
				ctx, cancel := context.WithTimeout(q.bg, q.cfg.opTimeout)
				var err error
				if d.rev > 0 {
					_, err = q.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(d.key), "=", d.rev)).
						Then(clientv3.OpDelete(d.key)).Commit()
				} else {
					_, err = q.cli.Delete(ctx, d.key)
				}
				cancel()
				if err != nil {
					again = append(again, d)
					continue
				}
			}
			q.freeSlot(d.group, d.slot)
		}
		if len(again) > 0 {
			q.mu.Lock()
			q.pending = append(q.pending, again...)
			q.mu.Unlock()
			if !b.wait(q.bg) {
				return
			}
			continue
		}
		b.reset()
		select {
		case <-q.bg.Done():
			return
		case <-q.kick:
		}
	}
}

// zombieLocked deletes an entry under this replica's live lease that no
// call of this replica owns: a put that landed after its call gave up and
// deleted the key. Left alone, it would hold its weight for as long as the
// lease lives. The delete is conditional on its create revision.
func (q *queue) zombieLocked(key string, createRev, leaseID int64) {
	le := q.ls.live()
	if le == nil || int64(le.id) != leaseID || q.down {
		return
	}
	q.pending = append(q.pending, pendingDelete{key: key, le: le, slot: -1, rev: createRev})
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// settleLocked ends w's wait with err (nil: admitted) and wakes it.
func (q *queue) settleLocked(w *waiter, err error) {
	if w.settled {
		return
	}
	w.settled = true
	w.err = err
	q.wakeups++
	close(w.ready)
}

// lostLocked tells this replica's waiter or holder of key, if its entry
// is the one created at rev, that its entry is gone. (A key name is
// reused once its delete succeeded, so the mirror may see the delete of
// an older entry of the same name after a new waiter registered.)
func (q *queue) lostLocked(key string, rev int64) {
	w := q.waiters[key]
	if w == nil || w.rev != rev {
		return
	}
	err := fmt.Errorf("%w: the permit's key was deleted", ErrLeaseLost)
	if w.permit != nil {
		w.permit.cancel(err)
	}
	delete(q.waiters, key)
	if !w.settled {
		q.settleLocked(w, err)
	}
}

// admitLocked admits g's waiting entries from the front while they fit,
// and wakes this replica's waiters among them: a release wakes only the
// waiters it lets in.
func (q *queue) admitLocked(name string, g *group) {
	capacity := q.capOf(name)
	for g.nAdmitted < len(g.q) {
		e := g.q[g.nAdmitted]
		if g.inUse+e.n > capacity {
			return
		}
		e.admitted = true
		g.inUse += e.n
		g.nAdmitted++
		if w := q.waiters[e.key]; w != nil && w.rev == e.rev && !w.settled {
			q.settleLocked(w, nil)
		}
	}
}

func (q *queue) addLocked(key string, createRev int64, v []byte, leaseID int64) {
	if q.entries[key] != nil {
		return
	}
	if w := q.waiters[key]; (w == nil || w.rev != createRev) && !q.creating[key] {
		q.zombieLocked(key, createRev, leaseID)
	}
	name, ok := q.groupOf(key)
	if !ok {
		return
	}
	e := &entry{key: key, group: name, rev: createRev, n: weight(v)}
	q.entries[key] = e
	g := q.groups[name]
	if g == nil {
		g = &group{}
		q.groups[name] = g
	}
	i, _ := slices.BinarySearchFunc(g.q, createRev, func(e *entry, r int64) int { return int(e.rev - r) })
	g.q = slices.Insert(g.q, i, e)
	if i < g.nAdmitted {
		// Only a reload can insert before admitted entries; recount.
		g.inUse, g.nAdmitted = 0, 0
		for _, e := range g.q {
			e.admitted = false
		}
	}
	q.admitLocked(name, g)
}

func (q *queue) removeLocked(key string) {
	e := q.entries[key]
	if e == nil {
		return
	}
	delete(q.entries, key)
	g := q.groups[e.group]
	i := slices.Index(g.q, e)
	g.q = slices.Delete(g.q, i, i+1)
	if e.admitted {
		g.inUse -= e.n
		g.nAdmitted--
	}
	if len(g.q) == 0 {
		delete(q.groups, e.group)
	} else {
		q.admitLocked(e.group, g)
	}
	q.lostLocked(key, e.rev)
}

func (q *queue) reset(kvs []*mvccpb.KeyValue, rev int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := map[string]int64{}
	for _, kv := range kvs {
		now[string(kv.Key)] = kv.CreateRevision
	}
	for key, e := range q.entries {
		if now[key] != e.rev {
			q.removeLocked(key)
		}
	}
	slices.SortFunc(kvs, func(a, b *mvccpb.KeyValue) int { return int(a.CreateRevision - b.CreateRevision) })
	for _, kv := range kvs {
		q.addLocked(string(kv.Key), kv.CreateRevision, kv.Value, kv.Lease)
	}
	q.rev = rev
	// Waiters whose put is at or before rev but not in kvs lost their entry.
	for key, w := range q.waiters {
		if e := q.entries[key]; w.rev <= rev && (e == nil || e.rev != w.rev) {
			q.lostLocked(key, w.rev)
		}
	}
}

func (q *queue) apply(evs []*clientv3.Event, rev int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ev := range evs {
		key := string(ev.Kv.Key)
		switch ev.Type {
		case clientv3.EventTypePut:
			q.addLocked(key, ev.Kv.CreateRevision, ev.Kv.Value, ev.Kv.Lease)
		case clientv3.EventTypeDelete:
			q.removeLocked(key)
		}
	}
	q.rev = rev
}

func (q *queue) fail(err error) {
	q.mu.Lock()
	q.termErr = err
	for _, w := range q.waiters {
		q.settleLocked(w, err)
	}
	q.mu.Unlock()
	if le := q.ls.live(); le != nil {
		q.ls.lose(le, fmt.Errorf("%w: %w", ErrLeaseLost, err))
	}
}

// clusterLocked returns the admitted weight and the waiting entries over
// every group, as the mirror last saw them.
func (q *queue) clusterLocked() (inUse, waiting int64) {
	for _, g := range q.groups {
		inUse += g.inUse
		waiting += int64(len(g.q) - g.nAdmitted)
	}
	return inUse, waiting
}

// Permit is an owned hold on permits of a [Semaphore] or on a key of a
// [Mutex]: an entry in etcd under this replica's lease. Its Release is
// idempotent and safe from several goroutines: exactly one call gives the
// permits back.
type Permit struct {
	q         *queue
	key       string
	group     string
	slot      int64
	token     int64
	n         int64
	le        *lease
	ctx       context.Context
	cancel    context.CancelCauseFunc
	onRelease func()
	released  atomic.Bool
	// atOnce: admitted by the creating transaction itself, so an extra's
	// conditions held at the revision it was admitted at, when the key's
	// mod revision was mod.
	atOnce bool
	mod    int64
}

// Context returns a context that is done once the permit is released
// (cause [ErrReleased]) or once this process can no longer prove it holds
// its lease (cause [ErrLeaseLost]): judged on this process's clock, a
// margin before etcd could expire the lease, so before any other replica
// can be admitted in its place. Run the work the permit guards under this
// context.
func (p *Permit) Context() context.Context { return p.ctx }

// Token returns the fencing token: the etcd revision at which the permit's
// key was created. Tokens are unique and increase in queue order across
// every replica, so a resource outside etcd can refuse a request that
// carries a lower token than one it has seen (for a Mutex key, that is
// exactly a stale holder).
func (p *Permit) Token() int64 { return p.token }

// Fence returns the comparison that holds in an etcd transaction only
// while this permit is held: its key exists, with its create revision.
// Put it in the If of a Txn that writes state the permit guards, and the
// write fails once the permit has been released or its lease has expired,
// whatever this process believes:
//
//	cli.Txn(ctx).If(p.Fence()).Then(clientv3.OpPut(k, v)).Commit()
func (p *Permit) Fence() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(p.key), "=", p.token)
}

// Key returns the permit's etcd key.
func (p *Permit) Key() string { return p.key }

// N returns the number of permits held.
func (p *Permit) N() int64 { return p.n }

// Released reports whether Release has been called.
func (p *Permit) Released() bool { return p.released.Load() }

// Release gives the permits back: it deletes the key (bounded by the op
// timeout; a failed delete is retried in the background, and the lease's
// end removes the key anyway) and then frees the local slot. Only the
// first call does so and returns true. Release after Close is fine, and
// so is Release after the lease was lost.
func (p *Permit) Release() bool { return p.release(false) }

// release is Release; with deleted, the caller's own transaction has
// deleted the key already, so no delete is sent.
func (p *Permit) release(deleted bool) bool {
	if !p.released.CompareAndSwap(false, true) {
		return false
	}
	p.cancel(ErrReleased)
	q := p.q
	q.mu.Lock()
	if w := q.waiters[p.key]; w != nil && w.permit == p {
		delete(q.waiters, p.key)
	}
	q.inUse -= p.n
	q.mu.Unlock()
	if deleted {
		q.freeSlot(p.group, p.slot)
	} else {
		q.deleteKey(p.key, p.le, p.group, p.slot)
	}
	if p.onRelease != nil {
		p.onRelease()
	}
	q.end()
	return true
}

// stats fills the figures every queue keeps.
type queueStats struct {
	InUse, Waiting, ClusterInUse, ClusterWaiting      int64
	Admitted, Contended, Cancelled, Rejected, Wakeups int64
	LeasesLost                                        int64
	Closed                                            bool
}

func (q *queue) stats() queueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	ci, cw := q.clusterLocked()
	return queueStats{
		InUse: q.inUse, Waiting: q.waiting, ClusterInUse: ci, ClusterWaiting: cw,
		Admitted: q.admitted, Contended: q.contended, Cancelled: q.cancelled, Rejected: q.rejected,
		Wakeups: q.wakeups, LeasesLost: q.ls.lost.Load(), Closed: q.closed,
	}
}
