package gate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/gate"
)

// The model test drives random sequences of operations against a Gate in a
// synctest bubble and, after every step, compares what really happened
// (which fns have started and returned, which callers have returned and
// with what, Stats) with a reference model that knows only the rules:
// permits, strict FIFO, write exclusivity, deadlines, Close.
//
// Deadlines make the order of events matter, so the driver keeps every
// pending event time distinct: two timers firing at the same instant could
// legitimately be served in either order. Operations are started at
// distinct times (nudging the clock by 1 ms when a new deadline would
// collide), and the stream lifetime is an odd number of nanoseconds so
// that stream expiries never coincide with the whole-millisecond deadlines.

const (
	modelDeadline = 5 * time.Second
	modelLifetime = 7*time.Second + 312937100*time.Nanosecond
)

type opKind int

const (
	kRead opKind = iota
	kInline
	kWrite
	kStream
)

func (k opKind) String() string { return [...]string{"read", "inline", "write", "stream"}[k] }

type fnState int

const (
	fnWaiting fnState = iota // not admitted yet
	fnRunning
	fnOver // returned, or never ran
)

type resClass int

const (
	resNone resClass = iota
	resNil
	resClosed
	resDeadlineWaiting
	resDeadlineRunning
	resCanceled
	resCtxDeadline // the caller's own ctx deadline, passed through by fn (inline)
)

func (r resClass) String() string {
	return [...]string{"none", "nil", "ErrClosed", "deadline(waiting)", "deadline(running)", "Canceled", "ctx DeadlineExceeded"}[r]
}

func classify(err error) resClass {
	var de *gate.DeadlineError
	switch {
	case err == nil:
		return resNil
	case errors.Is(err, gate.ErrClosed):
		return resClosed
	case errors.As(err, &de) && de.Waiting:
		return resDeadlineWaiting
	case errors.As(err, &de):
		return resDeadlineRunning
	case errors.Is(err, context.Canceled):
		return resCanceled
	case err == context.DeadlineExceeded:
		return resCtxDeadline
	}
	return resNone
}

// mop is one operation, as the model sees it and as it really runs.
type mop struct {
	id     int
	kind   opKind
	honour bool // fn returns when its ctx ends

	// model
	start      time.Time
	eff        time.Time // read deadline / stream admission deadline
	ctxEnd     time.Time // inline: when the caller's ctx expires (zero if never)
	lifeEnd    time.Time // stream: when its ctx ends, once admitted
	fn         fnState
	admitted   bool
	waited     bool // its permit or slot was not free at once
	callerDone bool
	res        resClass

	// real
	ctx      context.Context
	cancel   context.CancelFunc
	entered  atomic.Bool
	returned atomic.Bool
	release  chan struct{}
	resCh    <-chan error
	got      resClass // the real result, once read
	gotErr   error
	released bool
}

type model struct {
	t       *testing.T
	rng     *rand.Rand
	g       *gate.Gate
	readers int
	streams int
	now     time.Time
	ops     []*mop
	q       []*mop // reads and writes waiting, FIFO
	sq      []*mop // streams waiting, FIFO
	inUse   int
	sInUse  int
	closed  bool
	hits    int64
	log     []string

	// The totals the model predicts, by lane (see lanes), and the waits
	// the OnWait hook must have seen.
	admittedN, cancelledN [3]int64
	wantWaits             []time.Duration
	waitsMu               sync.Mutex
	waits                 []time.Duration

	// live exclusivity check, independent of the model
	mu            sync.Mutex
	readsRunning  int
	writesRunning int
}

func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf("%v ", m.now.Sub(time.Unix(946684800, 0)))+fmt.Sprintf(format, args...))
}

func (m *model) fail(format string, args ...any) {
	m.t.Helper()
	tail := m.log
	if len(tail) > 40 {
		tail = tail[len(tail)-40:]
	}
	msg := fmt.Sprintf(format, args...)
	for _, l := range tail {
		msg += "\n  " + l
	}
	m.cleanup()
	m.t.Fatal(msg)
}

