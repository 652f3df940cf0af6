// Package bench compares sluice's primitives with the libraries people use
// for the same jobs today. It is its own module so that those libraries
// never become dependencies of sluice itself. See BENCHMARKS.md.
package bench
