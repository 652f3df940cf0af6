package coldstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/demo/coldstore"
	"github.com/sluice-go/sluice/gate"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

const cap64 = 64

// chain returns a backend with blocks 1..16 and its head's hash.
func chain() (*coldstore.Mem, []coldstore.Block) {
	blocks := coldstore.MakeChain(1, 16, 2, 3, "0xgenesis")
	return coldstore.NewMem(blocks), blocks
}

// recorder wraps a backend and records, in one sequence, when each read
// entered the backend (by block number) and when each write ran.
type recorder struct {
	coldstore.Backend
	seq     atomic.Int64
	mu      sync.Mutex
	reads   map[uint64][]int64
	writeAt atomic.Int64
	tr      conctest.Tracker
}

func newRecorder(b coldstore.Backend) *recorder {
	return &recorder{Backend: b, reads: map[uint64][]int64{}}
}

func (r *recorder) BlockByNumber(ctx context.Context, n uint64) (*coldstore.Block, error) {
	defer r.tr.Enter()()
	s := r.seq.Add(1)
	r.mu.Lock()
	r.reads[n] = append(r.reads[n], s)
	r.mu.Unlock()
	return r.Backend.BlockByNumber(ctx, n)
}

func (r *recorder) Append(ctx context.Context, blocks []coldstore.Block) error {
	r.writeAt.Store(r.seq.Add(1))
	return r.Backend.Append(ctx, blocks)
}

func (r *recorder) readSeqs(n uint64) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.reads[n]...)
}

func call(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// within waits up to d (fake time inside a bubble) for a result.
func within(t *testing.T, ch <-chan error, d time.Duration, what string) error {
	t.Helper()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case err := <-ch:
		return err
	case <-tm.C:
		t.Fatalf("%s: not back within %v", what, d)
		return nil
	}
}

// parkReaders starts n BlockByNumber(num) calls and waits until they are
// all blocked inside the backend gate g.
func parkReaders(t *testing.T, s coldstore.Store, g *conctest.Turnstile, n int, num uint64) []<-chan error {
	t.Helper()
	var out []<-chan error
	for range n {
		out = append(out, call(func() error { _, err := s.BlockByNumber(context.Background(), num); return err }))
	}
	if err := g.WaitBlocked(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return out
}

type variant struct {
	name string
	mk   func(b coldstore.Backend) coldstore.Store
}

var variants = []variant{
	{demo.Naive, func(b coldstore.Backend) coldstore.Store { return coldstore.NewNaive(b, cap64) }},
	{demo.Sluice, func(b coldstore.Backend) coldstore.Store { return coldstore.NewCold(b) }},
}

func closeStore(t *testing.T, s coldstore.Store) {
	t.Helper()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// 256 concurrent reads above the cap of 64 all complete, never more than
// 64 in the backend at once; a write after saturating reads completes.
func TestReadsAboveCapComplete(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem, blocks := chain()
				g := conctest.NewTurnstile()
				rec := newRecorder(&coldstore.GatedBackend{Backend: mem, Reads: g})
				s := v.mk(rec)
				var res []<-chan error
				for i := range 256 {
					res = append(res, call(func() error {
						b, err := s.BlockByNumber(context.Background(), uint64(1+i%16))
						if err == nil && b.Number != uint64(1+i%16) {
							return errors.New("wrong block")
						}
						return err
					}))
				}
				if err := g.WaitBlocked(context.Background(), cap64); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if n := g.Entered(); n != cap64 {
					t.Fatalf("%d reads inside the backend, cap %d", n, cap64)
				}
				g.Open()
				for i, r := range res {
					if err := within(t, r, time.Second, "read"); err != nil {
						t.Fatalf("read %d: %v", i, err)
					}
				}
				if m := rec.tr.Max(); m > cap64 {
					t.Fatalf("peak %d reads in the backend", m)
				}
				head := blocks[len(blocks)-1]
				w := call(func() error {
					return s.AppendBlocks(context.Background(), coldstore.MakeChain(17, 1, 1, 1, head.Hash))
				})
				if err := within(t, w, time.Second, "write after saturating reads"); err != nil {
					t.Fatal(err)
				}
				closeStore(t, s)
			})
		})
	}
}

