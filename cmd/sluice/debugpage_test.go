package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/demo"
	"github.com/sluice-go/sluice/sem"
)

// client makes one connection per request, so no idle connection (and
// its goroutines) outlives a test.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func get(t *testing.T, url string) (status int, contentType, body string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// urlIn returns the URL of the first "debug page: URL" line of stderr.
func urlIn(t *testing.T, stderr string) string {
	t.Helper()
	first, _, _ := strings.Cut(stderr, "\n")
	url, ok := strings.CutPrefix(first, "debug page: ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/") {
		t.Fatalf("stderr starts %q; want \"debug page: http://127.0.0.1:PORT/\"", first)
	}
	return url
}

// registering is a scenario that registers a semaphore in opt.Registry,
// holds one of its permits, and calls during with the registry, before
// it returns.
func registering(during func(reg *debug.Registry)) demo.Scenario {
	s := fake("reg", true, true, nil)
	inner := s.Run
	s.Run = func(ctx context.Context, opt demo.Options) ([]demo.Result, error) {
		slots := sem.New(3)
		if err := demo.Register(opt.Registry, "reg/slots", slots); err != nil {
			return nil, err
		}
		if err := slots.Acquire(ctx, 1); err != nil {
			return nil, err
		}
		during(opt.Registry)
		slots.Release(1)
		return inner(ctx, opt)
	}
	return s
}

// -debug serves the page while the scenarios run, on the address it
// printed, and stops serving when they end.
func TestDemoDebugServesWhileRunning(t *testing.T) {
	var o, e bytes.Buffer
	var url string
	served := false
	s := registering(func(reg *debug.Registry) {
		// runDemos calls Run on the goroutine that wrote stderr: the URL
		// line is there.
		url = urlIn(t, e.String())
		if reg == nil {
			t.Error("Run got no registry with -debug")
			return
		}
		status, ctype, body := get(t, url)
		if status != http.StatusOK || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, "<title>sluice debug</title>") {
			t.Errorf("GET %s: %d %s\n%.300s", url, status, ctype, body)
		}
		status, ctype, body = get(t, url+"?format=json")
		if status != http.StatusOK || !strings.HasPrefix(ctype, "application/json") ||
			!strings.Contains(body, `"Name":"reg/slots"`) || !strings.Contains(body, `"Kind":"sem"`) ||
			!strings.Contains(body, `{"Field":"InUse","Value":1`) {
			t.Errorf("GET %s?format=json: %d %s\n%s", url, status, ctype, body)
		}
		if status, _, _ := get(t, url+"favicon.ico"); status != http.StatusNotFound {
			t.Errorf("GET %sfavicon.ico: %d; want 404 (the page is at / only)", url, status)
		}
		served = true
	})
	code := run(context.Background(), []string{"demo", "-debug", "127.0.0.1:0"}, &o, &e, []demo.Scenario{s})
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, o.String(), e.String())
	}
	if !served {
		t.Fatal("the scenario did not run")
	}
	if want := "debug page: " + url + "\nrunning reg (1/1)...\n"; e.String() != want {
		t.Errorf("stderr = %q; want %q", e.String(), want)
	}
	if !strings.Contains(o.String(), "every sluice variant passed") {
		t.Errorf("stdout:\n%s", o.String())
	}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after the demo ended", url)
	}
}

// Without -debug, a scenario gets no registry and nothing is served.
func TestDemoWithoutDebugHasNoRegistry(t *testing.T) {
	var o, e bytes.Buffer
	s := registering(func(reg *debug.Registry) {
		if reg != nil {
			t.Error("Run got a registry without -debug")
		}
	})
	if code := run(context.Background(), []string{"demo"}, &o, &e, []demo.Scenario{s}); code != 0 {
		t.Fatalf("exit %d\n%s", code, e.String())
	}
	if strings.Contains(e.String(), "debug page") {
		t.Errorf("stderr mentions a debug page: %q", e.String())
	}
}

