// Package loopblock finds goroutines that serve a loop (an event loop, a
// dispatcher, a consumer) and block inside it, so every other event the
// loop serves waits too.
//
// Seed 003: an event loop called blocking HTTP helpers, and every slow call
// stalled every other task. Seed 004: a storage dispatcher waited, itself,
// for a read permit before spawning each read, so the 65th reader parked
// the dispatcher and with it every write and the shutdown; and one stuck
// subscriber of a broadcast stalls every other subscriber.
//
// # What a serving loop is
//
// A function (or func literal) that is started with go in the package (or
// is called directly by a func literal started with go), or is named like
// a loop (Run, Serve, Loop, run, serve, loop, Start, start, run* and Run*
// followed by a capital, *loop, dispatch*, serve*), and whose body holds,
// at top level (not nested in another loop or a func literal), one of:
//
//   - for { ...; select { ... } } (or for cond { ... }) with at least two
//     inputs it keeps serving that are not timers (an "event loop"): cases
//     that do not end the loop (a case whose body ends in return, panic or
//     a labeled break is an exit; ctx.Done() or a channel named done,
//     quit, stop... is a stop signal). With one data input besides timers
//     and stop signals it is a consumer (a batcher flushing on a tick);
//     with only timers and one wake-up signal it is a background job and
//     not reported;
//   - for v := range ch, or for { v := <-ch; ... }, over a channel that
//     carries values (not struct{}, bool or time.Time: tickers and signals
//     are periodic jobs, not services) (a "consumer loop").
//
// A function value given to a sluice loop.Loop (Post, PostNamed, Do,
// DoNamed, TryPost, and Offload's then) is a handler: its whole body runs
// on the loop goroutine.
//
// # What it reports
//
// Inside the loop body (select case bodies included, exit cases excluded;
// work handed to a goroutine with go is not in the body, that is the fix):
//
//  1. A call that may block with no deadline, directly or through calls
//     (vet/internal/facts): in an event loop or a handler, any such wait
//     but time.Sleep (a deliberate, bounded pause) and sends on buffered
//     struct{} channels (as often wake-ups as semaphores); in a consumer
//     loop, only untimed network I/O and semaphore acquires, since a
//     consumer's job is to do its work in turn. In a loop.Loop handler,
//     network I/O with a timeout and time.Sleep count too: the loop's
//     contract is that handlers never block. One finding per chain per
//     loop. Consumer loops in _test.go files are test plumbing and skipped.
//  2. A wait for capacity before handing work to a goroutine: a semaphore
//     Acquire (x/sync semaphore.Weighted, sluice sem) or a send of
//     struct{}{} into a channel the spawned goroutine receives from, done
//     in the loop goroutine when the same loop body starts a goroutine.
//     "The 65th reader parks the loop."
//  3. A plain send (outside any select) to each channel of a collection
//     (for _, s := range subs { s.ch <- v }), in the loop body or in a
//     function of the package it calls: one stuck subscriber stalls the
//     loop and every other subscriber.
//
// # What it does not find
//
// Loops in functions that are neither started with go in their package
// nor named like a loop; blocking through dynamic calls (interfaces,
// function values) or standard-library calls other than the ones the
// facts know; a bare receive or a send of unknown buffering written
// directly in the loop body (the loop's own input, and reply channels, are
// too often fine); a send on a buffered struct{} channel reached through
// calls (as often a wake-up as a semaphore; the token-before-go shape is
// found on its own); broadcasts in other packages; a bare receive written
// in a loop.Loop handler itself; a capacity wait whose goroutine is
// started in a called function rather than in the loop body.
//
// # Fix
//
// (1) loop.Offload: keep the loop the single owner of its state and run the
// blocking work on the loop's workers, its result coming back as a handler;
// or hand the work to a goroutine, with a deadline. (2) Take the permit in
// the spawned goroutine, or admit reads with sluice gate (capped, with
// deadlines, acquired where the read runs), or queue the work in a bounded
// sluice queue. (3) A select with default that drops or counts what a slow
// subscriber misses, or a bounded queue per subscriber.
package loopblock

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"sort"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/diag"
	"github.com/sluice-go/sluice/vet/internal/facts"
)

