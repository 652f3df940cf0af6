package a

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// The blocking call is handed to a goroutine: the fix.
func startSpawner(reqs chan request) {
	go func() {
		for req := range reqs {
			go func() {
				resp, err := http.Get(req.url)
				if err == nil {
					resp.Body.Close()
				}
			}()
		}
	}()
}

// A client with a Timeout bounds the call.
func startTimed(reqs chan request) {
	c := &http.Client{Timeout: 5 * time.Second}
	go func() {
		for req := range reqs {
			resp, err := c.Get(req.url)
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
}

// CPU work and map updates only.
type counter struct {
	in    chan string
	query chan chan int
	m     map[string]int
}

func (c *counter) run() {
	for {
		select {
		case k := <-c.in:
			c.m[k]++
		case q := <-c.query:
			q <- len(c.m)
		}
	}
}

func startCounter(c *counter) { go c.run() }

// Blocking before the loop starts is setup, not serving.
func startAfterSetup(reqs chan request) {
	go func() {
		resp, err := http.Get("http://example.com/config")
		if err == nil {
			resp.Body.Close()
		}
		for req := range reqs {
			_ = req
		}
	}()
}

// Waiting on the way out: the exit case returns.
func startShutdown(ctx context.Context, in chan int, wg *sync.WaitGroup) {
	go func() {
		for {
			select {
			case v := <-in:
				_ = v
			case <-ctx.Done():
				wg.Wait()
				return
			}
		}
	}()
}

// A periodic job, not a service: nobody else waits on it.
func startTicker(ctx context.Context) {
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				time.Sleep(time.Millisecond)
			case <-ctx.Done():
				return
			}
		}
	}()
}

// A consumer doing its job in turn: waiting for its own batch is its work.
func startBatcher(batches chan []int) {
	go func() {
		for b := range batches {
			var wg sync.WaitGroup
			for range b {
				wg.Add(1)
				go func() { defer wg.Done() }()
			}
			wg.Wait()
		}
	}()
}

// Not started with go and not named like a loop: not known to serve.
func drain(reqs chan request) {
	for req := range reqs {
		resp, err := http.Get(req.url)
		if err == nil {
			resp.Body.Close()
		}
	}
}

// Suppressed with a reason.
func startIgnored(reqs chan request) {
	go func() {
		for req := range reqs {
			//sluice:ignore loopblock the URL is a local socket that answers at once
			resp, err := http.Get(req.url)
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
}

// A background job woken by a timer or a signal: nobody queues behind it.
type compactor struct {
	compactc chan struct{}
	stopc    chan struct{}
	wg       sync.WaitGroup
}

func (c *compactor) run() {
	for {
		select {
		case <-c.stopc:
			return
		case <-time.After(time.Minute):
			c.wg.Wait()
		case <-c.compactc:
			c.wg.Wait()
		}
	}
}

func startCompactor(c *compactor) { go c.run() }

// Generic loops work like any other.
func consume[T any](in chan T, url string) {
	for v := range in {
		_ = v
		resp, err := http.Get(url) // want `http\.Get may block`
		if err == nil {
			resp.Body.Close()
		}
	}
}

func startConsume(in chan int) { go consume(in, "http://example.com") }
