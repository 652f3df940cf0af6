package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The debug page as a person sees it: the real command, built without
// -race (as TestDemoRealOutput builds it, so the figures are the
// scenarios' own), `sluice demo -debug 127.0.0.1:0 -debug-wait` over every
// scenario, and the page it prints loaded in a real headless Chromium while
// the scenarios run. Through the DOM the page builds, it checks that the
// primitives appear as the scenarios register them, that a figure changes
// between two reads (the page refreshes itself), and that the page ends up
// showing exactly what the JSON says; then that an interrupt stops the
// command and its server. Screenshots go to the test's output directory
// ($SLUICE_TEST_OUT/<test>, or a temporary one) and their paths to the log.
func TestDebugPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	if testing.Short() && os.Getenv("SLUICE_BROWSER_TESTS") != "1" {
		t.Skip("runs every scenario for real, with a browser (about 15 s)")
	}
	start := time.Now()
	out := testOutDir(t)
	bin := buildSluice(t) // vet_test.go's: without -race
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	b := startBrowser(t, chromium, out)
	pg, err := b.newPage(ctx, 1680, 1000)
	if err != nil {
		t.Fatalf("opening a tab: %v\n%s", err, b.logTail())
	}

	cmd := startDemo(t, bin, "demo", "-debug", "127.0.0.1:0", "-debug-wait")
	line, err := cmd.stderr.waitFor(ctx, func(l string) bool { return strings.HasPrefix(l, "debug page: ") })
	if err != nil {
		t.Fatalf("no \"debug page: URL\" line on stderr: %v\n%s", err, cmd.stderr)
	}
	url := strings.TrimPrefix(line, "debug page: ")
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/") {
		t.Fatalf("debug page URL %q; want http://127.0.0.1:PORT/", url)
	}
	if err := pg.navigate(ctx, url); err != nil {
		t.Fatal(err)
	}

	// While the scenarios run: read the DOM every 100 ms, note the first
	// figure that changed between two reads, and take a screenshot of the
	// first moment each scenario has a primitive with waiters or events.
	ended := func(l string) bool { return strings.HasPrefix(l, "debug page: the scenarios have ended") }
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var prev, cur domState
	var change string
	reads, seen, shots := 0, map[string]string{}, map[string]bool{}
	for !cmd.stderr.has(ended) {
		select {
		case <-tick.C:
		case <-cmd.exited:
			t.Fatalf("sluice demo exited (%v) before the scenarios ended\nstderr:\n%s\nstdout:\n%s", cmd.err, cmd.stderr, cmd.stdout)
		case <-ctx.Done():
			t.Fatalf("the scenarios did not end: %v\nstderr:\n%s", ctx.Err(), cmd.stderr)
		}
		if cur, err = readDOM(ctx, pg); err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		reads++
		if change == "" && reads > 1 {
			change = changed(prev, cur)
		}
		for _, r := range cur.Rows {
			seen[r.Name] = r.Kind
			scenario, _, _ := strings.Cut(r.Name, "/")
			if (r.Waiting || r.Events > 0) && !shots[scenario] {
				shots[scenario] = true
				path := filepath.Join(out, "debug-"+scenario+".png")
				if err := pg.screenshot(ctx, path); err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				t.Logf("screenshot while %s has waiters or events: %s", r.Name, path)
			}
		}
		prev = cur
	}
	runRefreshes := cur.Refreshes
	t.Logf("%d reads of the page while the scenarios ran, %d refreshes, %d rows seen", reads, runRefreshes, len(seen))
	if len(seen) == 0 {
		t.Errorf("no row appeared on the page while the scenarios ran")
	}
	if change == "" {
		t.Errorf("no figure changed between two reads of the page while the scenarios ran (%d reads, %d refreshes)", reads, runRefreshes)
	} else {
		t.Logf("a figure changed between two reads: %s", change)
	}
	if runRefreshes < 2 {
		t.Errorf("the page refreshed itself %d times while the scenarios ran; want 2 or more", runRefreshes)
	}

	// The scenarios have ended and the page is still served (-debug-wait):
	// once it has refreshed after the end, it shows what the JSON shows.
	for cur.Refreshes < runRefreshes+2 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the page stopped refreshing after the scenarios ended (%d refreshes): %v", cur.Refreshes, ctx.Err())
		}
		if cur, err = readDOM(ctx, pg); err != nil {
			t.Fatalf("reading the page: %v", err)
		}
	}
	if cur.Status != "ok" {
		t.Errorf("page status %q; want ok", cur.Status)
	}
	entries := getJSON(t, url+"?format=json")
	var domRows, jsonRows []string
	for _, r := range cur.Rows {
		domRows = append(domRows, r.Name+" ("+r.Kind+")")
	}
	for _, e := range entries {
		jsonRows = append(jsonRows, e.Name+" ("+e.Kind+")")
	}
	if !slices.Equal(domRows, jsonRows) {
		t.Errorf("the page's rows:\n\t%s\nwant the JSON's entries:\n\t%s", strings.Join(domRows, "\n\t"), strings.Join(jsonRows, "\n\t"))
	}
	want := map[string]string{
		"sharedconn/websocket":           "guard.Access",
		"sharedconn/btc client":          "guard.Access",
		"peerstreams/stream setup":       "keyed.Once",
		"recovery/slots":                 "sem",
		"recovery/validations":           "run.Guard",
		"eventloop/scores (naive)":       "loop",
		"eventloop/scores":               "loop",
		"coldstore/gate (capacity)":      "gate",
		"coldstore/gate (stuck readers)": "gate",
		"coldstore/gate (close)":         "gate",
	}
	rows := map[string]domRow{}
	for _, r := range cur.Rows {
		rows[r.Name] = r
	}
	for name, kind := range want {
		if r, ok := rows[name]; !ok || r.Kind != kind {
			t.Errorf("the page has no %s row %q (rows: %s)", kind, name, strings.Join(domRows, ", "))
		}
	}
	if r := rows["recovery/slots"]; r.Fields["Capacity"] != "10" {
		t.Errorf("recovery/slots shows capacity %q; want 10 (fields %v)", r.Fields["Capacity"], r.Fields)
	}
	// The naive handlers block the loop: its watchdog's reports are the
	// row's events, each with the loop goroutine's stack.
	if r := rows["eventloop/scores (naive)"]; r.Events == 0 || !strings.Contains(r.Stack, "eventloop") {
		t.Errorf("eventloop/scores (naive) shows %d events, stack %q; want the watchdog's reports with a stack in package eventloop", r.Events, r.Stack)
	}
	final := filepath.Join(out, "debug-end.png")
	if err := pg.screenshot(ctx, final); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot after the scenarios: %s", final)

	// An interrupt ends -debug-wait: the command exits with the demo's
	// status and its server is gone.
	code := cmd.interrupt(t)
	if code != 0 && code != 1 {
		t.Fatalf("sluice demo -debug exited %d after an interrupt; want the demo's 0 or 1\nstderr:\n%s", code, cmd.stderr)
	}
	if code == 1 {
		t.Logf("a sluice variant failed a check on this machine (exit 1; the demo packages' tests judge that):\n%s", cmd.stderr)
	} else if !strings.Contains(cmd.stdout.String(), "every sluice variant passed") {
		t.Errorf("exit 0 without the summary line; stdout:\n%s", cmd.stdout.String())
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("the debug page still answers after the command exited")
	}
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