// Analyzer reports blocking inside goroutines that serve a loop.
var Analyzer = &analysis.Analyzer{
	Name:     "loopblock",
	Doc:      "report calls that block inside a goroutine serving an event loop, dispatcher or consumer loop",
	URL:      "https://github.com/sluice-go/sluice/tree/main/vet/loopblock",
	Requires: []*analysis.Analyzer{ssapass.Analyzer, facts.Analyzer},
	Run:      run,
}

// blocker answers "may this instruction block with no deadline".
type blocker interface {
	Blocking(ssa.Instruction) ([]string, bool)
}

// maxSteps bounds the broadcast search per package, so a large package
// with deep call cycles costs at most this many function visits.
const maxSteps = 200000

const loopPkg = "github.com/sluice-go/sluice/loop"

type checker struct {
	pass  *analysis.Pass
	block blocker
	net   *netWalker
	bcast map[*ssa.Function]*bcastSend
	busy  map[*ssa.Function]bool
	seen  map[token.Pos]bool
	steps int // functions searched for broadcasts, bounded by maxSteps
	// seenBcast: broadcast sends already reported through a call.
	seenBcast map[token.Pos]bool
	calls     map[token.Pos]*ast.CallExpr
	bySyntax  map[ast.Node]*ssa.Function
}

func run(pass *analysis.Pass) (_ any, err error) {
	// Odd code (type errors, cgo, generics) must never take vet down: a
	// package the analyzer cannot follow gets no findings.
	defer func() {
		if p := recover(); p != nil {
			err = nil
		}
	}()
	res, ok := pass.ResultOf[ssapass.Analyzer].(*buildssa.SSA)
	fr, ok2 := pass.ResultOf[facts.Analyzer].(*facts.Result)
	if !ok || !ok2 || res == nil || fr == nil || pass.TypesInfo == nil {
		return nil, nil
	}
	c := &checker{
		pass:  pass,
		block: fr,
		net:   &netWalker{pkg: pass.Pkg, memo: map[*ssa.Function][]string{}, busy: map[*ssa.Function]bool{}},
		bcast: map[*ssa.Function]*bcastSend{},
		busy:  map[*ssa.Function]bool{},
		seen:  map[token.Pos]bool{},

		seenBcast: map[token.Pos]bool{},
	}
	c.bySyntax = map[ast.Node]*ssa.Function{}
	for _, fn := range res.SrcFuncs {
		if syn := fn.Syntax(); syn != nil {
			c.bySyntax[syn] = fn
		}
	}

	// Which functions are started with go, and which are loop handlers.
	goStarted := map[*ssa.Function]bool{}
	handlers := map[*ssa.Function]bool{}
	for _, fn := range res.SrcFuncs {
		for _, b := range fn.Blocks {
			for _, in := range b.Instrs {
				switch in := in.(type) {
				case *ssa.Go:
					if t := in.Call.StaticCallee(); t != nil {
						t = origin(t) // go consume[int](...) runs consume's body
						goStarted[t] = true
						// go func() { defer wg.Done(); s.loop() }(): what the
						// literal calls runs on the new goroutine too.
						if t.Parent() != nil {
							for _, tb := range t.Blocks {
								for _, ti := range tb.Instrs {
									if call, ok := ti.(*ssa.Call); ok {
										if cal := call.Call.StaticCallee(); cal != nil {
											goStarted[origin(cal)] = true
										}
									}
								}
							}
						}
					}
				case *ssa.Call:
					for _, h := range c.handlerArg(in.Common()) {
						handlers[origin(h)] = true
					}
				}
			}
		}
	}

	var regions []*region
	for _, fn := range res.SrcFuncs {
		body := bodyOf(fn)
		if body == nil || c.generated(fn.Pos()) {
			continue
		}
		if handlers[fn] {
			regions = append(regions, &region{fn: fn, kind: kindHandler, loop: body, body: body})
		} else if goStarted[fn] || fn.Parent() == nil && loopLikeName(fn.Name()) {
			for _, r := range servingLoops(pass.TypesInfo, fn, body) {
				// A test's consumer goroutine is plumbing: if it hangs, the
				// test times out; no other task queues behind it.
				if r.kind == kindRecv && strings.HasSuffix(pass.Fset.Position(r.loop.Pos()).Filename, "_test.go") {
					continue
				}
				regions = append(regions, r)
			}
		}
	}
	// In source order, so a broadcast reached from several loops is
	// reported at the same place in every build of the package.
	sort.Slice(regions, func(i, j int) bool {
		a, b := pass.Fset.Position(regions[i].loop.Pos()), pass.Fset.Position(regions[j].loop.Pos())
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Offset < b.Offset
	})
	for _, r := range regions {
		c.check(r)
	}
	return nil, nil
}