// -debug-wait keeps the page up after the scenarios end, until the
// context ends (an interrupt, in main).
func TestDemoDebugWaitServesUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	errLines := newLines()
	read := make(chan struct{})
	go func() { defer close(read); errLines.readFrom(pr) }()
	var o bytes.Buffer
	exit := make(chan int, 1)
	s := registering(func(*debug.Registry) {})
	go func() {
		exit <- run(ctx, []string{"demo", "-debug", "127.0.0.1:0", "-debug-wait"}, &o, pw, []demo.Scenario{s})
	}()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	line, err := errLines.waitFor(wctx, func(l string) bool { return strings.HasPrefix(l, "debug page: the scenarios have ended") })
	if err != nil {
		t.Fatalf("no \"still serving\" line: %v\n%s", err, errLines)
	}
	url := urlIn(t, errLines.String())
	if !strings.Contains(line, "still serving "+url+" until interrupted") {
		t.Errorf("line %q does not say it still serves %s until interrupted", line, url)
	}
	status, _, body := get(t, url+"?format=json")
	if status != http.StatusOK || !strings.Contains(body, `"Name":"reg/slots"`) || !strings.Contains(body, `{"Field":"InUse","Value":0`) {
		t.Errorf("after the scenarios: GET %s?format=json: %d\n%s", url, status, body)
	}
	select {
	case code := <-exit:
		t.Fatalf("run returned %d before the interrupt", code)
	default:
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after the interrupt; want the demo's 0\n%s", code, errLines)
	}
	pw.Close()
	<-read
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after the interrupt", url)
	}
}

func TestDemoDebugRefusesNonLoopback(t *testing.T) {
	all := []demo.Scenario{registering(func(*debug.Registry) { panic("a scenario ran") })}
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080", "example.com:8080"} {
		code, out, errOut := runArgs(all, "demo", "-debug", addr)
		if code != 2 || out != "" || !strings.Contains(errOut, "-debug "+addr+": not a loopback address") ||
			!strings.Contains(errOut, "127.0.0.1:PORT") || !strings.Contains(errOut, "-debug-remote") {
			t.Errorf("-debug %s: exit %d, stdout %q, stderr %q; want 2 and the reason", addr, code, out, errOut)
		}
	}
}

// -debug-remote lets a non-loopback address through (listened on here as
// [::]:0 or 0.0.0.0:0 only if the test can; the check is what matters).
func TestDemoDebugRemoteAllowsAnyHost(t *testing.T) {
	reg := debug.NewRegistry()
	d, err := startDebug("0.0.0.0:0", true, reg)
	if err != nil {
		t.Skipf("cannot listen on 0.0.0.0 here: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := startDebug("0.0.0.0:0", false, reg); !errors.Is(err, errNotLoopback) {
		t.Fatalf("startDebug(0.0.0.0:0) without remote: %v; want errNotLoopback", err)
	}
}

func TestCheckDebugAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1:0", true},
		{"127.3.2.1:1", true},
		{"[::1]:8080", true},
		{"localhost:0", true},
		{":8080", false},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:80", false},
		{"host.example:80", false},
	} {
		if err := checkDebugAddr(c.addr); (err == nil) != c.ok || (err != nil && !errors.Is(err, errNotLoopback)) {
			t.Errorf("checkDebugAddr(%q) = %v; want ok %v", c.addr, err, c.ok)
		}
	}
	if err := checkDebugAddr("127.0.0.1"); err == nil || errors.Is(err, errNotLoopback) {
		t.Errorf("checkDebugAddr without a port = %v; want a parse error", err)
	}
}

func TestDemoDebugUsageErrors(t *testing.T) {
	all := []demo.Scenario{fake("a", true, true, nil)}
	for _, args := range [][]string{
		{"demo", "-debug-wait"},
		{"demo", "-debug-remote", "a"},
		{"demo", "-nope"},
		{"demo", "-debug"},
		{"demo", "-debug", "127.0.0.1"},
	} {
		code, out, errOut := runArgs(all, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "sluice demo: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a message", args, code, out, errOut)
		}
	}
	// An address it cannot listen on: in use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errOut := runArgs(all, "demo", "-debug", ln.Addr().String())
	if code != 2 || !strings.Contains(errOut, "sluice demo: -debug "+ln.Addr().String()+": listen tcp") {
		t.Errorf("-debug on a port in use: exit %d, stderr %q", code, errOut)
	}
	// -h is help, on stdout.
	code, out, _ := runArgs(all, "demo", "-h")
	if code != 0 || !strings.Contains(out, "-debug ADDR") || !strings.Contains(out, "-debug-wait") ||
		!strings.Contains(out, "-debug-remote") || !strings.Contains(out, "a fake a") {
		t.Errorf("demo -h: exit %d, stdout %q", code, out)
	}
	// The flags are in the command's help too.
	if code, out, _ := runArgs(all, "help"); code != 0 || !strings.Contains(out, "-debug ADDR") || !strings.Contains(out, "loopback") {
		t.Errorf("help: exit %d, stdout %q", code, out)
	}
}
