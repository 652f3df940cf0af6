package ok

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Shapes from real code (Prometheus): a goroutine per child the receiver
// owns, to run, stop or sync it. Sized by the topology, not the workload.

type scrapeLoop struct{ done chan struct{} }

func (l *scrapeLoop) run(errc chan error) { <-l.done }
func (l *scrapeLoop) stop()               { close(l.done) }

type scrapePool struct {
	loops   map[string]*scrapeLoop
	targets []string
	groups  map[string][]string
	mu      sync.Mutex
}

// Stop every loop in parallel.
func (sp *scrapePool) stopAll() {
	var wg sync.WaitGroup
	for _, l := range sp.loops {
		wg.Add(1)
		go func(l *scrapeLoop) {
			l.stop()
			wg.Done()
		}(l)
	}
	wg.Wait()
}

// One long-lived loop per target: the actor model.
func (sp *scrapePool) sync() {
	for _, t := range sp.targets {
		l := &scrapeLoop{done: make(chan struct{})}
		sp.loops[t] = l
		go l.run(nil)
	}
}

// A goroutine per owned child that waits on internal state, not the
// network.
func (sp *scrapePool) flushAll(ctx context.Context) {
	var wg sync.WaitGroup
	for name := range sp.groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp.flushOne(ctx, name)
		}()
	}
	wg.Wait()
}

func (sp *scrapePool) flushOne(ctx context.Context, name string) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// Configuration: sized by the operator.
type SDConfig struct{ Name string }

func discoverAll(configs []SDConfig) {
	for _, c := range configs {
		go get(c.Name)
	}
}

type scrapeConfig struct{ ServiceDiscoveryConfigs []string }

func discover(cfg *scrapeConfig) {
	for _, c := range cfg.ServiceDiscoveryConfigs {
		go get(c)
	}
}

// One send per configured replica, each under a deadline, through a range
// variable over the receiver's state (Prometheus's notifier).
type amSet struct{ urls []string }

type notifier struct{ sets map[string]*amSet }

func (n *notifier) sendAll() {
	sets := n.sets
	for _, ams := range sets {
		for _, u := range ams.urls {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			go n.sendOne(ctx, u)
		}
	}
}

func (n *notifier) sendOne(ctx context.Context, u string) {
	req, _ := http.NewRequestWithContext(ctx, "POST", u, nil)
	_, _ = http.DefaultClient.Do(req)
}

// A fan-out over what a method of the receiver returns, among other
// results (Thanos's proxy: one query per matching store endpoint).
type endpoint interface{ Addr() string }

func (sp *scrapePool) matching(ctx context.Context) ([]endpoint, int) { return nil, 0 }

func (sp *scrapePool) queryAll(ctx context.Context) {
	targets, _ := sp.matching(ctx)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp.flushOne(ctx, t.Addr())
		}()
	}
	wg.Wait()
}