// cleanup lets every goroutine of a failed run finish, so the bubble can end.
func (m *model) cleanup() {
	m.g.Close()
	for _, o := range m.ops {
		if !o.released {
			o.released = true
			close(o.release)
		}
		o.cancel()
	}
}

// fnFor returns the fn the gate runs for o. It checks exclusivity live.
func (m *model) fnFor(o *mop) func(context.Context) error {
	return func(ctx context.Context) error {
		m.mu.Lock()
		if o.kind == kWrite {
			if m.readsRunning > 0 || m.writesRunning > 0 {
				m.t.Errorf("op %d: write runs beside %d reads and %d writes", o.id, m.readsRunning, m.writesRunning)
			}
			m.writesRunning++
		} else if o.kind != kStream {
			if m.writesRunning > 0 {
				m.t.Errorf("op %d: read runs during a write", o.id)
			}
			m.readsRunning++
			if m.readsRunning > m.readers {
				m.t.Errorf("op %d: %d reads at once, cap %d", o.id, m.readsRunning, m.readers)
			}
		}
		m.mu.Unlock()
		o.entered.Store(true)
		var err error
		if o.honour {
			select {
			case <-o.release:
			case <-ctx.Done():
				err = ctx.Err()
			}
		} else {
			<-o.release
		}
		m.mu.Lock()
		switch o.kind {
		case kWrite:
			m.writesRunning--
		case kRead, kInline:
			m.readsRunning--
		}
		m.mu.Unlock()
		o.returned.Store(true)
		return err
	}
}

// --- model transitions ---

func (m *model) need(o *mop) int {
	if o.kind == kWrite {
		return m.readers
	}
	return 1
}

func (m *model) grant() {
	for len(m.q) > 0 {
		h := m.q[0]
		if m.inUse+m.need(h) > m.readers {
			break
		}
		m.inUse += m.need(h)
		m.q = m.q[1:]
		m.admit(h)
	}
	for len(m.sq) > 0 && m.sInUse < m.streams {
		h := m.sq[0]
		m.sq = m.sq[1:]
		m.sInUse++
		m.admit(h)
	}
}

// laneOf is o's lane: 0 read (Read and ReadInline), 1 write, 2 stream.
func laneOf(o *mop) int {
	switch o.kind {
	case kWrite:
		return 1
	case kStream:
		return 2
	}
	return 0
}

func (m *model) admit(o *mop) {
	o.fn = fnRunning
	o.admitted = true
	m.admittedN[laneOf(o)]++
	if o.waited {
		m.wantWaits = append(m.wantWaits, m.now.Sub(o.start))
	}
	if o.kind == kStream {
		o.callerDone, o.res = true, resNil
		o.lifeEnd = m.now.Add(modelLifetime)
	}
	m.logf("admit %d %v", o.id, o.kind)
}

func (m *model) fnReturn(o *mop) {
	o.fn = fnOver
	switch o.kind {
	case kStream:
		m.sInUse--
	default:
		m.inUse -= m.need(o)
	}
}

func (m *model) callerReturns(o *mop, r resClass) {
	o.callerDone, o.res = true, r
	if r == resDeadlineWaiting || r == resDeadlineRunning {
		m.hits++
	}
}

func remove(q []*mop, o *mop) []*mop {
	for i, x := range q {
		if x == o {
			return append(q[:i:i], q[i+1:]...)
		}
	}
	return q
}

func (m *model) dequeue(o *mop) {
	if o.kind == kStream {
		m.sq = remove(m.sq, o)
	} else {
		m.q = remove(m.q, o)
	}
	o.fn = fnOver
}