// With 64 readers parked and a write queued, 64 later readers do not run
// before the write.
func TestFairnessWriteBeforeLaterReaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, blocks := chain()
		g := conctest.NewTurnstile()
		rec := newRecorder(&coldstore.GatedBackend{Backend: mem, Reads: g})
		c := coldstore.NewCold(rec)
		early := parkReaders(t, c, g, cap64, 1)
		w := call(func() error {
			return c.AppendBlocks(context.Background(), coldstore.MakeChain(17, 1, 1, 1, blocks[15].Hash))
		})
		synctest.Wait()
		if st := c.Stats(); st.WriteWaiting != 1 {
			t.Fatalf("Stats = %+v, want the write queued", st)
		}
		var late []<-chan error
		for range cap64 {
			late = append(late, call(func() error { _, err := c.BlockByNumber(context.Background(), 2); return err }))
		}
		synctest.Wait()
		if n := len(rec.readSeqs(2)); n != 0 {
			t.Fatalf("%d later readers ran before the write", n)
		}
		if st := c.Stats(); st.ReadWaiting != cap64 {
			t.Fatalf("Stats = %+v, want 64 later readers waiting", st)
		}
		g.Open()
		if err := within(t, w, time.Second, "write"); err != nil {
			t.Fatal(err)
		}
		for _, r := range append(early, late...) {
			if err := within(t, r, time.Second, "read"); err != nil {
				t.Fatal(err)
			}
		}
		wa := rec.writeAt.Load()
		seqs := rec.readSeqs(2)
		if len(seqs) != cap64 {
			t.Fatalf("%d later reads ran", len(seqs))
		}
		for _, s := range seqs {
			if s < wa {
				t.Fatalf("a later reader (#%d) ran before the write (#%d)", s, wa)
			}
		}
		closeStore(t, c)
	})
}

// Close with 64 readers parked and a 65th waiting: all return within 1 s
// with ErrClosed, even when the backend ignores their ctx.
func TestCloseWithParkedReaders(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		name := map[bool]string{false: "backend honours ctx", true: "backend ignores ctx"}[stuck]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem, _ := chain()
				g := conctest.NewTurnstile()
				c := coldstore.NewCold(&coldstore.GatedBackend{Backend: mem, Reads: g, IgnoreCtx: stuck})
				res := parkReaders(t, c, g, cap64, 1)
				res = append(res, call(func() error { _, err := c.BlockByNumber(context.Background(), 2); return err }))
				synctest.Wait()
				if st := c.Stats(); st.ReadInUse != cap64 || st.ReadWaiting != 1 {
					t.Fatalf("Stats = %+v", st)
				}
				start := time.Now()
				cctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				closed := call(func() error { return c.Close(cctx) })
				for i, r := range res {
					err := within(t, r, time.Second, "reader")
					if !errors.Is(err, gate.ErrClosed) && !errors.Is(err, context.Canceled) {
						t.Fatalf("reader %d: %v, want ErrClosed", i, err)
					}
				}
				if d := time.Since(start); d >= time.Second {
					t.Fatalf("readers back after %v", d)
				}
				err := within(t, closed, 2*time.Second, "Close")
				if !stuck {
					if err != nil {
						t.Fatalf("Close = %v", err)
					}
					return
				}
				// The backend calls are still running: Close's wait says so,
				// and Stats counts them overdue, holding their permits.
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Close with stuck backend calls = %v, want its ctx deadline", err)
				}
				if st := c.Stats(); st.ReadOverdue != cap64 || st.ReadInUse != cap64 {
					t.Fatalf("Stats = %+v", st)
				}
				g.Open()
				closeStore(t, c)
			})
		})
	}
}

// Close while a write waits on the drain: it returns ErrClosed within 1 s.
func TestCloseDuringWriteDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, blocks := chain()
		g := conctest.NewTurnstile()
		c := coldstore.NewCold(&coldstore.GatedBackend{Backend: mem, Reads: g, IgnoreCtx: true})
		res := parkReaders(t, c, g, cap64, 1)
		w := call(func() error {
			return c.AppendBlocks(context.Background(), coldstore.MakeChain(17, 1, 1, 1, blocks[15].Hash))
		})
		synctest.Wait()
		if st := c.Stats(); st.WriteWaiting != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		go func() { _ = c.Close(cctx) }()
		if err := within(t, w, time.Second, "write"); !errors.Is(err, gate.ErrClosed) {
			t.Fatalf("write = %v, want ErrClosed", err)
		}
		g.Open()
		for _, r := range res {
			<-r
		}
		closeStore(t, c)
		if _, err := mem.BlockByNumber(context.Background(), 17); err == nil {
			t.Fatal("the abandoned write happened")
		}
	})
}

