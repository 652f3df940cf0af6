// Package xpkg runs a loop that blocks two packages down.
package xpkg

import "b"

type job struct{ url string }

func start(jobs chan job) {
	go func() {
		for j := range jobs {
			_ = b.Lookup(j.url) // want `http\.Get may block.*func literal in start -> b\.Lookup -> c\.Fetch -> http\.Get`
		}
	}()
}
