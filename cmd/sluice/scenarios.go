package main

import "github.com/sluice-go/sluice/demo"

// scenarios lists every seed scenario, in seed order.
func scenarios() []demo.Scenario {
	return []demo.Scenario{}
}