// eventAt returns the time of o's next timed event, if it has one.
func (m *model) eventAt(o *mop) (time.Time, bool) {
	switch {
	case o.fn == fnWaiting && o.kind != kWrite:
		return o.eff, true
	case o.fn == fnRunning && o.kind == kRead && !o.callerDone:
		return o.eff, true
	case o.fn == fnRunning && o.kind == kInline && o.honour && !o.ctxEnd.IsZero():
		return o.ctxEnd, true
	case o.fn == fnRunning && o.kind == kStream && o.honour:
		return o.lifeEnd, true
	}
	return time.Time{}, false
}

func (m *model) fire(o *mop) {
	m.logf("event %d %v", o.id, o.kind)
	switch {
	case o.fn == fnWaiting:
		m.dequeue(o)
		m.callerReturns(o, resDeadlineWaiting)
	case o.kind == kRead:
		m.callerReturns(o, resDeadlineRunning)
		if o.honour {
			m.fnReturn(o)
		}
	case o.kind == kInline:
		m.fnReturn(o) // fn saw the caller's ctx expire and returned its error
		m.callerReturns(o, resCtxDeadline)
	case o.kind == kStream:
		m.fnReturn(o)
	}
	m.grant()
}

func (m *model) pendingTimes() map[time.Time]bool {
	ts := map[time.Time]bool{}
	for _, o := range m.ops {
		if at, ok := m.eventAt(o); ok {
			ts[at] = true
		}
	}
	return ts
}

// --- driver steps (real and model together) ---

// advance moves the fake clock to to, firing the model's events in order.
func (m *model) advance(to time.Time) {
	for {
		var next *mop
		var at time.Time
		for _, o := range m.ops {
			if t, ok := m.eventAt(o); ok && !t.After(to) && (next == nil || t.Before(at)) {
				next, at = o, t
			}
		}
		if next == nil {
			break
		}
		m.now = at
		m.fire(next)
	}
	m.now = to
	if d := time.Until(to); d > 0 {
		tm := time.NewTimer(d)
		<-tm.C
	}
	synctest.Wait()
	if !time.Now().Equal(to) {
		m.fail("clock at %v, model at %v", time.Now(), to)
	}
}

func (m *model) launch(kind opKind) {
	o := &mop{id: len(m.ops), kind: kind, release: make(chan struct{})}
	o.honour = kind != kWrite && m.rng.IntN(2) == 0
	limit := modelDeadline
	ctxTimeout := time.Duration(0)
	if kind == kRead || kind == kInline {
		switch m.rng.IntN(4) {
		case 0:
			ctxTimeout, limit = 2*time.Second, 2*time.Second // the ctx's sooner deadline wins
		case 1:
			ctxTimeout = 7 * time.Second // the gate's sooner deadline wins
		}
	}
	// Keep every pending event time distinct.
	for !m.closed && kind != kWrite {
		ts := m.pendingTimes()
		if !ts[m.now.Add(limit)] && (ctxTimeout == 0 || !ts[m.now.Add(ctxTimeout)]) {
			break
		}
		m.advance(m.now.Add(time.Millisecond))
	}
	base, cancelBase := context.Background(), context.CancelFunc(func() {})
	if ctxTimeout > 0 {
		base, cancelBase = context.WithTimeout(base, ctxTimeout)
	}
	ctx, cancel := context.WithCancel(base)
	o.ctx = ctx
	o.cancel = func() { cancel(); cancelBase() }
	o.start = m.now
	o.eff = m.now.Add(limit)
	if kind == kInline && ctxTimeout > 0 {
		o.ctxEnd = m.now.Add(ctxTimeout)
	}
	m.ops = append(m.ops, o)
	m.logf("launch %d %v honour=%v limit=%v", o.id, kind, o.honour, limit)

	fn := m.fnFor(o)
	switch kind {
	case kRead:
		o.resCh = call(func() error { return m.g.Read(ctx, fn) })
	case kInline:
		o.resCh = call(func() error { return m.g.ReadInline(ctx, fn) })
	case kWrite:
		o.resCh = call(func() error { return m.g.Write(ctx, fn) })
	case kStream:
		o.resCh = call(func() error { return m.g.Stream(ctx, fn) })
	}
	synctest.Wait()

	if m.closed {
		o.fn = fnOver
		m.callerReturns(o, resClosed)
		return
	}
	// The fast path takes a permit only when nobody waits and it fits.
	if kind == kStream {
		o.waited = len(m.sq) > 0 || m.sInUse >= m.streams
		m.sq = append(m.sq, o)
	} else {
		o.waited = len(m.q) > 0 || m.inUse+m.need(o) > m.readers
		m.q = append(m.q, o)
	}
	m.grant()
}