// A read past its deadline returns ErrDeadline; once its backend call
// returns, the permit is back and the next read succeeds.
func TestReadDeadlineReleasesPermitWhenFnReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, blocks := chain()
		g := conctest.NewTurnstile()
		c := coldstore.NewCold(&coldstore.GatedBackend{Backend: mem, Reads: g, IgnoreCtx: true}, gate.WithReadDeadline(5*time.Second), gate.WithHook(func(gate.Event) {}))
		start := time.Now()
		_, err := c.GetLogs(context.Background(), coldstore.Filter{From: 1, To: coldstore.Latest})
		if !errors.Is(err, gate.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("GetLogs = %v, want ErrDeadline", err)
		}
		if d := time.Since(start); d > 5*time.Second+50*time.Millisecond {
			t.Fatalf("GetLogs returned after %v", d)
		}
		// The backend call still runs and still holds its permit: a write
		// must wait for it.
		if st := c.Stats(); st.ReadOverdue != 1 || st.ReadInUse != 1 || st.TimedOut != 1 {
			t.Fatalf("Stats = %+v", st)
		}
		w := call(func() error {
			return c.AppendBlocks(context.Background(), coldstore.MakeChain(17, 1, 1, 1, blocks[15].Hash))
		})
		synctest.Wait()
		select {
		case err := <-w:
			t.Fatalf("write ran beside an overdue read: %v", err)
		default:
		}
		g.Open() // the stuck backend call returns
		if err := within(t, w, time.Second, "write"); err != nil {
			t.Fatal(err)
		}
		if st := c.Stats(); st.ReadOverdue != 0 || st.ReadInUse != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		b, err := c.BlockByNumber(context.Background(), 17)
		if err != nil || b.Number != 17 {
			t.Fatalf("next read = %v, %v", b, err)
		}
		closeStore(t, c)
	})
}

// Stream isolation: with all 64 read permits held a stream starts within
// 1 s; with all 8 stream slots held a 9th gives up at the setup deadline
// without taking a read permit, and a write still completes.
func TestStreamIsolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, blocks := chain()
		reads, views := conctest.NewTurnstile(), conctest.NewTurnstile()
		c := coldstore.NewCold(&coldstore.GatedBackend{Backend: mem, Reads: reads, Views: views})

		parked := parkReaders(t, c, reads, cap64, 1)
		views.Open()
		start := time.Now()
		st, err := c.StreamLogs(context.Background(), coldstore.Filter{From: 1, To: coldstore.Latest, Addresses: coldstore.ChainAddresses[:1]})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		for range st.C {
			got++
		}
		if st.Err() != nil || got == 0 || time.Since(start) >= time.Second {
			t.Fatalf("stream with reads saturated: %d logs, err %v, after %v", got, st.Err(), time.Since(start))
		}
		want, _ := mem.Logs(context.Background(), coldstore.Filter{From: 1, To: coldstore.Latest, Addresses: coldstore.ChainAddresses[:1]})
		if got != len(want) {
			t.Fatalf("stream delivered %d logs, want %d", got, len(want))
		}
		reads.Open()
		for _, r := range parked {
			if err := within(t, r, time.Second, "read"); err != nil {
				t.Fatal(err)
			}
		}

		// Hold all 8 stream slots: their setup waits in the backend.
		views2 := conctest.NewTurnstile()
		c2 := coldstore.NewCold(&coldstore.GatedBackend{Backend: mem, Views: views2})
		var held []*coldstore.LogStream
		for range 8 {
			s, err := c2.StreamLogs(context.Background(), coldstore.Filter{From: 1, To: coldstore.Latest})
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, s)
		}
		if err := views2.WaitBlocked(context.Background(), 8); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		ninth := call(func() error {
			_, err := c2.StreamLogs(context.Background(), coldstore.Filter{From: 1, To: coldstore.Latest})
			return err
		})
		synctest.Wait()
		if s := c2.Stats(); s.StreamInUse != 8 || s.StreamWaiting != 1 || s.ReadInUse != 0 || s.ReadWaiting != 0 {
			t.Fatalf("Stats = %+v: the 9th stream must wait in its own lane", s)
		}
		// A write completes while every stream slot is held and a 9th waits.
		if err := c2.AppendBlocks(context.Background(), coldstore.MakeChain(17, 1, 1, 1, blocks[15].Hash)); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.BlockByNumber(context.Background(), 17); err != nil {
			t.Fatal(err)
		}
		err = within(t, ninth, 6*time.Second, "9th stream")
		var de *gate.DeadlineError
		if !errors.As(err, &de) || de.Lane != "stream" || !de.Waiting || de.Op != "StreamLogs" {
			t.Fatalf("9th stream = %v, want a stream setup DeadlineError", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("9th stream gave up after %v, want the 5 s read deadline", d)
		}
		views2.Open()
		for _, s := range held {
			for range s.C {
			}
		}
		closeStore(t, c2)
		closeStore(t, c)
	})
}

