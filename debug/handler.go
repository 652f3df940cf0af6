package debug

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
)

//go:embed page.css
var pageCSS string

//go:embed page.js
var pageJS string

// pageCSP allows the page's own inline style and script, by hash, and
// fetches from its own origin: nothing else loads.
var pageCSP = "default-src 'none'; connect-src 'self'; img-src 'self' data:; " +
	"style-src '" + hashOf(pageCSS) + "'; script-src '" + hashOf(pageJS) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Handler returns an http.Handler for the debug page, on whatever path it
// is mounted at:
//
//   - GET (or HEAD) with no query: a self-contained HTML page (inline CSS
//     and script, no external assets) that shows every registered
//     primitive and refreshes itself every second from "?format=json";
//   - GET (or HEAD) "?format=json": [Registry.Snapshot] as a JSON array
//     of [Entry], with Go's field names (OldestWait in nanoseconds, as
//     encoding/json writes a time.Duration; figure values and the
//     histogram in seconds);
//   - any other method: 405 Method Not Allowed; any other format: 400.
//
// The handler binds nowhere itself: mount it where only operators reach,
// for example on a listener on 127.0.0.1:
//
//	mux.Handle("/debug/sluice/", http.StripPrefix("/debug/sluice", reg.Handler()))
//
// It shows names, figures, event messages and stacks; it shows no keys and
// no values of the primitives.
func (r *Registry) Handler() http.Handler {
	r.check("Handler")
	return http.HandlerFunc(r.serveHTTP)
}

func (r *Registry) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "debug: method "+req.Method+" not allowed; use GET", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	var body []byte
	switch f := req.URL.Query().Get("format"); f {
	case "json":
		b, err := json.Marshal(r.Snapshot())
		if err != nil { // unreachable: an Entry holds only strings, numbers, bools and times
			http.Error(w, "debug: "+err.Error(), http.StatusInternalServerError)
			return
		}
		body = append(b, '\n')
		h.Set("Content-Type", "application/json; charset=utf-8")
	case "", "html":
		body = r.page()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("Referrer-Policy", "no-referrer")
	default:
		http.Error(w, "debug: unknown format "+strconv.Quote(f)+"; want json or none", http.StatusBadRequest)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if req.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(body)
}

// page renders the HTML page with the current snapshot inline, so the
// table is filled before the first fetch (and without script).
func (r *Registry) page() []byte {
	// json.Marshal escapes <, > and &, so the data cannot close its
	// <script> element.
	data, err := json.Marshal(r.Snapshot())
	if err != nil {
		data = []byte("[]")
	}
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice debug</title>
<style>`)
	b.WriteString(pageCSS)
	b.WriteString(`</style>
</head>
<body>
<header>
<h1>sluice</h1>
<span id="status" data-state="loading">loading…</span>
</header>
<noscript><p>This page refreshes itself with JavaScript; without it, reload it, or read <a href="?format=json">?format=json</a>.</p></noscript>
<table id="primitives">
<thead><tr>
<th>kind</th><th>name</th><th class="num">capacity</th><th class="num">in use</th><th class="num">waiting</th><th class="num">oldest wait</th><th>closed</th><th>waits</th><th>other figures</th><th>recent events</th>
</tr></thead>
<tbody>`)
	b.WriteString(`</tbody>
</table>
<p id="empty" hidden>No primitive is registered.</p>
<script type="application/json" id="initial">`)
	b.Write(data)
	b.WriteString(`</script>
<script>`)
	b.WriteString(pageJS)
	b.WriteString(`</script>
</body>
</html>
`)
	return b.Bytes()
}