func bodyOf(fn *ssa.Function) *ast.BlockStmt {
	switch s := fn.Syntax().(type) {
	case *ast.FuncDecl:
		return s.Body
	case *ast.FuncLit:
		return s.Body
	}
	return nil
}

// handlerArg returns the functions a call hands to a sluice loop.Loop to
// run on the loop goroutine: a func literal or function given directly, or
// the func literals a factory returns (l.Post(ctx, handle(x)) with
// handle := func(x X) func(*S) { return func(s *S) { ... } }).
func (c *checker) handlerArg(cc *ssa.CallCommon) []*ssa.Function {
	f := calleeObj(cc)
	pkg, recv, name := funcID(f)
	if pkg != loopPkg || len(cc.Args) == 0 {
		return nil
	}
	switch {
	case recv == "Loop" && (name == "Post" || name == "PostNamed" || name == "Do" || name == "DoNamed" || name == "TryPost"),
		recv == "" && name == "Offload":
	default:
		return nil
	}
	switch v := cc.Args[len(cc.Args)-1].(type) {
	case *ssa.MakeClosure:
		if fn, ok := v.Fn.(*ssa.Function); ok {
			return []*ssa.Function{fn}
		}
	case *ssa.Function:
		return []*ssa.Function{v}
	case *ssa.Call:
		return c.factoryResults(v)
	}
	return nil
}

// factoryResults finds the func literals returned by the function a call
// invokes, when that function is a package function or a variable
// assigned a func literal in this package.
func (c *checker) factoryResults(call *ssa.Call) []*ssa.Function {
	var body *ast.BlockStmt
	if fn := call.Call.StaticCallee(); fn != nil {
		body = bodyOf(fn)
	} else if ce := c.callAt(call.Pos()); ce != nil {
		if id, ok := ast.Unparen(ce.Fun).(*ast.Ident); ok {
			if v, ok := c.pass.TypesInfo.Uses[id].(*types.Var); ok {
				if lit := c.assignedLit(v); lit != nil {
					body = lit.Body
				}
			}
		}
	}
	if body == nil {
		return nil
	}
	var out []*ssa.Function
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt:
			for _, e := range n.Results {
				if lit, ok := ast.Unparen(e).(*ast.FuncLit); ok {
					if fn := c.bySyntax[lit]; fn != nil {
						out = append(out, fn)
					}
				}
			}
		}
		return true
	})
	return out
}

// callAt returns the call expression whose left paren is at pos.
func (c *checker) callAt(pos token.Pos) *ast.CallExpr {
	if c.calls == nil {
		c.calls = map[token.Pos]*ast.CallExpr{}
		for _, f := range c.pass.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				if ce, ok := n.(*ast.CallExpr); ok {
					c.calls[ce.Lparen] = ce
				}
				return true
			})
		}
	}
	return c.calls[pos]
}

// assignedLit returns a func literal assigned to v (var v = func...; v =
// func...; v := func...), or nil.
func (c *checker) assignedLit(v *types.Var) *ast.FuncLit {
	info := c.pass.TypesInfo
	var found *ast.FuncLit
	for _, f := range c.pass.Files {
		if f.FileStart > v.Pos() || v.Pos() > f.FileEnd {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if found != nil {
				return false
			}
			if a, ok := n.(*ast.AssignStmt); ok && len(a.Lhs) == len(a.Rhs) {
				for i, l := range a.Lhs {
					id, ok := l.(*ast.Ident)
					if !ok || info.ObjectOf(id) != v {
						continue
					}
					if lit, ok := ast.Unparen(a.Rhs[i]).(*ast.FuncLit); ok {
						found = lit
					}
				}
			}
			return true
		})
	}
	return found
}

func (c *checker) generated(pos token.Pos) bool {
	for _, f := range c.pass.Files {
		if f.FileStart <= pos && pos <= f.FileEnd {
			return diag.Generated(c.pass.Fset, f)
		}
	}
	return false
}

func (c *checker) where(r *region) string {
	name := funcName(r.fn)
	p := c.pass.Fset.Position(r.loop.Pos())
	return fmt.Sprintf("%s of %s at line %d", r.kind, name, p.Line)
}

