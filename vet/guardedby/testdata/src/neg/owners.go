package neg

import "sync"

// A method of another type reaching the store through a back-pointer,
// where no method of that type ever takes the store's lock: the store's
// methods call it with the lock held.
type vstore struct {
	worldLock sync.RWMutex
	index     uint64
	root      *vnode
}

type vnode struct {
	store *vstore
	path  string
}

func (n *vnode) notFile() error {
	return errIndex(n.path, n.store.index)
}

func errIndex(string, uint64) error { return nil }

func (s *vstore) Get() error {
	s.worldLock.RLock()
	defer s.worldLock.RUnlock()
	_ = s.index
	return s.root.notFile()
}

func (s *vstore) Set() {
	s.worldLock.Lock()
	defer s.worldLock.Unlock()
	s.index++
}

func (s *vstore) Delete() {
	s.worldLock.Lock()
	defer s.worldLock.Unlock()
	s.index++
}

func (s *vstore) Index() uint64 {
	s.worldLock.RLock()
	defer s.worldLock.RUnlock()
	return s.index
}

// A method value handed to a walker that only calls it runs under the
// caller's lock.
func (s *vstore) walk(path string, step func(string) error) error {
	return step(path)
}

func (s *vstore) checkDir(path string) error {
	return errIndex(path, s.index)
}

func (s *vstore) Create(path string) error {
	s.worldLock.Lock()
	defer s.worldLock.Unlock()
	s.index++
	return s.walk(path, s.checkDir)
}

// Exported methods of an unexported type are judged by their callers in
// the package, and so is an exported method the package calls at two or
// more sites, all holding the lock.
type daemon struct {
	sync.RWMutex
	topics map[string]int
}

func (d *daemon) Persist() int {
	n := 0
	for _, v := range d.topics {
		n += v
	}
	return n
}

func (d *daemon) addTopic(name string) {
	d.Lock()
	d.topics[name]++
	d.Persist()
	d.Unlock()
}

func (d *daemon) removeTopic(name string) {
	d.Lock()
	delete(d.topics, name)
	d.Persist()
	d.Unlock()
}

func (d *daemon) count(name string) int {
	d.RLock()
	defer d.RUnlock()
	return d.topics[name]
}

// A variable that is either the entry found (and locked) or one just made:
// its lock is held on one path, and on the other nobody else has it yet.
type outsie struct {
	sync.RWMutex
	mode int
	ni   map[string]bool
}

type gw struct {
	mu     sync.Mutex
	outsim sync.Map
}

func (g *gw) unsub(name string) {
	var e *outsie
	if ei, ok := g.outsim.Load(name); ok {
		e = ei.(*outsie)
		e.Lock()
		defer e.Unlock()
	} else {
		e = &outsie{ni: map[string]bool{}}
	}
	if e.mode == 1 {
		return
	}
	g.outsim.Store(name, e)
}

func (g *gw) setMode(name string, m int) {
	if ei, ok := g.outsim.Load(name); ok {
		e := ei.(*outsie)
		e.Lock()
		e.mode = m
		e.Unlock()
	}
}

func (g *gw) switchMode(name string) {
	if ei, ok := g.outsim.Load(name); ok {
		e := ei.(*outsie)
		e.Lock()
		e.mode = 1 - e.mode
		e.Unlock()
	}
}

func (g *gw) getMode(name string) int {
	if ei, ok := g.outsim.Load(name); ok {
		e := ei.(*outsie)
		e.RLock()
		defer e.RUnlock()
		return e.mode
	}
	return 0
}
