package a

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// Test code holding a lock across its own waits is a harness: not
// reported. Untimed network I/O under a lock still is.
func TestHarness(t *testing.T) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	mu.Lock()
	time.Sleep(time.Millisecond)
	wg.Wait()
	mu.Unlock()

	mu.Lock()
	defer mu.Unlock()
	resp, err := http.Get("http://example.invalid/") // want `http.Get may block with no deadline while lock mu is held`
	if err == nil {
		resp.Body.Close()
	}
}