func (m *model) releaseOne() bool {
	var running []*mop
	for _, o := range m.ops {
		if o.fn == fnRunning {
			running = append(running, o)
		}
	}
	if len(running) == 0 {
		return false
	}
	o := running[m.rng.IntN(len(running))]
	m.logf("release %d %v", o.id, o.kind)
	o.released = true
	close(o.release)
	synctest.Wait()
	m.fnReturn(o)
	if !o.callerDone {
		m.callerReturns(o, resNil)
	}
	m.grant()
	return true
}

func (m *model) cancelOne() bool {
	var live []*mop
	for _, o := range m.ops {
		if o.fn != fnOver {
			live = append(live, o)
		}
	}
	if len(live) == 0 {
		return false
	}
	o := live[m.rng.IntN(len(live))]
	m.logf("cancel %d %v (fn %d)", o.id, o.kind, o.fn)
	o.cancel()
	synctest.Wait()
	switch {
	case o.fn == fnWaiting:
		m.dequeue(o)
		m.callerReturns(o, resCanceled)
		m.cancelledN[laneOf(o)]++
	case o.kind == kRead && !o.callerDone:
		m.callerReturns(o, resCanceled)
		m.cancelledN[0]++
		if o.honour {
			m.fnReturn(o)
		}
	case o.kind == kInline && o.honour:
		m.fnReturn(o)
		m.callerReturns(o, resCanceled)
	case o.kind == kStream && o.honour:
		m.fnReturn(o)
	}
	m.grant()
	return true
}

func (m *model) close() {
	m.logf("close")
	m.g.Close()
	synctest.Wait()
	m.closed = true
	for _, o := range append(append([]*mop(nil), m.q...), m.sq...) {
		o.fn = fnOver
		m.callerReturns(o, resClosed)
	}
	m.q, m.sq = nil, nil
	for _, o := range m.ops {
		if o.fn != fnRunning {
			continue
		}
		switch {
		case o.kind == kRead && !o.callerDone:
			m.callerReturns(o, resClosed)
			if o.honour {
				m.fnReturn(o)
			}
		case o.kind == kStream && o.honour:
			m.fnReturn(o)
		}
		// A running inline read is not reached by Close.
	}
}