func (c *checker) report(pos token.Pos, r *region, hazard, evidence, fix string) {
	if c.seen[pos] {
		return
	}
	c.seen[pos] = true
	diag.Report(c.pass, diag.Finding{
		Pos:      pos,
		Hazard:   hazard,
		Evidence: evidence,
		Fix:      fix,
		Related:  []analysis.RelatedInformation{{Pos: r.loop.Pos(), Message: "the " + r.kind.String() + " this blocks"}},
	})
}

const (
	fixBlock = "run the blocking work off the loop with loop.Offload (sluice loop: one owner, blocking work on its workers, the result back as a handler), or hand it to a goroutine with a deadline"
	fixCap   = "take the permit in the spawned goroutine, or admit the work with sluice gate (capped, with deadlines, acquired where it runs) or a bounded sluice queue, so the loop never waits for capacity"
	fixSub   = "send in a select with default that drops or counts what a slow subscriber misses, or give each subscriber a bounded queue"
)

func (c *checker) check(r *region) {
	fn := r.fn
	// Where the loop hands work to a goroutine: waits for capacity before
	// one of these are the dispatcher's wedge.
	var gos []token.Pos
	for _, b := range fn.Blocks {
		for _, in := range b.Instrs {
			if g, ok := in.(*ssa.Go); ok && r.contains(g.Pos()) {
				gos = append(gos, g.Pos())
			}
		}
	}
	// clauseOf is the innermost select case holding pos, or the loop body.
	var clauses []ast.Node
	ast.Inspect(r.body, func(n ast.Node) bool {
		switch n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.CommClause:
			clauses = append(clauses, n)
		}
		return true
	})
	clauseOf := func(pos token.Pos) ast.Node {
		var in ast.Node = r.body
		for _, cl := range clauses {
			if pos >= cl.Pos() && pos < cl.End() {
				in = cl // later clauses in source order are nested deeper
			}
		}
		return in
	}
	// goAfter: the same case goes on to start a goroutine after pos.
	goAfter := func(pos token.Pos) bool {
		for _, g := range gos {
			if g > pos && clauseOf(g) == clauseOf(pos) {
				return true
			}
		}
		return false
	}
	semChans := semaphoreSends(c.pass.TypesInfo, r)
	// once: the same chain reached twice from one loop is one finding
	// (the fix is down the chain), reported at its first call.
	reported := map[string]bool{}
	once := func(key string) bool {
		if reported[key] {
			return true
		}
		reported[key] = true
		return false
	}

	for _, b := range fn.Blocks {
		for _, in := range b.Instrs {
			pos := in.Pos()
			if !r.contains(pos) {
				continue
			}
			switch in := in.(type) {
			case *ssa.Call:
				cc := in.Common()
				if what, ok := acquireCall(cc); ok && goAfter(pos) {
					c.report(pos, r, what+" waits for capacity in the loop goroutine before handing the work to a goroutine: once every permit is held, the next request parks the loop",
						"in the "+c.where(r), fixCap)
					continue
				}
				if chain, ok := c.block.Blocking(in); ok && r.kind.counts(chain) && !once(strings.Join(chain, " -> ")+"|"+fmt.Sprint(goAfter(pos) && waitsForOthers(chain[len(chain)-1]))) {
					if goAfter(pos) && waitsForOthers(chain[len(chain)-1]) {
						c.report(pos, r, chain[len(chain)-1]+" waits in the loop goroutine before it hands the work to a goroutine: while it waits, every other event waits",
							c.chain(r, chain)+" in the "+c.where(r), fixCap)
						continue
					}
					c.report(pos, r, chain[len(chain)-1]+" may block with no deadline inside the loop: every other event waits",
						c.chain(r, chain)+" in the "+c.where(r), fixBlock)
					continue
				}
				if r.kind == kindHandler {
					if chain, ok := c.net.call(cc); ok {
						c.report(pos, r, chain[len(chain)-1]+" blocks the loop.Loop handler for as long as the call takes: every other handler waits",
							c.chain(r, chain)+" in the "+c.where(r), fixBlock)
						continue
					}
				}
				if s := c.bcastCall(cc); s != nil && !c.seenBcast[s.pos] {
					// One report per broadcast, at the first loop call
					// that reaches it: the fix is at the send.
					c.seenBcast[s.pos] = true
					c.report(pos, r, "a plain send to each subscriber ("+s.what+") inside the loop: one stuck subscriber stalls the loop and every other subscriber",
						c.chain(r, s.chain)+" in the "+c.where(r), fixSub)
				}
			case *ssa.Send:
				if semChans[pos] && goAfter(pos) {
					c.report(pos, r, "a send into a channel semaphore waits for capacity in the loop goroutine before handing the work to a goroutine: once the channel is full, the next request parks the loop",
						"in the "+c.where(r), fixCap)
				}
			}
		}
	}
	// Broadcasts written in the loop body itself.
	for _, s := range broadcasts(c.pass.TypesInfo, r.body, r) {
		c.report(s.pos, r, "a plain send to each subscriber ("+s.what+") inside the loop: one stuck subscriber stalls the loop and every other subscriber",
			"in the "+c.where(r), fixSub)
	}
}

