package debug_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-go/sluice/conctest"
	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/sem"
)

func serve(t *testing.T, reg *debug.Registry) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(reg.Handler()) // listens on 127.0.0.1
	t.Cleanup(func() {
		srv.Client().CloseIdleConnections()
		srv.Close()
	})
	return srv
}

func do(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHandlerJSON(t *testing.T) {
	reg := debug.NewRegistry()
	s := sem.New(4)
	if err := reg.Register("slots", s); err != nil {
		t.Fatal(err)
	}
	reg.Record("slots", debug.Event{Kind: "note", Message: "</script><b>x</b>", Stack: "goroutine 1"})
	srv := serve(t, reg)
	if err := s.Acquire(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, srv, http.MethodGet, "/?format=json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	var got []debug.Entry
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	if len(got) != 1 || got[0].Name != "slots" || got[0].Kind != "sem" {
		t.Fatalf("entries %+v", got)
	}
	if f := figure(t, got[0], "InUse"); f.Value != 3 {
		t.Fatalf("InUse %v; want 3", f.Value)
	}
	if len(got[0].Events) != 1 || got[0].Events[0].Message != "</script><b>x</b>" {
		t.Fatalf("events %+v", got[0].Events)
	}
	// Mounted under a prefix, the handler answers the same.
	mux := http.NewServeMux()
	mux.Handle("/debug/sluice/", http.StripPrefix("/debug/sluice", reg.Handler()))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/sluice/?format=json", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"Name":"slots"`) {
		t.Fatalf("under a prefix: %d %s", rec.Code, rec.Body)
	}
}

// TestHandlerPage: the page is self-contained (no external asset, a CSP
// that allows only its own inline style and script, by hash), carries the
// current snapshot, and escapes it.
func TestHandlerPage(t *testing.T) {
	reg := debug.NewRegistry()
	if err := reg.Register("slots", sem.New(4)); err != nil {
		t.Fatal(err)
	}
	reg.Record("slots", debug.Event{Kind: "note", Message: "</script><script>alert(1)</script>"})
	srv := serve(t, reg)
	for _, path := range []string{"/", "/?format=html", "/any/path"} {
		resp, body := do(t, srv, http.MethodGet, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("%s: Content-Type %q", path, ct)
		}
		if !strings.HasPrefix(body, "<!DOCTYPE html>") || !strings.Contains(body, `<table id="primitives">`) {
			t.Fatalf("%s: not the page:\n%s", path, body)
		}
		if strings.Contains(body, "<script>alert(1)") {
			t.Fatalf("%s: event text reached the page unescaped", path)
		}
		if !strings.Contains(body, `"Name":"slots"`) {
			t.Fatalf("%s: page lacks the initial snapshot", path)
		}
		if regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).MatchString(body) || strings.Contains(body, "@import") {
			t.Fatalf("%s: page loads an external asset", path)
		}
		if !strings.Contains(body, `fetch("?format=json"`) {
			t.Fatalf("%s: page does not refresh from ?format=json", path)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, part := range regexp.MustCompile(`(?s)<(script|style)>(.*?)</(?:script|style)>`).FindAllStringSubmatch(body, -1) {
			sum := sha256.Sum256([]byte(part[2]))
			if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, part[1]+"-src "+h) {
				t.Fatalf("%s: CSP %q does not allow the inline %s (%s)", path, csp, part[1], h)
			}
		}
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Fatalf("%s: CSP %q", path, csp)
		}
	}
}

func TestHandlerMethodsAndFormats(t *testing.T) {
	reg := debug.NewRegistry()
	if err := reg.Register("slots", sem.New(4)); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, reg)
	for _, tc := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{http.MethodHead, "/", http.StatusOK, "text/html; charset=utf-8"},
		{http.MethodHead, "/?format=json", http.StatusOK, "application/json; charset=utf-8"},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "text/plain; charset=utf-8"},
		{http.MethodPut, "/?format=json", http.StatusMethodNotAllowed, "text/plain; charset=utf-8"},
		{http.MethodDelete, "/", http.StatusMethodNotAllowed, "text/plain; charset=utf-8"},
		{http.MethodGet, "/?format=xml", http.StatusBadRequest, "text/plain; charset=utf-8"},
	} {
		resp, body := do(t, srv, tc.method, tc.path)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s %s: %d %q; want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
		switch {
		case tc.method == http.MethodHead:
			if body != "" || resp.ContentLength <= 0 {
				t.Errorf("HEAD %s: body %q, Content-Length %d; want none and the GET's length", tc.path, body, resp.ContentLength)
			}
		case tc.status == http.StatusMethodNotAllowed:
			if a := resp.Header.Get("Allow"); a != "GET, HEAD" || !strings.HasPrefix(body, "debug: ") {
				t.Errorf("%s: Allow %q, body %q", tc.method, a, body)
			}
		case tc.status == http.StatusBadRequest:
			if !strings.HasPrefix(body, "debug: ") || !strings.Contains(body, "xml") {
				t.Errorf("bad format: body %q", body)
			}
		}
	}
}

func TestPublishExpvar(t *testing.T) {
	reg := debug.NewRegistry()
	if err := reg.Register("slots", sem.New(4)); err != nil {
		t.Fatal(err)
	}
	// expvar names are process-wide, and -count or -cpu runs this again.
	name := fmt.Sprintf("sluice_test_%d", expvarRuns.Add(1))
	reg.PublishExpvar(name)
	// expvar's handler serves every published variable as JSON.
	rec := httptest.NewRecorder()
	http.DefaultServeMux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/vars", nil))
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &vars); err != nil {
		t.Fatalf("decode /debug/vars: %v", err)
	}
	var got []debug.Entry
	if err := json.Unmarshal(vars[name], &got); err != nil || len(got) != 1 || got[0].Kind != "sem" {
		t.Fatalf("%s = %s (%v)", name, vars[name], err)
	}
	conctest.MustPanic(t, func() { reg.PublishExpvar(name) }, "debug: PublishExpvar", "already published")
}

var expvarRuns atomic.Int64
