package peerstreams

import (
	"context"
	"testing"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

// Real goroutines on the real scheduler, so no synctest bubble. The runs
// wait for states, never for time, and have no wall-clock bound: on a
// loaded machine any bound could pass before a correct run ends. A hang
// is left to go test's -timeout, which prints every goroutine's stack.
func testCtx(t *testing.T) context.Context { return t.Context() }

func TestNaiveOrphansStreams(t *testing.T) {
	r, err := RunNaive(testCtx(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	// Both paths of every peer pass the check before the network answers,
	// so every peer gets two streams and loses one, every run.
	if r.Orphans != r.Peers || r.DoubleOpened != r.Peers || r.Phase1Max != 2 {
		t.Fatalf("naive: %d orphans, %d peers opened twice, %d setups at once; want %d, %d, 2",
			r.Orphans, r.DoubleOpened, r.Phase1Max, r.Peers, r.Peers)
	}
	if r.Opened != r.Peers+r.Orphans {
		t.Fatalf("opened %d = peers %d + orphans %d does not hold", r.Opened, r.Peers, r.Orphans)
	}
	if r.Phase2Max != 2 {
		t.Fatalf("reconnect ran beside the setup in flight at most %d at once, want 2", r.Phase2Max)
	}
}

// The seed's fix cures the orphans but not its second flaw: deleting a
// peer's lock while a setup holds it lets the reconnect's setup run beside
// it.
func TestSeedFixRunsTwoSetupsOnReconnect(t *testing.T) {
	r, err := RunSeedFix(testCtx(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Orphans != 0 || r.Opened != r.Peers || r.Phase1Max != 1 {
		t.Fatalf("the seed's lock did not serialise the two paths: %+v", r)
	}
	if r.Phase2Max != 2 {
		t.Fatalf("reconnect setups at once = %d, want 2 (the seed's second flaw)", r.Phase2Max)
	}
	if r.EntriesAfterSetup != r.Peers {
		t.Fatalf("lock entries after setup = %d, want one per peer until disconnect", r.EntriesAfterSetup)
	}
}

func TestSluiceOneStreamPerPeer(t *testing.T) {
	r, err := RunSluice(testCtx(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	p := r.Peers
	if r.Orphans != 0 || r.ReconnectOrphans != 0 {
		t.Errorf("orphaned streams: %d, %d", r.Orphans, r.ReconnectOrphans)
	}
	if r.Opened != p || r.DoubleOpened != 0 || r.Registered != p || r.Reconnected != p {
		t.Errorf("not exactly one stream per peer: %+v", r)
	}
	if r.Phase1Max != 1 || r.Phase2Max != 1 {
		t.Errorf("setups of one peer at once: %d, %d; want 1", r.Phase1Max, r.Phase2Max)
	}
	if r.EntriesAfterSetup != p || r.EntriesAfterDisconnect != 0 || r.EntriesAfterReconnect != p || r.EntriesAtEnd != 0 {
		t.Errorf("entries %d/%d/%d/%d, want %d/0/%d/0", r.EntriesAfterSetup, r.EntriesAfterDisconnect,
			r.EntriesAfterReconnect, r.EntriesAtEnd, p, p)
	}
}

func TestScenario(t *testing.T) {
	s := Scenario()
	if s.Name != "peerstreams" || s.Seed != "001" {
		t.Fatalf("scenario %q seed %q", s.Name, s.Seed)
	}
	res, err := s.Run(testCtx(t), demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Variant != demo.Naive || res[1].Variant != demo.Sluice {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		t.Logf("%s: %s (%s)", r.Variant, r.Measured(), r.Verdict)
		if !r.OK {
			t.Errorf("%s: %s", r.Variant, r.Verdict)
		}
	}
}