// The naive store wedges: the 65th reader parks the loop, and neither a
// write nor a stream nor Close gets through within the guard time.
func TestNaiveWedges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, blocks := chain()
		g := conctest.NewTurnstile()
		n := coldstore.NewNaive(&coldstore.GatedBackend{Backend: mem, Reads: g}, cap64)
		res := parkReaders(t, n, g, cap64, 1)
		res = append(res, call(func() error { _, err := n.BlockByNumber(context.Background(), 2); return err }))
		if err := n.WaitParked(context.Background()); err != nil {
			t.Fatal(err)
		}
		const guard = time.Second
		wctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		w := call(func() error {
			return n.AppendBlocks(wctx, coldstore.MakeChain(17, 1, 1, 1, blocks[15].Hash))
		})
		s := call(func() error {
			_, err := n.StreamLogs(wctx, coldstore.Filter{From: 1, To: 4})
			return err
		})
		if err := within(t, w, 2*guard, "write"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("naive write = %v, want it wedged until its ctx deadline", err)
		}
		if err := within(t, s, 2*guard, "stream"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("naive stream = %v, want it wedged", err)
		}
		cctx, cancel2 := context.WithTimeout(context.Background(), guard)
		defer cancel2()
		if err := n.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("naive Close = %v, want it hung until its ctx deadline", err)
		}
		synctest.Wait()
		for _, r := range res {
			select {
			case err := <-r:
				t.Fatalf("a parked reader returned (%v): the naive store cannot release it", err)
			default:
			}
		}
		g.Open() // only releasing the readers unwedges it
		for _, r := range res {
			<-r
		}
		n.Wait()
	})
}

func TestRunReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := coldstore.Config{}
		nr, err := coldstore.RunNaive(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if nr.ReadsCompleted != 256 || nr.PeakInBackend != 64 || !nr.WriteAfter {
			t.Fatalf("naive capacity phase: %+v", nr)
		}
		if nr.WriteCompleted || nr.StreamStarted || nr.CloseReturned || nr.CallersReturned != 0 {
			t.Fatalf("naive did not show the wedge: %+v", nr)
		}
		sr, err := coldstore.RunSluice(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if sr.ReadsCompleted != 256 || sr.PeakInBackend != 64 || !sr.WriteAfter {
			t.Fatalf("sluice capacity phase: %+v", sr)
		}
		if !sr.WriteCompleted || sr.WriteTime > 100*time.Millisecond || !sr.StreamStarted || sr.StreamTime != 0 || sr.StreamLogs == 0 {
			t.Fatalf("sluice stuck-readers phase: %+v", sr)
		}
		if sr.DeadlineReads != 65 {
			t.Fatalf("sluice: %d stuck reads ended by deadline, want 65", sr.DeadlineReads)
		}
		if !sr.CloseReturned || sr.CloseTime != 0 || sr.CallersReturned != 65 || sr.CallersClosed != 65 || sr.Overdue != 0 {
			t.Fatalf("sluice close phase: %+v", sr)
		}
	})
}

// TestScenario runs the demo as `sluice demo coldstore` does, but in a
// synctest bubble: in real time its Guard bounds (500 ms for a write that
// needs the 100 ms read deadline) would be timing assertions that a
// loaded machine can fail. In the bubble they are exact.
func TestScenario(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := coldstore.Scenario()
		if sc.Name != "coldstore" || sc.Seed != "004" {
			t.Fatalf("scenario %q seed %q", sc.Name, sc.Seed)
		}
		res, err := sc.Run(context.Background(), demo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 || res[0].Variant != demo.Naive || res[1].Variant != demo.Sluice {
			t.Fatalf("results %+v", res)
		}
		for _, r := range res {
			t.Logf("%s: ok=%v %s\n  %s", r.Variant, r.OK, r.Verdict, r.Measured())
			if !r.OK {
				t.Errorf("%s: %s", r.Variant, r.Verdict)
			}
		}
	})
}

