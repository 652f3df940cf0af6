package ok

import (
	"net/http"
	"sync"
	"time"
)

// One goroutine per lookup server or per node handed in, each with a
// client that has a timeout: sized by the deployment (nsq's clusterinfo).

var timed = &http.Client{Timeout: 5 * time.Second}

func queryLookupds(lookupdHTTPAddrs []string) {
	var wg sync.WaitGroup
	for _, addr := range lookupdHTTPAddrs {
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			resp, err := timed.Get("http://" + addr + "/topics")
			if err == nil {
				resp.Body.Close()
			}
		}(addr)
	}
	wg.Wait()
}

type producer struct{ addr string }

func pingProducers(producers []*producer) {
	var wg sync.WaitGroup
	for _, p := range producers {
		wg.Add(1)
		go func(p *producer) {
			defer wg.Done()
			resp, err := timed.Get("http://" + p.addr + "/ping")
			if err == nil {
				resp.Body.Close()
			}
		}(p)
	}
	wg.Wait()
}

// A goroutine per newly registered entry of the receiver's own table (a
// router per topic, looked up first): a long-lived child per distinct key.
type fileLogger struct{ topic string }

func (f *fileLogger) router() {}

type discoverer struct {
	wg     sync.WaitGroup
	topics map[string]*fileLogger
}

func (d *discoverer) updateTopics(topics []string) {
	for _, topic := range topics {
		if _, ok := d.topics[topic]; ok {
			continue
		}
		fl := &fileLogger{topic: topic}
		d.topics[topic] = fl
		d.wg.Add(1)
		go func(fl *fileLogger) {
			defer d.wg.Done()
			fl.router()
		}(fl)
	}
}
