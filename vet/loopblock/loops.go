package loopblock

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// kind is what sort of loop serves in a function.
type kind int

const (
	// kindRecv is a single-input consumer: for v := range ch, or
	// for { v := <-ch; ... }. Its body is expected to do the work, so only
	// waits with no end (untimed network, capacity, subscribers) count.
	kindRecv kind = iota
	// kindSelect is an event loop: for { select { ... } } with at least two
	// inputs it keeps serving. Everything that may block stalls every input.
	kindSelect
	// kindHandler is a handler posted to a sluice loop.Loop: its whole body
	// runs on the loop goroutine, whose contract is that handlers never
	// block.
	kindHandler
)

func (k kind) String() string {
	switch k {
	case kindSelect:
		return "event loop"
	case kindHandler:
		return "loop.Loop handler"
	}
	return "consumer loop"
}

// region is the body of one serving loop: the instructions whose position
// lies in [body.Pos(), body.End()) and in none of skip run on the loop
// goroutine once per event.
type region struct {
	fn   *ssa.Function
	kind kind
	loop ast.Node // the for/range statement, or the handler's body
	body *ast.BlockStmt
	skip []ast.Node // exit cases: a select case that returns
}

func (r *region) contains(pos token.Pos) bool {
	if !pos.IsValid() || pos < r.body.Pos() || pos >= r.body.End() {
		return false
	}
	for _, s := range r.skip {
		if pos >= s.Pos() && pos < s.End() {
			return false
		}
	}
	return true
}

// servingLoops finds the loops at the top of body (not nested in another
// loop or in a func literal) that serve a channel.
func servingLoops(info *types.Info, fn *ssa.Function, body *ast.BlockStmt) []*region {
	var out []*region
	var walk func(stmts []ast.Stmt)
	walk = func(stmts []ast.Stmt) {
		for _, s := range stmts {
			for {
				l, ok := s.(*ast.LabeledStmt)
				if !ok {
					break
				}
				s = l.Stmt
			}
			switch s := s.(type) {
			case *ast.ForStmt:
				if r := forLoop(info, fn, s); r != nil {
					out = append(out, r)
				}
			case *ast.RangeStmt:
				if isDataChan(info.TypeOf(s.X)) {
					out = append(out, &region{fn: fn, kind: kindRecv, loop: s, body: s.Body})
				}
			case *ast.BlockStmt:
				walk(s.List)
			case *ast.IfStmt:
				walk(s.Body.List)
				if e, ok := s.Else.(*ast.BlockStmt); ok {
					walk(e.List)
				}
			}
		}
	}
	walk(body.List)
	return out
}

// forLoop classifies a condition-less for statement.
func forLoop(info *types.Info, fn *ssa.Function, s *ast.ForStmt) *region {
	// for cond { select ... } serves as long as cond holds; a loop with
	// init or post statements counts to something and is not a service.
	if s.Init != nil || s.Post != nil || len(s.Body.List) == 0 {
		return nil
	}
	// for { select { ... } }: the select may follow a few setup statements;
	// with several selects, the one that serves the most inputs decides.
	var best *region
	bestInputs, hasSelect := 0, false
	for _, st := range s.Body.List {
		sel, ok := st.(*ast.SelectStmt)
		if !ok {
			continue
		}
		hasSelect = true
		inputs, timers, data := 0, 0, false
		var skip []ast.Node
		for _, c := range sel.Body.List {
			cc := c.(*ast.CommClause)
			if cc.Comm == nil {
				continue // default: the loop polls
			}
			if exits(cc.Body) {
				skip = append(skip, cc)
				continue
			}
			if isCtxDone(info, cc.Comm) {
				continue
			}
			inputs++
			if ch := recvChan(cc.Comm); ch != nil {
				if isDataChan(info.TypeOf(ch)) {
					data = true
				} else if isTimerChan(info.TypeOf(ch)) {
					timers++
				}
			}
		}
		// Two inputs or more that are not timers: an event loop. One data
		// input, with stop signals and timers: a consumer (a batcher that
		// flushes on a tick is one), like for v := range ch. Timers and
		// one wake-up signal: a background job (a compactor, a flusher),
		// not a service anyone queues behind.
		k := kindSelect
		switch {
		case inputs-timers >= 2:
		case data:
			k = kindRecv
		default:
			continue
		}
		if inputs > bestInputs {
			best = &region{fn: fn, kind: k, loop: s, body: s.Body, skip: skip}
			bestInputs = inputs
		}
	}
	if hasSelect {
		return best
	}
	if s.Cond != nil {
		return nil
	}
	// for { v := <-ch; ... }
	first := s.Body.List[0]
	var rhs ast.Expr
	switch f := first.(type) {
	case *ast.AssignStmt:
		if len(f.Rhs) == 1 {
			rhs = f.Rhs[0]
		}
	case *ast.DeclStmt:
		if g, ok := f.Decl.(*ast.GenDecl); ok && len(g.Specs) == 1 {
			if vs, ok := g.Specs[0].(*ast.ValueSpec); ok && len(vs.Values) == 1 {
				rhs = vs.Values[0]
			}
		}
	}
	if u, ok := ast.Unparen(rhs).(*ast.UnaryExpr); ok && u.Op == token.ARROW && isDataChan(info.TypeOf(u.X)) {
		return &region{fn: fn, kind: kindRecv, loop: s, body: s.Body}
	}
	return nil
}

