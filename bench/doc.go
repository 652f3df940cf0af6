// Package bench compares sluice's primitives with the libraries people use
// for the same jobs today. It is its own module so that those libraries
// never become dependencies of sluice itself.
//
// Each file is one benchmark (BenchmarkSem, BenchmarkPool, BenchmarkKeyed,
// BenchmarkGuard, BenchmarkGate, BenchmarkQueue, BenchmarkLoop), and each
// comparison in it is a sub-benchmark named by implementation, with what is
// measured as further key=value parts: Sem/case=contended/impl=sluice,
// Sem/case=contended/impl=xsync, Pool/tasks=100000/limit=10/impl=pond.
// benchstat (a tool in this module's go.mod) then puts the implementations
// side by side, with confidence intervals. From this folder, the tables in
// BENCHMARKS.md come from:
//
//	go test -run '^$' -bench . -count 10 > new.out
//	go tool benchstat -table .name -col /impl new.out
//
// and ./run.sh runs both and writes every table into BENCHMARKS.md.
package bench
