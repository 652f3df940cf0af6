//go:build race

package recovery

// The race detector makes loopback HTTP several times slower; under it
// the tests recover a smaller backlog (still thousands of goroutines for
// the naive variant) and leave the full Scenario run to the plain build.
const raceEnabled = true