// compare checks the real gate against the model.
func (m *model) compare() {
	m.t.Helper()
	for _, o := range m.ops {
		if got := o.entered.Load(); got != o.admitted {
			m.fail("op %d (%v): fn started = %v, model says %v", o.id, o.kind, got, o.admitted)
		}
		if got := o.returned.Load(); got != (o.admitted && o.fn == fnOver) {
			m.fail("op %d (%v): fn returned = %v, model state %d", o.id, o.kind, got, o.fn)
		}
		if o.got == resNone {
			if err, ok := ready(o.resCh); ok {
				o.got, o.gotErr = classify(err), err
				if o.got == resNone {
					m.fail("op %d (%v): unexpected error %v", o.id, o.kind, err)
				}
			}
		}
		if o.callerDone && o.got != o.res {
			m.fail("op %d (%v): caller got %v (%v), model says %v", o.id, o.kind, o.got, o.gotErr, o.res)
		}
		if !o.callerDone && o.got != resNone {
			m.fail("op %d (%v): caller returned %v, model says still blocked", o.id, o.kind, o.gotErr)
		}
	}
	var want gate.Stats
	want.ReadCapacity, want.StreamCapacity, want.Closed, want.TimedOut = int64(m.readers), int64(m.streams), m.closed, m.hits
	for _, o := range m.ops {
		switch {
		case o.fn == fnRunning && (o.kind == kRead || o.kind == kInline):
			want.ReadInUse++
			if o.kind == kRead && o.callerDone {
				want.ReadOverdue++
			}
		case o.fn == fnRunning && o.kind == kWrite:
			want.WriteInUse = 1
		case o.fn == fnRunning && o.kind == kStream:
			want.StreamInUse++
		}
	}
	for _, o := range m.q {
		if o.kind == kWrite {
			want.WriteWaiting++
		} else {
			want.ReadWaiting++
		}
	}
	want.StreamWaiting = int64(len(m.sq))
	oldest := func(q []*mop, lane int) time.Duration {
		for _, o := range q { // FIFO: the first of the lane is its oldest
			if laneOf(o) == lane {
				return m.now.Sub(o.start)
			}
		}
		return 0
	}
	want.ReadOldestWait, want.WriteOldestWait, want.StreamOldestWait = oldest(m.q, 0), oldest(m.q, 1), oldest(m.sq, 2)
	want.ReadAdmitted, want.WriteAdmitted, want.StreamAdmitted = m.admittedN[0], m.admittedN[1], m.admittedN[2]
	want.ReadCancelled, want.WriteCancelled, want.StreamCancelled = m.cancelledN[0], m.cancelledN[1], m.cancelledN[2]
	if got := m.g.Stats(); got != want {
		m.fail("Stats = %+v\n      want %+v", got, want)
	}
	m.waitsMu.Lock()
	got := slices.Clone(m.waits)
	m.waitsMu.Unlock()
	wantW := slices.Clone(m.wantWaits)
	slices.Sort(got)
	slices.Sort(wantW)
	if !slices.Equal(got, wantW) {
		m.fail("OnWait saw %v, model %v", got, wantW)
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &model{t: t, rng: rng, readers: 1 + rng.IntN(4), streams: 1 + rng.IntN(2)}
	m.g = gate.New(gate.WithReaders(m.readers), gate.WithStreams(m.streams), gate.WithReadDeadline(modelDeadline), gate.WithStreamLifetime(modelLifetime), gate.WithHook(func(gate.Event) {}))
	defer m.g.OnWait(func(d time.Duration) {
		m.waitsMu.Lock()
		m.waits = append(m.waits, d)
		m.waitsMu.Unlock()
	})()
	m.now = time.Now()
	closeAt := -1
	if rng.IntN(2) == 0 {
		closeAt = rng.IntN(steps)
	}
	for step := range steps {
		switch r := rng.IntN(100); {
		case step == closeAt:
			m.close()
		case r < 25:
			m.launch(kRead)
		case r < 40:
			m.launch(kInline)
		case r < 50:
			m.launch(kWrite)
		case r < 57:
			m.launch(kStream)
		case r < 80:
			m.releaseOne()
		case r < 88:
			m.cancelOne()
		default:
			m.advance(m.now.Add(time.Duration(1+rng.IntN(4000)) * time.Millisecond))
		}
		m.compare()
	}
	// Wind down: release everything, then every fn must have returned.
	for m.releaseOne() {
		m.compare()
	}
	m.close()
	m.compare()
	if err := m.g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, o := range m.ops {
		o.cancel()
		if o.got == resNone {
			<-o.resCh
		}
	}
}

// TestModel runs 150 random operation sequences (30 under -short, or
// SLUICE_RUNS), each from its own seed; conctest.Runs says how to replay
// a failed one.
func TestModel(t *testing.T) {
	const steps = 120
	conctest.Runs(t, 150, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runModel(t, seed, steps) })
	})
}