// counts reports whether a blocking chain matters in this kind of loop: a
// consumer's job is to do its work in turn, so only waits that may never
// end (network with no timeout, semaphores) count there.
func (k kind) counts(chain []string) bool {
	leaf := chain[len(chain)-1]
	if strings.Contains(leaf, "(channel semaphore)") {
		// A buffered struct{} channel is as often a wake-up signal as a
		// semaphore; the semaphore shape that matters here (a token taken
		// before a goroutine that returns it) is found on its own.
		return false
	}
	if leaf == "time.Sleep" && k != kindHandler {
		// A deliberate pause (a backoff, a simulated delay) is bounded and
		// written on purpose; only a loop.Loop handler promises never to
		// pause at all.
		return false
	}
	if k != kindRecv {
		return true
	}
	for _, p := range []string{"http.", "net.", "tls.", "Dial", "semaphore.", "sem."} {
		if strings.Contains(leaf, p) {
			return true
		}
	}
	return false
}

// waitsForOthers reports whether a blocking leaf waits for another
// goroutine to make room (a receive, a select, a semaphore, a condition),
// rather than for time or I/O.
func waitsForOthers(leaf string) bool {
	for _, p := range []string{"<-", "semaphore.", "sem.", "Cond.Wait"} {
		if strings.HasPrefix(leaf, p) {
			return true
		}
	}
	return false
}

func (c *checker) chain(r *region, chain []string) string {
	return strings.Join(append([]string{funcName(r.fn)}, chain...), " -> ")
}

// bcastSend is a send to each channel of a collection.
type bcastSend struct {
	pos   token.Pos
	what  string   // "sub.ch <- v"
	chain []string // from the called function down to the send
}

// bcastCall reports whether a call reaches, through this package's static
// calls, a broadcast send.
func (c *checker) bcastCall(cc *ssa.CallCommon) *bcastSend {
	callee := cc.StaticCallee()
	if callee == nil || cc.IsInvoke() {
		return nil
	}
	return c.bcastFn(callee)
}

func (c *checker) bcastFn(fn *ssa.Function) *bcastSend {
	if s, ok := c.bcast[fn]; ok {
		return s
	}
	if c.busy[fn] || fn.Pkg == nil || fn.Pkg.Pkg != c.pass.Pkg || c.steps > maxSteps {
		return nil
	}
	c.steps++
	c.busy[fn] = true
	defer delete(c.busy, fn)
	var found *bcastSend
	if body := bodyOf(fn); body != nil {
		if ss := broadcasts(c.pass.TypesInfo, body, nil); len(ss) > 0 {
			s := ss[0]
			found = &bcastSend{pos: s.pos, what: s.what, chain: []string{funcName(fn), s.what}}
		}
	}
	for _, b := range fn.Blocks {
		if found != nil {
			break
		}
		for _, in := range b.Instrs {
			call, ok := in.(*ssa.Call)
			if !ok {
				continue
			}
			if s := c.bcastCall(call.Common()); s != nil {
				found = &bcastSend{pos: s.pos, what: s.what, chain: append([]string{funcName(fn)}, s.chain...)}
				break
			}
		}
	}
	// A miss found while a caller was still being searched may come from
	// a cycle cut short: remember misses only from the outermost search.
	if found != nil || len(c.busy) == 1 {
		c.bcast[fn] = found
	}
	return found
}

