package coldstore

import (
	"context"
	"fmt"

	"github.com/sluice-go/sluice/gate"
)

// Store is what both variants serve.
type Store interface {
	BlockByNumber(ctx context.Context, n uint64) (*Block, error)
	BlockByHash(ctx context.Context, h Hash) (*Block, error)
	GetLogs(ctx context.Context, f Filter) ([]Log, error)
	// StreamLogs starts a stream of the logs f matches (Limit ignored).
	StreamLogs(ctx context.Context, f Filter) (*LogStream, error)
	AppendBlocks(ctx context.Context, blocks []Block) error
	TruncateAbove(ctx context.Context, n uint64) error
	// Close stops the store and waits until it has stopped, or ctx ends.
	Close(ctx context.Context) error
}

// LogStream delivers a stream's logs on C, which is closed at the end.
type LogStream struct {
	C   <-chan Log
	err error
}

// Err reports why the stream ended early (nil if it delivered every log).
// Call it only after C is closed.
func (s *LogStream) Err() error { return s.err }

// Cold is the store built on sluice's gate: reads, writes and streams are
// admitted by one [gate.Gate]. There is no dispatcher loop to wedge:
// each call waits in the gate's FIFO queue on its own goroutine, under its
// own deadline, and Close fails every waiter at once.
type Cold struct {
	g *gate.Gate
	b Backend
}

// NewCold returns a store over b admitted by a gate made with opts
// (without them, gate's defaults: 64 readers, 8 streams, 5 s read
// deadline, 60 s stream lifetime).
func NewCold(b Backend, opts ...gate.Option) *Cold {
	if b == nil {
		panic("coldstore: NewCold with nil Backend")
	}
	return &Cold{g: gate.New(opts...), b: b}
}

// Stats returns the gate's counters.
func (c *Cold) Stats() gate.Stats { return c.g.Stats() }

func (c *Cold) BlockByNumber(ctx context.Context, n uint64) (*Block, error) {
	return gate.ReadValue(gate.Op(ctx, "BlockByNumber"), c.g, func(ctx context.Context) (*Block, error) {
		return c.b.BlockByNumber(ctx, n)
	})
}

func (c *Cold) BlockByHash(ctx context.Context, h Hash) (*Block, error) {
	return gate.ReadValue(gate.Op(ctx, "BlockByHash"), c.g, func(ctx context.Context) (*Block, error) {
		return c.b.BlockByHash(ctx, h)
	})
}

func (c *Cold) GetLogs(ctx context.Context, f Filter) ([]Log, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	return gate.ReadValue(gate.Op(ctx, "GetLogs"), c.g, func(ctx context.Context) ([]Log, error) {
		return c.b.Logs(ctx, f)
	})
}

// StreamLogs admits a stream in the gate's stream lane: it never takes a
// read permit, its wait for a slot is bounded by the read deadline, and
// its whole setup (the snapshot, resolving Latest) happens inside the
// stream, under the stream's lifetime, where it cannot hold up a write.
// That is the fix for the review's critical finding in seed 004.
func (c *Cold) StreamLogs(ctx context.Context, f Filter) (*LogStream, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	ch := make(chan Log)
	s := &LogStream{C: ch}
	err := c.g.Stream(gate.Op(ctx, "StreamLogs"), func(ctx context.Context) error {
		defer close(ch)
		s.err = produce(ctx, c.b, f, ch)
		return s.err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// produce sends the logs f matches in a snapshot of b on ch.
func produce(ctx context.Context, b Backend, f Filter, ch chan<- Log) error {
	v, err := b.View(ctx)
	if err != nil {
		return err
	}
	v.EachLog(f, func(l Log) bool {
		select {
		case ch <- l:
			return true
		case <-ctx.Done():
			err = ctx.Err()
			return false
		}
	})
	return err
}

func (c *Cold) AppendBlocks(ctx context.Context, blocks []Block) error {
	return c.g.Write(gate.Op(ctx, "AppendBlocks"), func(ctx context.Context) error {
		return c.b.Append(ctx, blocks)
	})
}

func (c *Cold) TruncateAbove(ctx context.Context, n uint64) error {
	return c.g.Write(gate.Op(ctx, "TruncateAbove"), func(ctx context.Context) error {
		return c.b.TruncateAbove(ctx, n)
	})
}

// Close fails every waiting call with gate.ErrClosed, cancels running
// reads and streams, and waits for every admitted call to return.
func (c *Cold) Close(ctx context.Context) error {
	c.g.Close()
	return c.g.Wait(ctx)
}

func checkFilter(f Filter) error {
	if f.To != Latest && f.From > f.To {
		return fmt.Errorf("coldstore: filter from block %d is above to block %d", f.From, f.To)
	}
	if f.Limit < 0 {
		return fmt.Errorf("coldstore: negative filter limit %d", f.Limit)
	}
	return nil
}
