package a

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

type request struct {
	url  string
	resp chan string
}

// Seed 003: a goroutine serving requests makes an untimed HTTP call per request.
func startFetcher(reqs chan request) {
	go func() {
		for req := range reqs {
			resp, err := http.Get(req.url) // want `http\.Get may block with no deadline inside the loop.*func literal in startFetcher -> http\.Get in the consumer loop`
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
}

// Blocking two calls down: the chain names every step.
type scorer struct {
	reqs   chan request
	status chan chan int
	n      int
}

func (s *scorer) serve() {
	for {
		select {
		case r := <-s.reqs:
			s.handle(r) // want `http\.Post may block.*scorer\.serve -> scorer\.handle -> fetch -> http\.Post in the event loop`
		case c := <-s.status:
			c <- s.n
		}
	}
}

func (s *scorer) handle(r request) { s.n += len(fetch(r.url)) }

func fetch(url string) string {
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func startScorer(s *scorer) { go s.serve() }

// Blocking in a select case body: the select only guards its cases' communications.
func eventLoop(ctx context.Context, in chan int, names chan string, wg *sync.WaitGroup) {
	for {
		select {
		case v := <-in:
			_ = v
			time.Sleep(time.Millisecond) // a deliberate, bounded pause: not reported
		case <-names:
			wg.Wait() // want `WaitGroup\.Wait may block`
			wg.Wait() // the same chain again in the same loop: one finding
		case <-ctx.Done():
			return
		}
	}
}

func startEventLoop(ctx context.Context, in chan int) {
	var wg sync.WaitGroup
	go eventLoop(ctx, in, make(chan string), &wg)
}

// A method named like a loop is a loop even when started from elsewhere.
type dispatcher struct {
	in   chan request
	done chan struct{}
}

func (d *dispatcher) Run() {
	for {
		r, ok := <-d.in
		if !ok {
			return
		}
		resp, err := http.DefaultClient.Get(r.url) // want `\(\*http\.Client\)\.Get may block`
		if err == nil {
			resp.Body.Close()
		}
	}
}

// A batcher that flushes on a tick is a consumer: flushing is its work.
func startBatchFlusher(ctx context.Context, in chan int, wg *sync.WaitGroup) {
	go func() {
		t := time.NewTicker(time.Second)
		for {
			select {
			case v := <-in:
				_ = v
			case <-t.C:
				wg.Wait()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// for cond { select { ... } } serves too.
func (d *dispatcher) serveWhile(running func() bool, names chan string) {
	for running() {
		select {
		case r := <-d.in:
			resp, err := http.Get(r.url) // want `http\.Get may block`
			if err == nil {
				resp.Body.Close()
			}
		case <-names:
		}
	}
}

func startServeWhile(d *dispatcher) { go d.serveWhile(nil, nil) }
