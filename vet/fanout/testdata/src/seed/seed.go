// Package seed is seed 002's fan-out: one goroutine per backlog item.
package seed

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"safego"
)

type validator struct {
	live    sync.WaitGroup
	pending []int
	byID    map[int]string
	dir     string
}

func (v *validator) ExecuteRecoveryValidations(missed []int) {
	var wg sync.WaitGroup
	for _, item := range missed {
		wg.Add(1)
		go func() { // want `go statement starts a goroutine per item of unbounded input.*one per element of parameter missed, the loop at line \d+; each may block forever: validator\.validateWithPayloads -> http\.Post.*fix: bound it: run each item through a sluice pool`
			defer wg.Done()
			v.validateWithPayloads(item)
		}()
	}
	wg.Wait()
}

func (v *validator) validateWithPayloads(item int) {
	resp, err := http.Post("http://ml-node/validate", "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
	}
}

// Fire and forget, over a field.
func (v *validator) SampleInferenceToValidate() {
	for _, id := range v.pending {
		v.live.Add(1)
		go v.validate(id) // want `one per element of field v\.pending`
	}
}

func (v *validator) validate(id int) {
	defer v.live.Done()
	v.validateWithPayloads(id)
}

// A call result, a map, sync.WaitGroup.Go, an errgroup with no limit.
func fetchAll() []string { return nil }

func (v *validator) others(ctx context.Context, ch chan string) error {
	var wg sync.WaitGroup
	for _, u := range fetchAll() {
		wg.Go(func() { get(u) }) // want `\(\*sync\.WaitGroup\)\.Go starts a goroutine per item.*the result of fetchAll\(\)`
	}
	for id := range v.byID {
		go get(v.byID[id]) // want `field v\.byID`
	}
	for u := range ch {
		go get(u) // want `channel ch|parameter ch`
	}
	g, ctx := errgroup.WithContext(ctx)
	items := fetchAll()
	for i := 0; i < len(items); i++ {
		g.Go(func() error { get(items[i]); return nil }) // want `\(\*errgroup\.Group\)\.Go starts.*i < len\(items\)`
	}
	wg.Wait()
	return g.Wait()
}

func get(u string) {
	resp, err := http.Get(u)
	if err == nil {
		resp.Body.Close()
	}
}

// Nested: a fixed inner loop inside a data-dependent outer one.
func nested(items []string) {
	for _, it := range items {
		for i := 0; i < 3; i++ {
			go get(it) // want `parameter items`
		}
	}
}

// A local built from data.
func local(n int) {
	var urls []string
	for i := range n {
		urls = append(urls, strings.Repeat("x", i))
	}
	for _, u := range urls {
		go get(u) // want `variable urls`
	}
}

func suppressed(items []string) {
	for _, it := range items {
		//sluice:ignore fanout items is at most three long, checked by the caller
		go get(it)
	}
}

// Batches cut from a parameter, the variable assigned from itself (this
// once sent the analyzer into endless recursion).
type bench struct{ n int }

func (b *bench) ingest(lbls []string) {
	for len(lbls) > 0 {
		n := min(len(lbls), 1000)
		batch := lbls[:n]
		lbls = lbls[n:]
		go get(batch[0]) // want `one per element of len\(lbls\) > 0`
	}
}

// Through a helper that wraps the go statement, in this package (the demo's
// gauge.spawn) and in another (safego.Go).
type gauge struct{ n int }

func (g *gauge) spawn(f func()) { // want spawn:`spawns\(param 0\)`
	g.n++
	go func() {
		defer func() { g.n-- }()
		f()
	}()
}

func (v *validator) viaHelpers(missed []int, own *gauge, lim *safego.Limited) {
	for _, item := range missed {
		own.spawn(func() { v.validateWithPayloads(item) }) // want `own\.spawn \(which runs its argument on a new goroutine\) starts a goroutine per item.*parameter missed.*each may block forever: validator\.validateWithPayloads -> http\.Post`
		safego.Go(func() { v.validateWithPayloads(item) }) // want `safego\.Go \(which runs its argument on a new goroutine\) starts`
		lim.Go(func() { v.validateWithPayloads(item) })    // bounded by its slots
	}
}

// A directory listing named through the receiver is data, not the
// receiver's children (Thanos's per-tenant load at startup).
func (v *validator) loadAll() error {
	files, err := os.ReadDir(v.dir)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Add(1)
		go func() { // want `one per element of variable files \(the result of os\.ReadDir\(\)\)`
			defer wg.Done()
			_, _ = os.ReadFile(f.Name())
		}()
	}
	wg.Wait()
	return nil
}

// Byte ranges a method of the receiver computes from the request are data
// (Thanos's per-partition fetch from object storage).
type part struct{ start, end int }

func (v *validator) partition(ids []int) []part { return make([]part, len(ids)) }

func (v *validator) fetchParts(ctx context.Context, ids []int) error {
	g, ctx := errgroup.WithContext(ctx)
	parts := v.partition(ids)
	for _, p := range parts {
		g.Go(func() error { // want `one per element of variable parts \(the result of v\.partition\(\)\)`
			_, err := os.ReadFile(strings.Repeat("x", p.end-p.start))
			return err
		})
	}
	return g.Wait()
}

// A parameter filled by configuration at one call and by data at another
// is data; so is an owned backlog of requests, even of pointers.
type request struct{ url string }

type dispatcher struct {
	opts            struct{ Peers []*request }
	pendingRequests []*request
}

func (d *dispatcher) fanOut(reqs []*request) {
	for _, r := range reqs {
		go http.Get(r.url) // want `one per element of parameter reqs`
	}
}

func (d *dispatcher) entry(incoming []*request) {
	d.fanOut(d.opts.Peers)
	d.fanOut(incoming)
}

func (d *dispatcher) drain() {
	for _, r := range d.pendingRequests {
		go d.send(r) // want `one per element of field d\.pendingRequests`
	}
}

func (d *dispatcher) send(r *request) {
	resp, err := http.Post(r.url, "application/json", nil)
	if err == nil {
		resp.Body.Close()
	}
}

// A loop that accepts is a server's loop, but a loop over a batch that
// only reads from a plain io.Reader is not.
func (d *dispatcher) batch(items []string, r interface{ Read([]byte) (int, error) }) {
	buf := make([]byte, 10)
	for _, it := range items {
		_, _ = r.Read(buf)
		go get(it) // want `parameter items`
	}
}

// Per address, but each may hang on untimed I/O: still reported.
func queryAll(nodeAddrs []string) {
	for _, addr := range nodeAddrs {
		go func(addr string) { // want `one per element of parameter nodeAddrs.*each may block forever: .*http\.Get`
			resp, err := http.Get("http://" + addr)
			if err == nil {
				resp.Body.Close()
			}
		}(addr)
	}
}
