package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

// The model: what a group with limit L and queue Q must do, written as
// plainly as possible. The real group is driven through the same random
// operations (TryGo, a Go that may block, a task returning with or
// without an error, cancelling the parent context, Close), one at a time, with
// synctest.Wait between them so every goroutine has settled; then both
// are compared: which tasks have started, which Go calls returned what,
// and Stats, with the totals and wait times (the bubble's clock is exact,
// so the model predicts OldestWait and what OnWait is called with).
type poolModel struct {
	limit, queueSize int
	cancelOnError    bool
	running          []int // started, not returned
	queue            []int // admitted, not started, oldest first
	blocked          []int // Go calls blocked, oldest first
	started          map[int]bool
	goResult         map[int]string // "ok", "ctx" or "closed": what Go/TryGo returned ("" while blocked)
	cancelled        bool
	closed           bool
	firstErr         string

	admitted, nCancelled, rejected int64
	since                          map[int]time.Time // when each blocked Go call began to wait
	waits                          []time.Duration   // what OnWait must have been called with
}

// admitBlocked admits the oldest blocked Go call.
func (m *poolModel) admitBlocked() int {
	id := m.blocked[0]
	m.blocked = m.blocked[1:]
	m.goResult[id] = "ok"
	m.admitted++
	m.waits = append(m.waits, time.Since(m.since[id]))
	return id
}

func (m *poolModel) oldestWait() time.Duration {
	if len(m.blocked) == 0 {
		return 0
	}
	return time.Since(m.since[m.blocked[0]])
}

func (m *poolModel) start(id int) {
	m.running = append(m.running, id)
	m.started[id] = true
}

// submit is Go (block=true) or TryGo (block=false). It reports whether
// the task was admitted at once.
func (m *poolModel) submit(id int, block bool) bool {
	switch {
	case m.closed && block:
		m.goResult[id] = "closed"
		m.rejected++
		return false
	case m.closed || m.cancelled:
		m.goResult[id] = "ctx" // for TryGo, "ctx" is any false
		m.rejected++
		return false
	case len(m.running) < m.limit:
		m.start(id)
	case len(m.blocked) == 0 && len(m.queue) < m.queueSize:
		m.queue = append(m.queue, id)
	case block:
		m.blocked = append(m.blocked, id)
		m.goResult[id] = ""
		m.since[id] = time.Now()
		return false
	default:
		m.goResult[id] = "ctx" // TryGo false: never runs
		m.rejected++
		return false
	}
	m.goResult[id] = "ok"
	m.admitted++
	return true
}

func (m *poolModel) cancel() {
	m.cancelled = true
	for _, id := range m.blocked {
		m.goResult[id] = "ctx"
		m.nCancelled++
	}
	m.blocked = nil
}

// close fails every blocked Go call; admitted tasks run on.
func (m *poolModel) close() {
	m.closed = true
	for _, id := range m.blocked {
		m.goResult[id] = "closed"
	}
	m.blocked = nil
}

func (m *poolModel) finish(id int, err string) {
	m.running = slices.DeleteFunc(m.running, func(x int) bool { return x == id })
	if err != "" && m.firstErr == "" {
		m.firstErr = err
		if m.cancelOnError {
			m.cancel()
		}
	}
	switch {
	case len(m.queue) > 0:
		m.start(m.queue[0])
		m.queue = m.queue[1:]
		if len(m.blocked) > 0 && len(m.queue) <= m.queueSize/2 {
			for len(m.blocked) > 0 && len(m.queue) < m.queueSize {
				m.queue = append(m.queue, m.admitBlocked())
			}
		}
	case len(m.blocked) > 0:
		m.start(m.admitBlocked())
	}
}

func TestModel(t *testing.T) {
	conctest.Runs(t, 300, func(t *testing.T, seed uint64) {
		synctest.Test(t, func(t *testing.T) { runPoolModel(t, seed) })
	})
}

func runPoolModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9001))
	m := &poolModel{
		limit:         1 + rng.IntN(4),
		queueSize:     rng.IntN(6),
		cancelOnError: rng.IntN(2) == 0,
		started:       map[int]bool{},
		goResult:      map[int]string{},
		since:         map[int]time.Time{},
	}
	opts := []Option{WithQueueSize(m.queueSize)}
	if m.cancelOnError {
		opts = append(opts, WithCancelOnError())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := New(ctx, m.limit, opts...)
	var waitsMu sync.Mutex
	var waits []time.Duration // what the OnWait hook was called with
	p.OnWait(func(d time.Duration) {
		waitsMu.Lock()
		waits = append(waits, d)
		waitsMu.Unlock()
	})
	where := fmt.Sprintf("seed %d (limit %d, queue %d, cancelOnError %v)", seed, m.limit, m.queueSize, m.cancelOnError)

	var mu sync.Mutex
	started := map[int]bool{}
	goResult := map[int]string{}
	release := map[int]chan error{}
	task := func(id int) Task {
		ch := make(chan error, 1)
		release[id] = ch
		return func(context.Context) error {
			mu.Lock()
			started[id] = true
			mu.Unlock()
			return <-ch
		}
	}
	result := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, context.Canceled):
			return "ctx"
		case errors.Is(err, ErrClosed):
			return "closed"
		default:
			return "error: " + err.Error()
		}
	}

	check := func(op string) {
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for id := range m.started {
			if !started[id] {
				t.Fatalf("%s, after %s: task %d should have started", where, op, id)
			}
		}
		for id := range started {
			if !m.started[id] {
				t.Fatalf("%s, after %s: task %d started, the model says not", where, op, id)
			}
		}
		for id, want := range m.goResult {
			if got, ok := goResult[id]; want != "" && got != want || want == "" && ok {
				t.Fatalf("%s, after %s: Go for task %d: got %q (returned %v), want %q", where, op, id, got, ok, want)
			}
		}
		st := p.Stats()
		if st.InUse != int64(len(m.running)) || st.Queued != int64(len(m.queue)) || st.Waiting != int64(len(m.blocked)) || st.Closed != m.closed {
			t.Fatalf("%s, after %s: stats %+v, model running %v queue %v blocked %v closed %v", where, op, st, m.running, m.queue, m.blocked, m.closed)
		}
		if st.Admitted != m.admitted || st.Cancelled != m.nCancelled || st.Rejected != m.rejected || st.OldestWait != m.oldestWait() {
			t.Fatalf("%s, after %s: stats %+v, model admitted %d cancelled %d rejected %d oldest wait %v",
				where, op, st, m.admitted, m.nCancelled, m.rejected, m.oldestWait())
		}
		waitsMu.Lock()
		got := slices.Clone(waits)
		waitsMu.Unlock()
		slices.Sort(got)
		want := slices.Clone(m.waits)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s, after %s: OnWait called with %v, model %v", where, op, got, want)
		}
	}

	next := 0
	for step := 0; step < 80; step++ {
		switch r := rng.IntN(10); {
		case r < 3: // TryGo
			id := next
			next++
			ok := p.TryGo(task(id))
			m.submit(id, false)
			mu.Lock()
			goResult[id] = map[bool]string{true: "ok", false: "ctx"}[ok]
			mu.Unlock()
			check(fmt.Sprintf("TryGo(%d)", id))
		case r < 6: // Go, possibly blocking
			id := next
			next++
			fn := task(id)
			go func() {
				err := p.Go(fn)
				mu.Lock()
				goResult[id] = result(err)
				mu.Unlock()
			}()
			m.submit(id, true)
			check(fmt.Sprintf("Go(%d)", id))
		case r < 9 && len(m.running) > 0: // a task returns
			id := m.running[rng.IntN(len(m.running))]
			var err error
			if rng.IntN(4) == 0 {
				err = fmt.Errorf("task %d failed", id)
				m.finish(id, err.Error())
			} else {
				m.finish(id, "")
			}
			release[id] <- err
			check(fmt.Sprintf("task %d returns %v", id, err))
		case r == 9 && rng.IntN(4) == 0 && !m.cancelled:
			cancel()
			m.cancel()
			check("cancel")
		case r == 9 && rng.IntN(6) == 0: // Close, possibly again
			p.Close()
			m.close()
			check("Close")
		case r == 9 && rng.IntN(2) == 0: // time passes: blocked Go calls wait longer
			d := time.Duration(1+rng.IntN(3000)) * time.Millisecond
			time.Sleep(d)
			check(fmt.Sprint("sleep ", d))
		}
	}
	// Drain: every running task returns, admitted ones start and return.
	for len(m.running) > 0 {
		id := m.running[0]
		m.finish(id, "")
		release[id] <- nil
		check(fmt.Sprintf("drain %d", id))
	}
	if len(m.blocked) > 0 || len(m.queue) > 0 {
		t.Fatalf("%s: model left blocked %v queued %v", where, m.blocked, m.queue)
	}
	err := p.Wait()
	if got := fmt.Sprint(err); m.firstErr == "" && err != nil || m.firstErr != "" && got != m.firstErr {
		t.Fatalf("%s: Wait returned %v, want %q", where, err, m.firstErr)
	}
	synctest.Wait()
	mu.Lock()
	defer mu.Unlock()
	for id, r := range goResult {
		if r != "ok" && started[id] {
			t.Fatalf("%s: task %d ran although its Go returned %q", where, id, r)
		}
		if r == "ok" && !started[id] {
			t.Fatalf("%s: task %d admitted but never ran", where, id)
		}
	}
}
