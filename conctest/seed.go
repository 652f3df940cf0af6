package conctest

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// SeedEnv is the environment variable every randomized sluice test reads
// its seed from, so that a failure seen once can be replayed exactly:
//
//	SLUICE_SEED=123 go test -run TestModel ./gate
const SeedEnv = "SLUICE_SEED"

// Seed returns the seed for a randomized test: the value of SLUICE_SEED
// when it is set, a fresh random seed otherwise. If t has failed by the
// time it ends (its subtests included), Seed logs
// "seed N (replay with SLUICE_SEED=N)". A SLUICE_SEED that is not a
// decimal int64 fails t at once. Seed panics if t is nil.
//
// Derive everything random in the test from the seed, in an order that
// does not depend on scheduling, so that the same seed replays the same
// run. A fresh seed comes from math/rand/v2, not from the clock, because
// inside a testing/synctest bubble the clock starts at the same instant
// every time.
func Seed(t testing.TB) int64 {
	if t == nil {
		panic("conctest: Seed with nil testing.TB")
	}
	t.Helper()
	var seed int64
	if s, ok := os.LookupEnv(SeedEnv); ok && s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("conctest: %s=%q is not a decimal int64: %v", SeedEnv, s, err)
		}
		seed = n
	} else {
		seed = rand.Int64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (replay with %s=%d)", seed, SeedEnv, seed)
		}
	})
	return seed
}
