package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A minimal client of the Chrome DevTools protocol over
// --remote-debugging-pipe: the browser reads commands from its fd 3 and
// writes replies and events to its fd 4, each message JSON ended by a NUL
// byte. No websocket and no dependency: the few commands a test needs
// (open a page, navigate, evaluate, screenshot) are plain JSON.

// browser is a headless Chromium started by startBrowser.
type browser struct {
	cmd  *exec.Cmd
	w    *os.File // commands, the browser's fd 3
	r    *os.File // replies and events, the browser's fd 4
	log  string   // the browser's stderr, for failures
	read chan struct{}

	wmu sync.Mutex // one message on the pipe at a time

	mu      sync.Mutex
	next    int
	pending map[int]chan cdpReply
	readErr error
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// chromiumPath returns the browser the test drives: $SLUICE_CHROMIUM, or
// chromium (Debian's package) or chromium-browser on PATH. Without one the
// test is skipped, unless SLUICE_BROWSER_TESTS=1 (.ci/run sets it), which
// makes it fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const how = "no Chromium found (set SLUICE_CHROMIUM, or install Debian's package: apt-get install -y --no-install-recommends chromium)"
	if os.Getenv("SLUICE_BROWSER_TESTS") == "1" {
		t.Fatal(how + "; SLUICE_BROWSER_TESTS=1 asks for the browser tests")
	}
	t.Skip(how + "; SLUICE_BROWSER_TESTS=1 makes this a failure")
	return ""
}

// startBrowser starts a headless Chromium with a profile of its own under
// dir and returns once it answers. Cleanup closes it.
func startBrowser(t *testing.T, path, dir string) *browser {
	t.Helper()
	toBrowser, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r, fromBrowser, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	profile, err := os.MkdirTemp("", "sluice-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path,
		"--headless=new",
		"--no-sandbox", // tests run as root in containers; the page is our own
		"--disable-gpu",
		"--disable-dev-shm-usage",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-extensions",
		"--disable-background-networking",
		"--hide-scrollbars",
		"--force-device-scale-factor=1",
		"--user-data-dir="+profile,
		"--remote-debugging-pipe",
		"about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, fromBrowser} // fd 3, fd 4
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	toBrowser.Close()
	fromBrowser.Close()
	logFile.Close()
	b := &browser{cmd: cmd, w: w, r: r, log: logPath, read: make(chan struct{}), pending: map[int]chan cdpReply{}}
	go b.readLoop()
	t.Cleanup(func() {
		b.close(t)
		os.RemoveAll(profile)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var v struct {
		Product string `json:"product"`
	}
	if err := b.call(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		t.Fatalf("Chromium did not answer: %v\n%s", err, b.logTail())
	}
	t.Logf("browser: %s (%s)", v.Product, path)
	return b
}

// readLoop delivers each reply to its caller; events are dropped. It ends
// when the pipe closes (the browser exited, or close closed it).
func (b *browser) readLoop() {
	defer close(b.read)
	br := bufio.NewReaderSize(b.r, 1<<20)
	var err error
	for {
		var msg []byte
		msg, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
	b.mu.Lock()
	b.readErr = fmt.Errorf("browser pipe: %w", err)
	for id, ch := range b.pending {
		delete(b.pending, id)
		close(ch)
	}
	b.mu.Unlock()
}

// call sends method with params (to the page attached as session, or to
// the browser when session is "") and decodes the reply's result into out.
func (b *browser) call(ctx context.Context, session, method string, params, out any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return b.readErr
	}
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	b.wmu.Lock()
	_, err = b.w.Write(append(data, 0))
	b.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			b.mu.Lock()
			defer b.mu.Unlock()
			return fmt.Errorf("%s: %w", method, b.readErr)
		}
		if rep.Error != nil {
			return fmt.Errorf("%s: %s (code %d)", method, rep.Error.Message, rep.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(rep.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// close asks the browser to exit, kills it if it does not within 10 s,
// and waits for it and for readLoop.
func (b *browser) close(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	kill := time.NewTimer(10 * time.Second)
	defer kill.Stop()
	select {
	case <-exited:
	case <-kill.C:
		t.Logf("Chromium did not exit after Browser.close; killing it")
		_ = b.cmd.Process.Kill()
		<-exited
	}
	b.w.Close()
	b.r.Close() // a child process may hold fd 4 open: end readLoop anyway
	<-b.read
}

func (b *browser) logTail() string {
	data, _ := os.ReadFile(b.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return "chromium's log (" + b.log + "):\n" + string(data)
}

// page is one tab, attached with its own session.
type page struct {
	b       *browser
	session string
}

// newPage opens a blank tab of the given viewport size.
func (b *browser) newPage(ctx context.Context, width, height int) (*page, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return nil, err
	}
	p := &page{b: b, session: att.SessionID}
	return p, b.call(ctx, p.session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
}

func (p *page) navigate(ctx context.Context, url string) error {
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("Page.navigate %s: %s", url, nav.ErrorText)
	}
	return nil
}

// eval evaluates a JavaScript expression in the page and decodes its
// value (JSON-able) into out.
func (p *page) eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		msg := e.Text
		if e.Exception != nil {
			msg += ": " + e.Exception.Description
		}
		return errors.New("Runtime.evaluate: " + msg)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// screenshot writes the page's content as a PNG: all of it, wider or
// taller than the viewport, and no blank viewport below it.
func (p *page) screenshot(ctx context.Context, path string) error {
	var size struct {
		W float64 `json:"w"`
		H float64 `json:"h"`
	}
	const measure = `({w: document.documentElement.scrollWidth, h: Math.ceil(document.body.getBoundingClientRect().bottom + window.scrollY)})`
	if err := p.eval(ctx, measure, &size); err != nil {
		return err
	}
	var shot struct {
		Data string `json:"data"`
	}
	if err := p.b.call(ctx, p.session, "Page.captureScreenshot", map[string]any{
		"format":                "png",
		"captureBeyondViewport": true,
		"clip":                  map[string]any{"x": 0, "y": 0, "width": size.W, "height": size.H, "scale": 1},
	}, &shot); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