// exits reports whether a case body ends the loop (its last statement
// returns, panics or exits): blocking on the way out stalls nobody.
func exits(body []ast.Stmt) bool {
	if len(body) == 0 {
		return false
	}
	switch s := body[len(body)-1].(type) {
	case *ast.ReturnStmt:
		return true
	case *ast.BranchStmt:
		return s.Tok == token.BREAK && s.Label != nil || s.Tok == token.GOTO
	case *ast.ExprStmt:
		if c, ok := s.X.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "panic" {
				return true
			}
			if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
				n := sel.Sel.Name
				return n == "Exit" || n == "Fatal" || n == "Fatalf" || n == "Goexit"
			}
		}
	}
	return false
}

// recvChan returns the channel a select case receives from, or nil.
func recvChan(comm ast.Stmt) ast.Expr {
	var e ast.Expr
	switch c := comm.(type) {
	case *ast.ExprStmt:
		e = c.X
	case *ast.AssignStmt:
		if len(c.Rhs) == 1 {
			e = c.Rhs[0]
		}
	}
	if u, ok := ast.Unparen(e).(*ast.UnaryExpr); ok && u.Op == token.ARROW {
		return u.X
	}
	return nil
}

// isCtxDone reports whether a case receives from ctx.Done() or from a
// channel named like a stop signal (done, quit, stop, closing...).
func isCtxDone(info *types.Info, comm ast.Stmt) bool {
	ch := recvChan(comm)
	if ch == nil {
		return false
	}
	if call, ok := ast.Unparen(ch).(*ast.CallExpr); ok {
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Done" {
			return true
		}
	}
	var name string
	switch x := ast.Unparen(ch).(type) {
	case *ast.Ident:
		name = x.Name
	case *ast.SelectorExpr:
		name = x.Sel.Name
	}
	name = strings.ToLower(name)
	for _, w := range []string{"done", "quit", "stop", "clos", "exit", "shutdown", "cancel", "die", "term", "kill"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// isDataChan reports whether t is a channel that carries values: not
// struct{} signals, not ticks (time.Time), not bools.
func isDataChan(t types.Type) bool {
	if t == nil {
		return false
	}
	ch, ok := t.Underlying().(*types.Chan)
	if !ok {
		return false
	}
	e := ch.Elem()
	if s, ok := e.Underlying().(*types.Struct); ok && s.NumFields() == 0 {
		return false
	}
	if b, ok := e.Underlying().(*types.Basic); ok && b.Kind() == types.Bool {
		return false
	}
	if n, ok := types.Unalias(e).(*types.Named); ok && n.Obj().Pkg() != nil &&
		n.Obj().Pkg().Path() == "time" && n.Obj().Name() == "Time" {
		return false
	}
	return true
}

// loopLikeName reports whether a function's name says it runs a loop.
func loopLikeName(name string) bool {
	switch name {
	case "Run", "Serve", "Loop", "run", "serve", "loop", "Start", "start":
		return true
	}
	// runFollower, RunWatcher: a run method per state or role.
	if len(name) > 3 && (strings.HasPrefix(name, "run") || strings.HasPrefix(name, "Run")) && name[3] >= 'A' && name[3] <= 'Z' {
		return true
	}
	l := strings.ToLower(name)
	return strings.HasSuffix(l, "loop") || strings.HasPrefix(l, "dispatch") || strings.HasPrefix(l, "serve")
}

// isTimerChan reports whether t is a channel of time.Time (a ticker's,
// a timer's, time.After's).
func isTimerChan(t types.Type) bool {
	if t == nil {
		return false
	}
	ch, ok := t.Underlying().(*types.Chan)
	if !ok {
		return false
	}
	n, ok := types.Unalias(ch.Elem()).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "time" && n.Obj().Name() == "Time"
}
