// Package notimeout finds network calls that can wait forever: HTTP
// requests on a client with no Timeout whose request has no deadline, and
// dials with no timeout.
//
// Why: a peer that accepts the connection and never answers (a hung ML
// node, a wedged proxy) pins the calling goroutine for good, and with it
// whatever that goroutine holds: a lock, a semaphore slot, a connection, a
// model reservation. In seed 002 an http.Post on http.DefaultClient in a
// recovery path pinned validation goroutines and the model lock they held.
//
// What it reports (see vet/internal/netcall for the exact rules): http.Get,
// http.Head, http.Post, http.PostForm; Client.Get/Head/Post/PostForm on a
// client that provably has no Timeout; Client.Do on such a client with a
// request made by http.NewRequest or with a context that provably has no
// deadline (context.Background/TODO, through WithCancel/WithValue only);
// net.Dial, net.DialTCP, net.DialUnix, tls.Dial and a net.Dialer without
// Timeout or Deadline, on stream networks.
//
// What it does not report, on purpose:
//   - calls whose client, request or context it cannot trace within the
//     package (a client or ctx passed in as a parameter, returned by a
//     call, handed to a function that may set Timeout): unknown is not a
//     finding;
//   - calls in _test.go files: `go test -timeout` bounds every test, and
//     tests mostly talk to an httptest server they own;
//   - generated files.
//
// Known limits: reads and writes on a net.Conn without SetDeadline; gRPC
// and other client libraries; a deadline that a RoundTripper adds (only an
// *http.Transport's ResponseHeaderTimeout is honoured); interprocedural
// flow (a ctx parameter that every caller passes as context.Background()).
//
// Fix: share one http.Client{Timeout: ...} (the seed's fix: 5 minutes), or
// build the request with http.NewRequestWithContext and a ctx from
// context.WithTimeout; dial with net.DialTimeout, a net.Dialer{Timeout:
// ...}, or DialContext with a deadline.
package notimeout

import (
	"go/ast"
	"go/token"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/diag"
	"github.com/sluice-go/sluice/vet/internal/netcall"
)

// Analyzer reports network calls with no timeout.
var Analyzer = &analysis.Analyzer{
	Name:     "notimeout",
	Doc:      "report network calls (HTTP, dials) with no timeout on the client and no deadline on the request",
	URL:      "https://github.com/sluice-go/sluice/tree/main/vet/notimeout",
	Requires: []*analysis.Analyzer{ssapass.Analyzer, netcall.Analyzer},
	Run:      run,
}

func run(pass *analysis.Pass) (any, error) {
	s := pass.ResultOf[ssapass.Analyzer].(*buildssa.SSA)
	nc := pass.ResultOf[netcall.Analyzer].(*netcall.Result)

	// Which files to skip, and each call expression by its '(' (an SSA
	// call's position), to report the whole call.
	skip := map[*token.File]bool{}
	calls := map[token.Pos]*ast.CallExpr{}
	for _, f := range pass.Files {
		tf := pass.Fset.File(f.FileStart)
		if tf == nil {
			continue
		}
		if diag.Generated(pass.Fset, f) || strings.HasSuffix(tf.Name(), "_test.go") {
			skip[tf] = true
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				calls[c.Lparen] = c
			}
			return true
		})
	}
	seen := map[token.Pos]bool{}
	for _, fn := range s.SrcFuncs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				call, ok := instr.(ssa.CallInstruction)
				if !ok {
					continue
				}
				pos := call.Common().Pos()
				if !pos.IsValid() || seen[pos] {
					continue
				}
				if tf := pass.Fset.File(pos); tf == nil || skip[tf] {
					continue
				}
				c, ok := nc.Explain(call)
				if !ok {
					continue
				}
				seen[pos] = true
				start, end := pos, token.NoPos
				if ce := calls[pos]; ce != nil {
					start, end = ce.Pos(), ce.End()
				}
				diag.Report(pass, diag.Finding{
					Pos:    start,
					End:    end,
					Hazard: c.Why + ": a peer that never answers blocks this call, and whatever it holds, forever",
					Fix:    c.Fix,
				})
			}
		}
	}
	return nil, nil
}
