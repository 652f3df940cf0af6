package a

import (
	"b"
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluice-go/sluice/sem"
	"golang.org/x/sync/semaphore"
)

// Seed 002: a model lock held across an untimed http.Post.
type model struct {
	mu     sync.Mutex
	rw     sync.RWMutex
	other  sync.Mutex
	client *http.Client
	quick  *http.Client
	ch     chan int
	done   chan struct{}
	wg     sync.WaitGroup
	w      *semaphore.Weighted
	s      *sem.Semaphore
	slots  chan struct{}
}

func newModel() *model {
	return &model{
		client: http.DefaultClient,
		quick:  &http.Client{Timeout: time.Second},
		ch:     make(chan int),
		done:   make(chan struct{}),
		w:      semaphore.NewWeighted(2),
		s:      sem.New(2),
		slots:  make(chan struct{}, 4),
	}
}

func fetch(url string) error {
	resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func validate(url string) error { return fetch(url) }

func (m *model) direct(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	http.Post(url, "text/plain", nil) // want `http.Post may block with no deadline while lock m.mu is held \(model.direct -> http.Post\); fix: release the lock`
}

func (m *model) twoLevels(url string) {
	m.mu.Lock()
	validate(url) // want `http.Post may block with no deadline while lock m.mu is held \(model.twoLevels -> validate -> fetch -> http.Post\)`
	m.mu.Unlock()
}

func (m *model) crossPackage(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b.Fetch(url) // want `model.crossPackage -> b.Fetch -> c.Post -> http.Post`
}

func (m *model) fieldClient(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.client.Post(url, "text/plain", nil) // want `\(\*http.Client\).Post may block with no deadline while lock m.mu is held`
}

func (m *model) recv() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return <-m.ch // want `<-m.ch may block with no deadline while lock m.mu is held`
}

func (m *model) send() {
	m.mu.Lock()
	m.ch <- 1 // want `send on m.ch \(unbuffered\) may block`
	m.mu.Unlock()
}

func (m *model) waitGroup() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wg.Wait() // want `WaitGroup.Wait may block with no deadline while lock m.mu is held`
}

func (m *model) sleep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	time.Sleep(time.Second) // want `time.Sleep may block`
}

func (m *model) readLock(url string) {
	m.rw.RLock()
	defer m.rw.RUnlock()
	fetch(url) // want `http.Post may block with no deadline while read lock m.rw is held \(model.readLock -> fetch -> http.Post\)`
}

func (m *model) selectNoEscape(other chan int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select { // want `select with no ctx.Done, timer or default case may block`
	case <-m.ch:
	case <-other:
	}
}

func (m *model) selectForever() {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {} // want `select \{\} may block`
}

func (m *model) untimedDo(url string) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = http.DefaultClient.Do(req) // want `\(\*http.Client\).Do may block`
	return err
}

// Seed 004: a permit held across an unbounded wait.
func (m *model) xsyncPermit(ctx context.Context) {
	if err := m.w.Acquire(ctx, 1); err != nil {
		return
	}
	defer m.w.Release(1)
	<-m.ch // want `<-m.ch may block with no deadline while semaphore permit m.w is held \(model.xsyncPermit -> <-m.ch\); fix: release the permit`
}

func (m *model) sluicePermit(ctx context.Context) {
	p, err := m.s.Permit(ctx, 1)
	if err != nil {
		return
	}
	defer p.Release()
	m.wg.Wait() // want `WaitGroup.Wait may block with no deadline while semaphore permit m.s is held`
}

func (m *model) sluiceAcquire(ctx context.Context) {
	if m.s.Acquire(ctx, 1) != nil {
		return
	}
	time.Sleep(time.Millisecond) // want `time.Sleep may block with no deadline while semaphore permit m.s is held`
	m.s.Release(1)
}

func (m *model) chanSemaphore(url string) {
	m.slots <- struct{}{}
	defer func() { <-m.slots }()
	fetch(url) // want `http.Post may block with no deadline while channel semaphore m.slots is held`
}

func (m *model) acquireUnderLock() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w.Acquire(context.Background(), 1) // want `semaphore.Weighted.Acquire \(no deadline\) may block`
	m.w.Release(1)
}

func (m *model) unlockInLoop(items []string) {
	m.mu.Lock()
	for _, it := range items {
		m.mu.Unlock()
		fetch(it) // not held: released just above
		m.mu.Lock()
	}
	m.mu.Unlock()
}

func (m *model) localMutex(url string) {
	var mu sync.Mutex
	mu.Lock()
	defer mu.Unlock()
	fetch(url) // want `while lock mu is held`
}

func (m *model) callbackInline(url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	func() {
		fetch(url) // reported once, at the call of the literal below
	}() // want `model.callbackInline -> model.callbackInline.func1 -> fetch -> http.Post`
}

// A local future whose producer goroutine does the untimed call.
func (m *model) futureBlocks(url string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := make(chan error, 1)
	go func() { res <- fetch(url) }()
	return <-res // want `http.Post may block with no deadline while lock m.mu is held \(model.futureBlocks -> <-res from a goroutine -> model.futureBlocks.func1 -> fetch -> http.Post\)`
}