// testOutDir is where a test keeps what it makes for a person to look at:
// $SLUICE_TEST_OUT/<test name> when set, else a temporary directory.
func testOutDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SLUICE_TEST_OUT")
	if base == "" {
		return t.TempDir()
	}
	dir, err := filepath.Abs(filepath.Join(base, t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// domState is what readDOM reads of the page.
type domState struct {
	Refreshes int      `json:"refreshes"` // body's data-refreshes: refreshes done
	Status    string   `json:"status"`    // #status's data-state
	Rows      []domRow `json:"rows"`
}

type domRow struct {
	Name, Kind string
	Waiting    bool              // the row's class "waiting"
	Closed     bool              // the row's class "closed"
	Events     int               // the events cell's data-count
	Stack      string            // the first event stack shown, if any
	Fields     map[string]string // data-field -> data-value, cells and figures
}

// readDOMScript collects, from the DOM the page's script built, each row
// of the table and the value of every figure (data-value on each cell of
// the fixed columns and on each figure of "other figures").
const readDOMScript = `(() => {
  const rows = [...document.querySelectorAll("#primitives tbody tr")].map(tr => {
    const f = {};
    for (const td of tr.querySelectorAll(":scope > td[data-field]")) {
      if (td.hasAttribute("data-value")) f[td.getAttribute("data-field")] = td.getAttribute("data-value");
    }
    for (const s of tr.querySelectorAll("span.fig[data-field]")) {
      const v = s.querySelector("[data-value]");
      if (v) f[s.getAttribute("data-field")] = v.getAttribute("data-value");
    }
    const ev = tr.querySelector("td[data-field=Events]");
    const stack = tr.querySelector("details.stack pre");
    return {
      Name: tr.getAttribute("data-name"), Kind: tr.getAttribute("data-kind"),
      Waiting: tr.classList.contains("waiting"), Closed: tr.classList.contains("closed"),
      Events: Number(ev && ev.getAttribute("data-count") || 0),
      Stack: stack ? stack.textContent : "", Fields: f,
    };
  });
  const st = document.getElementById("status");
  return {refreshes: Number(document.body.getAttribute("data-refreshes") || 0), status: st ? st.getAttribute("data-state") : "", rows};
})()`

func readDOM(ctx context.Context, pg *page) (domState, error) {
	var s domState
	err := pg.eval(ctx, readDOMScript, &s)
	return s, err
}

// changed names the first figure that differs between two reads of the
// page, in a row both show, or returns "".
func changed(prev, cur domState) string {
	before := map[string]domRow{}
	for _, r := range prev.Rows {
		before[r.Name] = r
	}
	for _, r := range cur.Rows {
		p, ok := before[r.Name]
		if !ok {
			continue
		}
		fields := make([]string, 0, len(r.Fields))
		for f := range r.Fields {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		for _, f := range fields {
			if old, ok := p.Fields[f]; ok && old != r.Fields[f] {
				return fmt.Sprintf("%s %s %s -> %s", r.Name, f, old, r.Fields[f])
			}
		}
	}
	return ""
}

// getJSON reads the page's JSON: the entries' names and kinds.
func getJSON(t *testing.T, url string) []struct{ Name, Kind string } {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var entries []struct{ Name, Kind string }
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return entries
}

// demoCmd is the sluice command running in a process of its own.
type demoCmd struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *lines
	exited chan struct{} // closed once cmd.Wait has returned
	err    error         // cmd.Wait's, once exited is closed
}

func startDemo(t *testing.T, bin string, args ...string) *demoCmd {
	t.Helper()
	d := &demoCmd{cmd: exec.Command(bin, args...), stdout: new(bytes.Buffer), stderr: newLines(), exited: make(chan struct{})}
	d.cmd.Stdout = d.stdout
	pipe, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.exited)
		d.stderr.readFrom(pipe) // to EOF: then Wait may close the pipe
		d.err = d.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d
}

// interrupt sends os.Interrupt and returns the exit code; it kills the
// process if it has not exited 30 s later.
func (d *demoCmd) interrupt(t *testing.T) int {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-d.exited:
	case <-timer.C:
		_ = d.cmd.Process.Kill()
		<-d.exited
		t.Fatalf("sluice demo -debug-wait did not exit within 30 s of an interrupt\nstderr:\n%s", d.stderr)
	}
	var ee *exec.ExitError
	switch {
	case d.err == nil:
		return 0
	case errors.As(d.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("sluice demo: %v", d.err)
	return -1
}

// lines collects a stream's lines and lets a test wait for one.
type lines struct {
	mu      sync.Mutex
	all     []string
	done    bool
	changed chan struct{} // closed and replaced at each line, and at EOF
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) readFrom(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.done = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *lines) has(match func(string) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.all, match)
}

// waitFor returns the first line that matches, once there is one.
func (l *lines) waitFor(ctx context.Context, match func(string) bool) (string, error) {
	for {
		l.mu.Lock()
		i := slices.IndexFunc(l.all, match)
		var found string
		if i >= 0 {
			found = l.all[i]
		}
		done, ch := l.done, l.changed
		l.mu.Unlock()
		switch {
		case i >= 0:
			return found, nil
		case done:
			return "", errors.New("the stream ended")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}
