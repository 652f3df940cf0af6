// Package deps holds the test that keeps sluice's primitives on the
// standard library: a user who imports sem or gate pulls in nothing else.
package deps
