package gate

import "testing"

// TestReadAdmittedNeverGoesDown: ReadAdmitted is the semaphore's total
// less the writes; a snapshot that caught a write in the semaphore before
// it counted in writeAdmitted must not be followed by a lower figure.
func TestReadAdmittedNeverGoesDown(t *testing.T) {
	g := New()
	defer g.Close()
	if got := g.readAdmitted(3); got != 3 { // 3 reads
		t.Fatalf("got %d, want 3", got)
	}
	if got := g.readAdmitted(4); got != 4 { // a write, counted in the semaphore only
		t.Fatalf("got %d, want 4 (the write seen as a read)", got)
	}
	g.writeAdmitted.Add(1)
	if got := g.readAdmitted(4); got != 4 { // the write counted: 3 reads, but never down
		t.Fatalf("got %d, want 4", got)
	}
	if got := g.readAdmitted(5); got != 4 { // a fourth read catches up
		t.Fatalf("got %d, want 4", got)
	}
	if got := g.readAdmitted(6); got != 5 {
		t.Fatalf("got %d, want 5", got)
	}
}