func TestStoreAPI(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				mem, blocks := chain()
				s := v.mk(mem)
				defer closeStore(t, s)

				b, err := s.BlockByNumber(ctx, 5)
				if err != nil || b.Number != 5 {
					t.Fatalf("BlockByNumber = %v, %v", b, err)
				}
				bh, err := s.BlockByHash(ctx, b.Hash)
				if err != nil || bh.Number != 5 {
					t.Fatalf("BlockByHash = %v, %v", bh, err)
				}
				if _, err := s.BlockByNumber(ctx, 99); !errors.Is(err, coldstore.ErrNotFound) {
					t.Fatalf("missing block: %v", err)
				}

				all, err := s.GetLogs(ctx, coldstore.Filter{From: 1, To: coldstore.Latest})
				if err != nil || len(all) != 16*2*3 {
					t.Fatalf("GetLogs all = %d logs, %v", len(all), err)
				}
				f := coldstore.Filter{From: 3, To: 8, Addresses: []coldstore.Address{"0xa2"},
					Topics: [][]coldstore.Hash{{"0xtransfer", "0xswap"}}}
				got, err := s.GetLogs(ctx, f)
				if err != nil || len(got) == 0 {
					t.Fatalf("GetLogs filtered = %v, %v", got, err)
				}
				for _, l := range got {
					if l.Block < 3 || l.Block > 8 || l.Address != "0xa2" || (l.Topics[0] != "0xtransfer" && l.Topics[0] != "0xswap") {
						t.Fatalf("log %+v does not match %v", l, f)
					}
				}
				want := 0
				for _, l := range all {
					if f.Match(l) && l.Block >= 3 && l.Block <= 8 {
						want++
					}
				}
				if len(got) != want {
					t.Fatalf("GetLogs filtered = %d logs, want %d", len(got), want)
				}
				f.Limit = len(got) - 1
				if _, err := s.GetLogs(ctx, f); !errors.Is(err, coldstore.ErrTooManyLogs) {
					t.Fatalf("over the limit: %v", err)
				}
				if _, err := s.GetLogs(ctx, coldstore.Filter{From: 5, To: 4}); err == nil {
					t.Fatal("inverted range accepted")
				}

				st, err := s.StreamLogs(ctx, coldstore.Filter{From: 15, To: coldstore.Latest})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for l := range st.C {
					if l.Block < 15 {
						t.Fatalf("streamed %+v", l)
					}
					n++
				}
				if st.Err() != nil || n != 2*2*3 {
					t.Fatalf("stream: %d logs, %v", n, st.Err())
				}

				next := coldstore.MakeChain(17, 2, 1, 1, blocks[15].Hash)
				if err := s.AppendBlocks(ctx, next); err != nil {
					t.Fatal(err)
				}
				if err := s.AppendBlocks(ctx, next); err == nil {
					t.Fatal("append that does not extend the head accepted")
				}
				if b, err := s.BlockByNumber(ctx, 18); err != nil || b.Hash != next[1].Hash {
					t.Fatalf("appended block: %v, %v", b, err)
				}
				if err := s.TruncateAbove(ctx, 10); err != nil {
					t.Fatal(err)
				}
				if _, err := s.BlockByNumber(ctx, 11); !errors.Is(err, coldstore.ErrNotFound) {
					t.Fatalf("block above truncation: %v", err)
				}
				if _, err := s.BlockByHash(ctx, blocks[12].Hash); !errors.Is(err, coldstore.ErrNotFound) {
					t.Fatalf("hash above truncation: %v", err)
				}
				// A reorg: a different block 11 on top of 10.
				if err := s.AppendBlocks(ctx, coldstore.MakeChain(11, 1, 1, 1, blocks[9].Hash)); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// A stream reads a snapshot: a write (even a truncation) during the
// stream does not change what it delivers.
func TestStreamSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem, _ := chain()
		c := coldstore.NewCold(mem)
		defer closeStore(t, c)
		st, err := c.StreamLogs(ctx, coldstore.Filter{From: 1, To: coldstore.Latest})
		if err != nil {
			t.Fatal(err)
		}
		first := <-st.C
		if err := c.TruncateAbove(ctx, 2); err != nil {
			t.Fatal(err)
		}
		n := 1
		last := first
		for l := range st.C {
			n++
			last = l
		}
		if n != 16*2*3 || last.Block != 16 {
			t.Fatalf("stream delivered %d logs ending at block %d; want the whole snapshot", n, last.Block)
		}
	})
}
