package a

import (
	"b"
	"context"
	"net/http"
	"sync"
	"time"
)

func (m *model) releasedBefore(url string) {
	m.mu.Lock()
	n := len(url)
	m.mu.Unlock()
	_ = n
	fetch(url)
}

func (m *model) timedClient(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.quick.Get(url)
	cl := &http.Client{Timeout: time.Second}
	cl.Post(url, "text/plain", nil)
	b.FetchQuick(url)
}

func (m *model) deadline(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = http.DefaultClient.Do(req)
	return err
}

func (m *model) ctxParam(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = http.DefaultClient.Do(req)
	return err
}

func (m *model) selectDone(ctx context.Context) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case v := <-m.ch:
		return v
	case <-ctx.Done():
		return 0
	}
}

func (m *model) selectTimer() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case v := <-m.ch:
		return v
	case <-time.After(time.Second):
		return 0
	}
}

func (m *model) selectDefault() {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case m.ch <- 1:
	default:
	}
}

func (m *model) selectStop() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case v := <-m.ch:
		return v
	case <-m.done:
		return 0
	}
}

func (m *model) bufferedRoom() {
	m.mu.Lock()
	defer m.mu.Unlock()
	errs := make(chan error, 2)
	errs <- nil
	errs <- nil
	close(errs)
}

func (m *model) ctxDoneRecv(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	<-ctx.Done()
}

func (m *model) otherMutex() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.other.Lock()
	m.other.Unlock()
}

func (m *model) goroutine(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	go fetch(url)
	go func() {
		m.wg.Wait()
		fetch(url)
	}()
}

func (m *model) maybeLocked(cond bool, url string) {
	if cond {
		m.mu.Lock()
	}
	fetch(url) // the Lock does not dominate the call: not reported
	if cond {
		m.mu.Unlock()
	}
}

func (m *model) semReleased(ctx context.Context, url string) {
	if err := m.w.Acquire(ctx, 1); err != nil {
		return
	}
	m.w.Release(1)
	fetch(url)
}

func (m *model) chanSemRelease() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slots <- struct{}{} // want `send on m.slots \(channel semaphore\) may block`
	<-m.slots             // the release of the token just taken never waits
}

func (m *model) bufferedQueue(v int, q chan int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q <- v // buffer unknown: not counted
}

func waitNoLock(wg *sync.WaitGroup) { wg.Wait() }

// Shutdown joins: the goroutines were just told to stop.
func (m *model) stopJoin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.done)
	<-m.ch
	m.wg.Wait()
}

func (m *model) cancelJoin(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	cancel()
	m.wg.Wait()
	_ = ctx
}

func compute() <-chan int {
	ch := make(chan int, 1)
	go func() { ch <- 42 }()
	return ch
}

// A future returned by a call, and a local one whose producer cannot block.
func (m *model) futures() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := make(chan int)
	go func() { res <- len("x") }()
	return <-compute() + <-res
}

// A wake signal: a buffered chan struct{} sent to by the waker and drained
// by the waiter is not a semaphore.
type waiter struct{ ready chan struct{} }

func newWaiter() *waiter { return &waiter{ready: make(chan struct{}, 1)} }

func (m *model) wake(w *waiter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.ready <- struct{}{}
}

type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	items []int
}

func (q *queue) pop() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 {
		q.cond.Wait() // releases q.mu: the idiom
	}
	v := q.items[0]
	q.items = q.items[1:]
	return v
}

func (m *model) popUnderLock(q *queue) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return q.pop() // want `Cond.Wait may block with no deadline while lock m.mu is held \(model.popUnderLock -> queue.pop -> Cond.Wait\)`
}

// A stop handshake with an owner goroutine: the request carries its reply.
type wal struct {
	mu    sync.Mutex
	stopc chan chan struct{}
}

func newWal() *wal { return &wal{stopc: make(chan chan struct{})} }

func (w *wal) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	donec := make(chan struct{})
	w.stopc <- donec
	<-donec
}

// Draining a stopped timer ("if !t.Stop() { <-t.C }") does not wait: the
// value is there when Stop reports the timer fired.
func (m *model) drainTimer() {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := time.NewTimer(time.Hour)
	if !t.Stop() {
		<-t.C
	}
}
