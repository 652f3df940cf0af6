package debug_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/gate"
	"github.com/sluice-go/sluice/guard"
	"github.com/sluice-go/sluice/keyed"
	"github.com/sluice-go/sluice/loop"
	"github.com/sluice-go/sluice/pool"
	"github.com/sluice-go/sluice/queue"
	"github.com/sluice-go/sluice/run"
	"github.com/sluice-go/sluice/sem"
)

// noStats has a Stats method of the wrong shape.
type noStats struct{}

func (noStats) Stats() int { return 0 }

type twoResults struct{}

func (twoResults) Stats() (struct{ N int64 }, error) { return struct{ N int64 }{}, nil }

// TestRegisterBadInput: every mistake is an error that starts with
// "debug: ", matches its sentinel with errors.Is, and registers nothing.
func TestRegisterBadInput(t *testing.T) {
	reg := debug.NewRegistry()
	s := sem.New(1)
	if err := reg.Register("taken", s); err != nil {
		t.Fatal(err)
	}
	var nilSem *sem.Semaphore
	var nilAccess guard.Access[int]
	cases := []struct {
		name    string
		regName string
		p       any
		want    error
		mention string
	}{
		{"nil", "a", nil, debug.ErrNil, "nil"},
		{"nil interface value", "a", nilAccess, debug.ErrNil, "nil"},
		{"nil pointer", "a", nilSem, debug.ErrNil, "*sem.Semaphore"},
		{"empty name", "", sem.New(1), debug.ErrEmptyName, "*sem.Semaphore"},
		{"no Stats", "a", struct{}{}, debug.ErrNoStats, "struct {}"},
		{"Stats not a struct", "a", noStats{}, debug.ErrNoStats, "noStats"},
		{"Stats two results", "a", twoResults{}, debug.ErrNoStats, "twoResults"},
		{"not a primitive at all", "a", 42, debug.ErrNoStats, "int"},
		{"same primitive twice", "other", s, debug.ErrDuplicate, `"taken"`},
		{"two under one name", "taken", sem.New(1), debug.ErrDuplicate, `"taken"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := reg.Register(tc.regName, tc.p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Register(%q, %T) = %v; want %v", tc.regName, tc.p, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "debug: ") || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q: want it to start with %q and mention %q", err, "debug: ", tc.mention)
			}
		})
	}
	if got := reg.Snapshot(); len(got) != 1 || got[0].Name != "taken" {
		t.Fatalf("after the bad calls: %+v; want only %q", got, "taken")
	}
}

// TestKinds registers one of every sluice primitive and checks Kind, that
// each has figures, and that Snapshot is sorted by name.
func TestKinds(t *testing.T) {
	ctx := context.Background()
	p := pool.New(ctx, 2)
	l := loop.New(0)
	t.Cleanup(func() {
		_ = p.Wait()
		l.Close()
		_ = l.Wait(ctx)
	})
	prims := []struct {
		kind string
		p    any
	}{
		{"sem", sem.New(2)},
		{"pool", p},
		{"queue", queue.New[string](2)},
		{"gate", gate.New()},
		{"loop", l},
		{"keyed.Mutex", &keyed.Mutex[string]{}},
		{"keyed.RWMutex", &keyed.RWMutex[int]{}},
		{"keyed.Once", &keyed.Once[string]{}},
		{"keyed.Cache", keyed.NewCache(func(context.Context, string) (int, error) { return 1, nil }, func(int) bool { return true })},
		{"run.Guard", &run.Guard{}},
		{"run.Keyed", &run.Keyed[string]{}},
		{"guard.Value", guard.New(0)},
		{"guard.RW", guard.NewRW("x")},
		{"guard.Access", guard.Serial(1)},
		{"guard.Access", guard.Concurrent(1)},
	}
	reg := debug.NewRegistry()
	// Register in reverse so the sort is Snapshot's doing.
	for i := len(prims) - 1; i >= 0; i-- {
		if err := reg.Register(fmt.Sprintf("p%02d", i), prims[i].p); err != nil {
			t.Fatalf("Register %s: %v", prims[i].kind, err)
		}
	}
	snap := reg.Snapshot()
	if len(snap) != len(prims) {
		t.Fatalf("%d entries; want %d", len(snap), len(prims))
	}
	for i, en := range snap {
		if want := fmt.Sprintf("p%02d", i); en.Name != want {
			t.Fatalf("entry %d is %q; want %q (sorted by name)", i, en.Name, want)
		}
		if en.Kind != prims[i].kind {
			t.Errorf("%s (%T): Kind %q; want %q", en.Name, prims[i].p, en.Kind, prims[i].kind)
		}
		if len(en.Figures) == 0 {
			t.Errorf("%s: no figures", en.Kind)
		}
		if en.Closed {
			t.Errorf("%s: Closed before Close", en.Kind)
		}
		if _, ok := prims[i].p.(onWaiter); ok != (en.Waits != nil) {
			t.Errorf("%s: has OnWait %v, has a wait histogram %v", en.Kind, ok, en.Waits != nil)
		}
	}
}

func figure(t *testing.T, en debug.Entry, field string) debug.Figure {
	t.Helper()
	for _, f := range en.Figures {
		if f.Field == field {
			return f
		}
	}
	t.Fatalf("%s %q has no figure %q: %+v", en.Kind, en.Name, field, en.Figures)
	return debug.Figure{}
}

func entry(t *testing.T, reg *debug.Registry, name string) debug.Entry {
	t.Helper()
	for _, en := range reg.Snapshot() {
		if en.Name == name {
			return en
		}
	}
	t.Fatalf("no entry %q", name)
	return debug.Entry{}
}

// TestFiguresFollowStats: the figures are the Stats fields, in struct
// order, with values as Stats has them now, and Closed follows Close.
func TestFiguresFollowStats(t *testing.T) {
	reg := debug.NewRegistry()
	s := sem.New(5)
	if err := reg.Register("slots", s); err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	en := entry(t, reg, "slots")
	// The first fields of sem.Stats, in order; totals may follow.
	for i, want := range []string{"Capacity", "InUse", "Waiting"} {
		if en.Figures[i].Field != want {
			t.Fatalf("figure %d is %q; want %q: %+v", i, en.Figures[i].Field, want, en.Figures)
		}
	}
	if f := figure(t, en, "Capacity"); f.Value != 5 || f.Counter || f.Seconds {
		t.Fatalf("Capacity %+v", f)
	}
	if f := figure(t, en, "InUse"); f.Value != 3 {
		t.Fatalf("InUse %+v; want 3", f)
	}
	if f := figure(t, en, "Closed"); f.Value != 0 || en.Closed {
		t.Fatalf("Closed %+v / %v before Close", f, en.Closed)
	}
	s.Release(3)
	s.Close()
	en = entry(t, reg, "slots")
	if f := figure(t, en, "InUse"); f.Value != 0 {
		t.Fatalf("InUse %+v after Release; want 0", f)
	}
	if f := figure(t, en, "Closed"); f.Value != 1 || !en.Closed {
		t.Fatalf("Closed %+v / %v after Close", f, en.Closed)
	}
}

// laned is a fake primitive with lanes, durations, counters and fields
// that are not figures.
type laned struct {
	mu sync.Mutex
	st lanedStats
}

type lanedStats struct {
	ReadInUse       int64
	ReadOldestWait  time.Duration
	WriteOldestWait time.Duration
	ReadAdmitted    int64
	TimedOut        int64
	Done            int64 // a gauge, though it sounds final
	Ratio           float64
	Count           uint32
	Label           string // skipped
	Closed          bool
	unexported      int64 // skipped
}

func (l *laned) Stats() lanedStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func TestFigureKinds(t *testing.T) {
	reg := debug.NewRegistry()
	l := &laned{st: lanedStats{ReadInUse: 2, ReadOldestWait: 1500 * time.Millisecond, WriteOldestWait: 3 * time.Second,
		ReadAdmitted: 7, TimedOut: 1, Done: 4, Ratio: 0.5, Count: 9, Label: "x", Closed: true, unexported: 1}}
	if err := reg.Register("l", l); err != nil {
		t.Fatal(err)
	}
	en := entry(t, reg, "l")
	if en.Kind != "debug_test.laned" {
		t.Errorf("Kind %q; want %q", en.Kind, "debug_test.laned")
	}
	var fields []string
	for _, f := range en.Figures {
		fields = append(fields, f.Field)
	}
	if got, want := strings.Join(fields, " "), "ReadInUse ReadOldestWait WriteOldestWait ReadAdmitted TimedOut Done Ratio Count Closed"; got != want {
		t.Fatalf("fields %q; want %q", got, want)
	}
	want := map[string]debug.Figure{
		"ReadInUse":       {Field: "ReadInUse", Value: 2},
		"ReadOldestWait":  {Field: "ReadOldestWait", Value: 1.5, Seconds: true},
		"WriteOldestWait": {Field: "WriteOldestWait", Value: 3, Seconds: true},
		"ReadAdmitted":    {Field: "ReadAdmitted", Value: 7, Counter: true},
		"TimedOut":        {Field: "TimedOut", Value: 1, Counter: true},
		"Done":            {Field: "Done", Value: 4},
		"Ratio":           {Field: "Ratio", Value: 0.5},
		"Count":           {Field: "Count", Value: 9},
		"Closed":          {Field: "Closed", Value: 1},
	}
	for _, f := range en.Figures {
		if f != want[f.Field] {
			t.Errorf("figure %+v; want %+v", f, want[f.Field])
		}
	}
	if en.OldestWait != 3*time.Second {
		t.Errorf("OldestWait %v; want the largest lane's, 3s", en.OldestWait)
	}
	if !en.Closed {
		t.Error("Closed false; want true")
	}
	if en.Waits != nil {
		t.Error("Waits set for a type without OnWait")
	}
}

// TestUnregister removes the entry; the name and the primitive can then be
// registered again.
func TestUnregister(t *testing.T) {
	reg := debug.NewRegistry()
	s := sem.New(1)
	if err := reg.Register("a", s); err != nil {
		t.Fatal(err)
	}
	if !reg.Unregister("a") {
		t.Fatal("Unregister of a registered name: false")
	}
	if reg.Unregister("a") {
		t.Fatal("second Unregister: true")
	}
	if reg.Unregister("never") {
		t.Fatal("Unregister of an unknown name: true")
	}
	if n := len(reg.Snapshot()); n != 0 {
		t.Fatalf("%d entries after Unregister", n)
	}
	if err := reg.Register("b", s); err != nil {
		t.Fatalf("the primitive again, under another name: %v", err)
	}
	if err := reg.Register("a", sem.New(1)); err != nil {
		t.Fatalf("the name again: %v", err)
	}
}

// TestConcurrentRegistry registers, unregisters, records and snapshots
// from many goroutines at once (run it with -race).
func TestConcurrentRegistry(t *testing.T) {
	reg := debug.NewRegistry()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("g%d-%d", g, i)
				if err := reg.Register(name, sem.New(1)); err != nil {
					t.Error(err)
					return
				}
				reg.Record(name, debug.Event{Kind: "test", Message: name})
				_ = reg.Snapshot()
				if i%2 == 0 && !reg.Unregister(name) {
					t.Errorf("Unregister(%q) false", name)
				}
			}
		})
	}
	wg.Wait()
	if n := len(reg.Snapshot()); n != 8*25 {
		t.Fatalf("%d entries; want %d", n, 8*25)
	}
}

// Two registries are independent: the same primitive may be in both.
func TestTwoRegistries(t *testing.T) {
	s := sem.New(1)
	a, b := debug.NewRegistry(), debug.NewRegistry()
	if err := a.Register("s", s); err != nil {
		t.Fatal(err)
	}
	if err := b.Register("s", s); err != nil {
		t.Fatal(err)
	}
}
