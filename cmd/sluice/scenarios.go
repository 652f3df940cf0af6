package main

import (
	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/demo/coldstore"
	"github.com/sluice-go/sluice/demo/eventloop"
	"github.com/sluice-go/sluice/demo/peerstreams"
	"github.com/sluice-go/sluice/demo/recovery"
	"github.com/sluice-go/sluice/demo/sharedconn"
)

// scenarios lists every seed scenario, in seed order.
func scenarios() []demo.Scenario {
	return []demo.Scenario{
		sharedconn.Scenario(),
		peerstreams.Scenario(),
		recovery.Scenario(),
		eventloop.Scenario(),
		coldstore.Scenario(),
	}
}
