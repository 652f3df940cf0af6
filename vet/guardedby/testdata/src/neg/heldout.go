package neg

import (
	"encoding/json"
	"sync"
)

// Shapes from a held-out codebase (cometbft).

// A mutex wrapper (a struct embedding sync.Mutex, with Lock and Unlock)
// held by value makes its struct guard itself, as sync.Mutex does.
type wrapMutex struct{ sync.Mutex }

type endpoint struct {
	connMtx wrapMutex
	conn    *int
}

func (e *endpoint) Drop() {
	e.connMtx.Lock()
	e.conn = nil
	e.connMtx.Unlock()
}

type listener struct {
	instanceMtx sync.Mutex
	endpoint
	addr string
}

func (l *listener) a() { l.instanceMtx.Lock(); l.endpoint.Drop(); l.instanceMtx.Unlock() }
func (l *listener) b() { l.instanceMtx.Lock(); l.endpoint.Drop(); l.instanceMtx.Unlock() }
func (l *listener) c() { l.instanceMtx.Lock(); l.endpoint.Drop(); l.instanceMtx.Unlock() }
func (l *listener) reconnect() {
	l.endpoint.Drop()
}

// Codec methods run under the caller's lock around json.Marshal(s), or on
// a value not yet shared.
type appState struct {
	sync.RWMutex
	height int
	hash   []byte
}

func (s *appState) Commit() {
	s.Lock()
	defer s.Unlock()
	s.height++
	s.hash = []byte{byte(s.height)}
}

func (s *appState) Height() int {
	s.RLock()
	defer s.RUnlock()
	return s.height
}

func (s *appState) Hash() []byte {
	s.RLock()
	defer s.RUnlock()
	return s.hash
}

func (s *appState) Rollback() {
	s.Lock()
	defer s.Unlock()
	s.height--
	s.hash = s.hash[:0]
}

func (s *appState) Info() (int, int) {
	s.RLock()
	defer s.RUnlock()
	return s.height, len(s.hash)
}

func (s *appState) Reset() {
	s.Lock()
	defer s.Unlock()
	s.height, s.hash = 0, nil
}

func (s *appState) Save() ([]byte, error) {
	s.RLock()
	defer s.RUnlock()
	return json.Marshal(s)
}

func (s *appState) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"height": s.height, "hash": s.hash})
}

func (s *appState) UnmarshalJSON(b []byte) error {
	var v struct{ Height int }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s.height = v.Height
	return nil
}

// A method documented as for tests only.
//
// GetHash should be used for testing purposes only.
func (s *appState) GetHash() []byte { return s.hash }

// A book loaded from its file at start, before anything else sees it.
type addrBook struct {
	mtx    sync.Mutex
	lookup map[string]int
	nNew   int
}

func (a *addrBook) OnStart() error { return a.loadFromFile("book.json") }

func (a *addrBook) loadFromFile(string) error {
	a.lookup["x"] = 1
	a.nNew++
	return nil
}

func (a *addrBook) Add(k string) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	a.lookup[k] = 1
	a.nNew++
}

func (a *addrBook) Remove(k string) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	delete(a.lookup, k)
	a.nNew--
}

func (a *addrBook) Size() int {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return len(a.lookup) + a.nNew
}

// A field set once and only read through methods that only read it: the
// lock guards the votes, not the validator set.
type valSet struct{ vals []int }

func (v *valSet) Size() int { return len(v.vals) }

type voteSet struct {
	mtx    sync.Mutex
	valSet *valSet
	votes  []int
}

func newVoteSet(vs *valSet) *voteSet { return &voteSet{valSet: vs} }

func (s *voteSet) Add(v int) {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	if s.valSet.Size() > len(s.votes) {
		s.votes = append(s.votes, v)
	}
}

func (s *voteSet) Has(v int) bool {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	_ = s.valSet.Size()
	for _, x := range s.votes {
		if x == v {
			return true
		}
	}
	return false
}

func (s *voteSet) Reset() {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	s.votes = nil
	_ = s.valSet.Size()
}

func (s *voteSet) Size() int {
	if s == nil {
		return 0
	}
	return s.valSet.Size()
}
