package loop

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/conctest"
)

func TestWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reports := make(chan Slow, 10)
		l := newLoop(counter{}, WithSlowThreshold(100*time.Millisecond), WithSlowHook(func(s Slow) { reports <- s }))

		// Fast handlers are not reported, however many.
		for range 1000 {
			l.Do(ctx, func(s *counter) { s.n++ })
		}
		// A handler that blocks the loop: reported at 100 ms, again at 200.
		g := conctest.NewTurnstile()
		done := make(chan error, 1)
		go func() { done <- l.DoNamed(ctx, "fetchScores", func(*counter) { blockingCall(ctx, g) }) }()
		r := <-reports
		if r.Name != "fetchScores" || r.Running != 100*time.Millisecond || r.Report != 1 {
			t.Fatalf("first report = %+v", r)
		}
		if !strings.Contains(r.Stack, "loop.blockingCall") || !strings.Contains(r.Stack, "conctest.(*Turnstile).Pass") {
			t.Fatalf("report's stack does not show the blocking call:\n%s", r.Stack)
		}
		r = <-reports
		if r.Running != 200*time.Millisecond || r.Report != 2 {
			t.Fatalf("second report = %+v", r)
		}
		g.Open()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Unnamed handlers are named by their function and position.
		g2 := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { blockingCall(ctx, g2) })
		r = <-reports
		if !strings.Contains(r.Name, "loop.TestWatchdog.func") || !strings.Contains(r.Name, "watchdog_test.go:") {
			t.Fatalf("unnamed handler reported as %q", r.Name)
		}
		g2.Open()
		// An Offload result is named after its then function.
		Offload(ctx, l, func(context.Context) (int, error) { return 1, nil }, slowThen(g2))
		g3 := conctest.NewTurnstile()
		Offload(ctx, l, func(context.Context) (int, error) { return 1, nil }, slowThen(g3))
		r = <-reports
		if !strings.Contains(r.Name, "slowThen") {
			t.Fatalf("Offload result reported as %q", r.Name)
		}
		g3.Open()
		synctest.Wait()

		// Idle and then busy with fast handlers again: silence.
		idle := time.NewTimer(time.Second)
		<-idle.C
		for range 100 {
			l.Do(ctx, func(s *counter) { s.n++ })
		}
		idle.Reset(time.Second)
		<-idle.C
		if len(reports) != 0 {
			t.Fatalf("unexpected report %+v", <-reports)
		}
		if got := l.Stats().SlowReports; got != 4 {
			t.Fatalf("SlowReports = %d, want 4", got)
		}
		closeAndWait(t, l)
	})
}

//go:noinline
func blockingCall(ctx context.Context, g *conctest.Turnstile) { g.Pass(ctx) }

func slowThen(g *conctest.Turnstile) func(*counter, int, error) {
	return func(*counter, int, error) { g.Pass(context.Background()) }
}

// A handler still slow during Close is still reported, and Wait waits.
func TestWatchdogDuringClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reports := make(chan Slow, 10)
		l := newLoop(counter{}, WithSlowThreshold(time.Second), WithSlowHook(func(s Slow) { reports <- s }))
		g := conctest.NewTurnstile()
		l.Post(ctx, func(*counter) { g.Pass(ctx) })
		g.WaitEntered(ctx, 1)
		l.Close()
		r := <-reports
		if r.Running != time.Second {
			t.Fatalf("report = %+v", r)
		}
		g.Open()
		closeAndWait(t, l)
	})
}

// recorder is a slog.Handler that hands every record to a channel.
type recorder chan slog.Record

func (r recorder) Enabled(context.Context, slog.Level) bool        { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error { r <- rec; return nil }
func (r recorder) WithAttrs([]slog.Attr) slog.Handler              { return r }
func (r recorder) WithGroup(string) slog.Handler                   { return r }

// Without a slow hook, the watchdog's reports go to the WithLogger logger.
func TestWithLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		logs := make(recorder, 10)
		l := New(counter{}, WithSlowThreshold(time.Second), WithLogger(slog.New(logs)))
		g := conctest.NewTurnstile()
		done := make(chan error, 1)
		go func() { done <- l.DoNamed(ctx, "fetchScores", func(*counter) { blockingCall(ctx, g) }) }()
		rec := <-logs
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if rec.Level != slog.LevelWarn || rec.Message != "loop: slow handler blocks the loop" ||
			attrs["handler"] != "fetchScores" || attrs["running"] != "1s" || !strings.Contains(attrs["stack"], "loop.blockingCall") {
			t.Fatalf("logged %v %q %v", rec.Level, rec.Message, attrs)
		}
		g.Open()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		closeAndWait(t, l)
	})
}
