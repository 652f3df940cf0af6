package neg

import "sync"

// Shapes from nats-server and etcd: callees of trusted callers, start-up
// writes, copies made during configuration, and a constructor's variable
// reassigned from a method on it.

type TConn struct {
	mu    sync.Mutex
	subs  map[int]bool
	max   int
	flags int
	stats map[string]int
}

// closed reports whether c is done (nats isClosed, subsAtLimit); its
// sites are Sub and Enqueue.
func (c *TConn) closed() bool { return c.flags != 0 || len(c.subs) >= c.max }

// Enqueue assumes the lock is held upon entry (its callers are in other
// packages).
func (c *TConn) Enqueue() {
	if c.closed() {
		return
	}
	c.flags++
}

func (c *TConn) Sub(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed() {
		return
	}
	c.subs[n] = true
	c.flags = 0
	c.Enqueue()
}

func (c *TConn) Unsub(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.subs, n)
	c.flags |= 2
	c.stats["unsub"]++
}

func (c *TConn) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats["count"]++
	c.max++
	return len(c.subs) + c.flags
}

func (c *TConn) Stat(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats[k]++
	return c.stats[k]
}

// startMonitoring runs before the handlers that use stats exist.
func (c *TConn) startMonitoring() {
	c.stats = map[string]int{}
}

// copyConn reads a configuration copy that nothing else sees yet; its
// only caller is a configure step.
func (c *TConn) copyConn() *TConn {
	n := &TConn{subs: map[int]bool{}}
	for k := range c.subs {
		n.subs[k] = true
	}
	return n
}

func configureConns(cs []*TConn) []*TConn {
	var out []*TConn
	for _, c := range cs {
		out = append(out, c.copyConn())
	}
	return out
}

// A constructor's variable reassigned from a method on it is still its
// own value (etcd wal.Create: w, err = w.renameWAL(dir)).
type Log struct {
	mu  sync.Mutex
	fp  *int
	dir string
}

func CreateLog(dir string) (*Log, error) {
	w := &Log{dir: dir}
	var err error
	defer func() {
		if err != nil {
			w.cleanup()
		}
	}()
	if w, err = w.rename(dir + ".tmp"); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Log) rename(to string) (*Log, error) {
	n := 0
	w.fp = &n
	w.dir = to
	return w, nil
}

func (w *Log) cleanup() { w.dir = "" }

func (w *Log) Cut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 1
	w.fp = &n
}

func (w *Log) Sync() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return *w.fp
}

func (w *Log) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fp = nil
}
