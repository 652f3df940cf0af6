//go:build race

package recovery

// The race detector makes loopback HTTP several times slower; under it
// the tests, TestScenario included, recover a smaller backlog (still
// thousands of goroutines for the naive variant).
const raceEnabled = true
