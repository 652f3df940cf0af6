package neg

import (
	"sort"
	"sync"
)

// Shapes from etcd that were false positives.

type hashes struct {
	mu  sync.RWMutex
	hs  []int
	rev int
	be  *Conn
}

// Store sorts under a deferred unlock: the closure captures s through a
// spilled cell and still runs under mu.
func (s *hashes) Store(h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hs = append(s.hs, h)
	sort.Slice(s.hs, func(i, j int) bool { return s.hs[i] < s.hs[j] })
	s.rev++
	s.be.Query("store")
}

func (s *hashes) List() []int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.be.Query("list")
	return append([]int(nil), s.hs...)
}

func (s *hashes) Rev() int { s.mu.RLock(); defer s.mu.RUnlock(); s.be.Query("rev"); return s.rev }

// unsafeRev follows etcd's convention: the caller holds the lock.
func (s *hashes) unsafeRev() int { return s.rev }

func newHashes() *hashes { return &hashes{} }

// Build initialises a value a constructor helper returned.
func Build(c *Conn) *hashes {
	s := newHashes()
	s.rev = 1
	s.be = c
	return s
}

// SetBackend is set-up before the value is shared.
func (s *hashes) SetBackend(c *Conn) { s.be = c }

// Restore runs while the store is stopped.
func (s *hashes) Restore() { s.rev = 0; s.hs = nil }

// validate works on values not shared yet and takes no lock.
func validate(local, existing *hashes) bool {
	local.rev = existing.rev
	return len(local.hs) == 0
}

func use() int { return newHashes().unsafeRev() }