// broadcasts finds, in body (not in func literals, not in r's skipped
// cases), plain sends to the channel of each element of a ranged slice,
// array or map.
func broadcasts(info *types.Info, body *ast.BlockStmt, r *region) []bcastSend {
	var out []bcastSend
	inspectBodies(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit, *ast.GoStmt, *ast.DeferStmt:
			return false
		case *ast.RangeStmt:
			if r != nil && !r.contains(n.Pos()) {
				return true
			}
			t := info.TypeOf(n.X)
			if t == nil {
				return true
			}
			switch t.Underlying().(type) {
			case *types.Slice, *types.Array, *types.Map:
			case *types.Pointer: // *[N]T
			default:
				return true
			}
			vars := map[types.Object]bool{}
			for _, e := range []ast.Expr{n.Key, n.Value} {
				if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
					if o := info.ObjectOf(id); o != nil {
						vars[o] = true
					}
				}
			}
			coll := types.ExprString(n.X)
			// close(ch) after the send: a one-shot delivery (its channel is
			// made with room for it), not a stream a subscriber drains.
			closed := map[string]bool{}
			ast.Inspect(n.Body, func(m ast.Node) bool {
				if call, ok := m.(*ast.CallExpr); ok && len(call.Args) == 1 {
					if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "close" {
						closed[types.ExprString(call.Args[0])] = true
					}
				}
				return true
			})
			inspectBodies(n.Body, func(m ast.Node) bool {
				switch m := m.(type) {
				case *ast.FuncLit, *ast.GoStmt, *ast.DeferStmt:
					return false
				case *ast.SendStmt:
					if fromElem(info, m.Chan, vars, coll) && !closed[types.ExprString(m.Chan)] {
						out = append(out, bcastSend{pos: m.Arrow, what: types.ExprString(m.Chan) + " <- " + types.ExprString(m.Value)})
					}
				}
				return true
			})
			return false
		}
		return true
	})
	return out
}

// fromElem reports whether ch is an element of the ranged collection: the
// range variable, a field path from it, or coll[k].
func fromElem(info *types.Info, ch ast.Expr, vars map[types.Object]bool, coll string) bool {
	for {
		switch x := ast.Unparen(ch).(type) {
		case *ast.Ident:
			return vars[info.ObjectOf(x)] && !strings.HasPrefix(types.ExprString(ch), "_")
		case *ast.SelectorExpr:
			ch = x.X
		case *ast.StarExpr:
			ch = x.X
		case *ast.IndexExpr:
			if types.ExprString(x.X) == coll {
				return true
			}
			ch = x.X
		default:
			return false
		}
	}
}

// semaphoreSends returns the positions (arrows) of sends of struct{}{} in
// r's body, outside any select, to a channel that a goroutine started in
// the same body receives from: a channel used as a semaphore.
func semaphoreSends(info *types.Info, r *region) map[token.Pos]bool {
	recvd := map[string]bool{}
	ast.Inspect(r.body, func(n ast.Node) bool {
		g, ok := n.(*ast.GoStmt)
		if !ok {
			return true
		}
		ast.Inspect(g, func(m ast.Node) bool {
			if u, ok := m.(*ast.UnaryExpr); ok && u.Op == token.ARROW {
				recvd[types.ExprString(u.X)] = true
			}
			return true
		})
		return false
	})
	out := map[token.Pos]bool{}
	inspectBodies(r.body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit, *ast.GoStmt:
			return false
		case *ast.SendStmt:
			t := info.TypeOf(n.Chan)
			if t == nil {
				return true
			}
			ch, ok := t.Underlying().(*types.Chan)
			if !ok {
				return true
			}
			if s, ok := ch.Elem().Underlying().(*types.Struct); ok && s.NumFields() == 0 && recvd[types.ExprString(n.Chan)] {
				out[n.Arrow] = true
			}
		}
		return true
	})
	return out
}

// inspectBodies is ast.Inspect that skips the communication of every
// select case (a send or receive there is guarded by the select) but
// visits the cases' bodies.
func inspectBodies(root ast.Node, f func(ast.Node) bool) {
	var visit func(ast.Node) bool
	visit = func(n ast.Node) bool {
		if cc, ok := n.(*ast.CommClause); ok {
			for _, st := range cc.Body {
				ast.Inspect(st, visit)
			}
			return false
		}
		return f(n)
	}
	ast.Inspect(root, visit)
}
