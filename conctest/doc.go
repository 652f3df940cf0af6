// Package conctest holds the helpers sluice's own tests are built from, and
// that users can build theirs from:
//
//   - [Turnstile]: a call turnstile. Calls block inside it until the test lets them
//     pass; the test can wait, without sleeping, until n calls are inside.
//   - [Tracker]: an in-flight tracker that records the most calls at once.
//   - [WaitFor] and [Turnstile.WaitEntered]: wait for a condition or an event
//     instead of sleeping.
//   - [NoDeadlock]: fails the test with every goroutine's stack if a
//     function does not return in time.
//   - [VerifyTestMain] and [CheckLeaks]: goroutine leak checks (built on
//     go.uber.org/goleak).
//   - [Seed]: the seed of a randomized test, replayable with
//     SLUICE_SEED=N ([SeedEnv]) and logged when the test fails.
//
// Everything here works inside a testing/synctest bubble: waits block on
// channels, so the bubble's fake clock advances while a test waits, and the
// time-based helpers ([WaitFor], [NoDeadlock]) are exact there. Create a
// Turnstile or Tracker inside the bubble that uses it.
package conctest
