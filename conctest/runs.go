package conctest

import (
	"os"
	"strconv"
	"testing"
)

// RunsEnv is the environment variable that overrides the number of runs
// of every [Runs] call, e.g. SLUICE_RUNS=2000 for a long hunt.
const RunsEnv = "SLUICE_RUNS"

// Runs runs fn n times as subtests named "0", "1", ... with seeds base+i,
// where base comes from [Seed]. Under -short it runs n/5 times (at least
// one); SLUICE_RUNS overrides both. It stops at the first failed run and
// says how to replay just that run:
//
//	SLUICE_SEED=base go test -run 'TestModel/^i$'
//
// fn must derive everything random from seed (for example with
// rand.New(rand.NewPCG(seed, 0))). A model test wraps its body in
// synctest.Test itself when it needs a bubble. Runs panics if t or fn is
// nil, or if n is not positive.
func Runs(t *testing.T, n int, fn func(t *testing.T, seed uint64)) {
	if t == nil || fn == nil {
		panic("conctest: Runs with nil *testing.T or nil fn")
	}
	if n <= 0 {
		panic("conctest: Runs with n <= 0")
	}
	t.Helper()
	if testing.Short() {
		n = max(1, n/5)
	}
	if s, ok := os.LookupEnv(RunsEnv); ok && s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("conctest: %s=%q is not a positive integer", RunsEnv, s)
		}
		n = v
	}
	base := uint64(Seed(t))
	for i := range n {
		seed := base + uint64(i)
		if !t.Run(strconv.Itoa(i), func(t *testing.T) { fn(t, seed) }) {
			t.Fatalf("run %d (seed %d) failed; replay it with %s=%d go test -run '%s/^%d$'",
				i, seed, SeedEnv, int64(base), t.Name(), i)
		}
	}
}
