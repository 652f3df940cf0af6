package coldstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Backend is the storage under a store. Reads and writes may block (a
// database would do I/O) and should honour ctx. View returns a consistent
// snapshot that later writes do not change: streams read from one, so they
// need no read permit and never delay a write.
type Backend interface {
	BlockByNumber(ctx context.Context, n uint64) (*Block, error)
	BlockByHash(ctx context.Context, h Hash) (*Block, error)
	Logs(ctx context.Context, f Filter) ([]Log, error)
	Latest(ctx context.Context) (uint64, error)
	View(ctx context.Context) (*View, error)
	Append(ctx context.Context, blocks []Block) error
	TruncateAbove(ctx context.Context, n uint64) error
}

// View is an immutable snapshot of the chain.
type View struct {
	first  uint64   // number of blocks[0]
	blocks []*Block // contiguous; never modified once published
	byHash map[Hash]*Block
}

// Latest returns the head block number, or false if the view is empty.
func (v *View) Latest() (uint64, bool) {
	if len(v.blocks) == 0 {
		return 0, false
	}
	return v.first + uint64(len(v.blocks)) - 1, true
}

// Block returns block n, or nil.
func (v *View) Block(n uint64) *Block {
	if n < v.first || n-v.first >= uint64(len(v.blocks)) {
		return nil
	}
	return v.blocks[n-v.first]
}

// ByHash returns the block with hash h, or nil.
func (v *View) ByHash(h Hash) *Block { return v.byHash[h] }

// EachLog calls yield with every log f matches, in order, until yield
// returns false. f.To == Latest means the view's head; f.Limit is ignored.
func (v *View) EachLog(f Filter, yield func(Log) bool) {
	head, ok := v.Latest()
	if !ok {
		return
	}
	to := min(f.To, head)
	for n := max(f.From, v.first); n <= to; n++ {
		for _, tx := range v.blocks[n-v.first].Txs {
			for _, l := range tx.Logs {
				if f.Match(l) && !yield(l) {
					return
				}
			}
		}
	}
}

// Mem is an in-memory Backend. Writers publish a new View (copy on write)
// that readers load atomically, so Mem itself is safe for any mix of calls;
// admission control is the store's job, not Mem's.
type Mem struct {
	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[View]
}

// NewMem returns a backend holding blocks (which must be contiguous).
func NewMem(blocks []Block) *Mem {
	m := &Mem{}
	m.cur.Store(&View{byHash: map[Hash]*Block{}})
	if len(blocks) > 0 {
		if err := m.Append(context.Background(), blocks); err != nil {
			panic(err)
		}
	}
	return m
}

func (m *Mem) BlockByNumber(ctx context.Context, n uint64) (*Block, error) {
	if b := m.cur.Load().Block(n); b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("%w: block %d", ErrNotFound, n)
}

func (m *Mem) BlockByHash(ctx context.Context, h Hash) (*Block, error) {
	if b := m.cur.Load().ByHash(h); b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("%w: block %s", ErrNotFound, h)
}

func (m *Mem) Logs(ctx context.Context, f Filter) ([]Log, error) {
	var out []Log
	var err error
	m.cur.Load().EachLog(f, func(l Log) bool {
		if f.Limit > 0 && len(out) == f.Limit {
			err = fmt.Errorf("%w: more than %d for %v", ErrTooManyLogs, f.Limit, f)
			return false
		}
		out = append(out, l)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Mem) Latest(ctx context.Context) (uint64, error) {
	if n, ok := m.cur.Load().Latest(); ok {
		return n, nil
	}
	return 0, fmt.Errorf("%w: no blocks", ErrNotFound)
}

func (m *Mem) View(ctx context.Context) (*View, error) { return m.cur.Load(), nil }

// Append adds blocks on top of the head. The first must be the head's
// child (number and parent hash), the rest contiguous.
func (m *Mem) Append(ctx context.Context, blocks []Block) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.cur.Load()
	nv := &View{first: old.first, blocks: slices.Clone(old.blocks), byHash: make(map[Hash]*Block, len(old.byHash)+len(blocks))}
	for h, b := range old.byHash {
		nv.byHash[h] = b
	}
	for i := range blocks {
		b := blocks[i] // a copy: the caller's slice stays the caller's
		if head, ok := nv.Latest(); ok {
			if b.Number != head+1 || b.Parent != nv.blocks[len(nv.blocks)-1].Hash {
				return fmt.Errorf("coldstore: append: block %d (parent %s) does not extend head %d (%s)",
					b.Number, b.Parent, head, nv.blocks[len(nv.blocks)-1].Hash)
			}
		} else {
			nv.first = b.Number
		}
		nv.blocks = append(nv.blocks, &b)
		nv.byHash[b.Hash] = &b
	}
	m.cur.Store(nv)
	return nil
}

// TruncateAbove removes every block above n.
func (m *Mem) TruncateAbove(ctx context.Context, n uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.cur.Load()
	head, ok := old.Latest()
	if !ok || head <= n {
		return nil
	}
	keep := 0
	if n >= old.first {
		keep = int(n-old.first) + 1
	}
	nv := &View{first: old.first, blocks: slices.Clone(old.blocks[:keep]), byHash: make(map[Hash]*Block, keep)}
	for _, b := range nv.blocks {
		nv.byHash[b.Hash] = b
	}
	m.cur.Store(nv)
	return nil
}

// CallGate is what a GatedBackend blocks its calls on. *conctest.Turnstile
// satisfies it; so does the demo's own hold.
type CallGate interface {
	Pass(ctx context.Context) error
}

// GatedBackend wraps a Backend so that a test (or the demo) decides when
// calls proceed: every read passes Reads first, every View passes Views
// first (nil gates are open). With IgnoreCtx the calls wait in the gate
// without looking at their ctx, like a backend stuck on a dead connection.
// Writes are not gated.
type GatedBackend struct {
	Backend
	Reads     CallGate
	Views     CallGate
	IgnoreCtx bool
}

func (g *GatedBackend) pass(ctx context.Context, gate CallGate) error {
	if gate == nil {
		return nil
	}
	if g.IgnoreCtx {
		ctx = context.Background()
	}
	return gate.Pass(ctx)
}

func (g *GatedBackend) BlockByNumber(ctx context.Context, n uint64) (*Block, error) {
	if err := g.pass(ctx, g.Reads); err != nil {
		return nil, err
	}
	return g.Backend.BlockByNumber(ctx, n)
}

func (g *GatedBackend) BlockByHash(ctx context.Context, h Hash) (*Block, error) {
	if err := g.pass(ctx, g.Reads); err != nil {
		return nil, err
	}
	return g.Backend.BlockByHash(ctx, h)
}

func (g *GatedBackend) Logs(ctx context.Context, f Filter) ([]Log, error) {
	if err := g.pass(ctx, g.Reads); err != nil {
		return nil, err
	}
	return g.Backend.Logs(ctx, f)
}

func (g *GatedBackend) Latest(ctx context.Context) (uint64, error) {
	if err := g.pass(ctx, g.Reads); err != nil {
		return 0, err
	}
	return g.Backend.Latest(ctx)
}

func (g *GatedBackend) View(ctx context.Context) (*View, error) {
	if err := g.pass(ctx, g.Views); err != nil {
		return nil, err
	}
	return g.Backend.View(ctx)
}
