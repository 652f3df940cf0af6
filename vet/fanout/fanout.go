// Package fanout finds unbounded fan-out: a goroutine started per element
// of data-dependent input, with nothing bounding how many run at once.
//
// Why: the number of goroutines, and of the payloads, connections, locks
// and downstream requests each one holds, grows with the input instead of
// staying under a limit. In seed 002 the validator started one goroutine
// per missed inference; after an outage the backlog reached thousands,
// each holding payloads, an HTTP connection and a model-lock reservation,
// and the process ran out of memory and starved live traffic.
//
// What it reports: a spawn (a go statement, (*sync.WaitGroup).Go,
// (*errgroup.Group).Go on a group without SetLimit, or a call to a helper
// that only wraps a go statement around its function argument, like
// gauge.spawn(f) or safego.Go(f), found in this package or through a fact
// in another) inside a loop over input whose size the code does not fix:
//
//   - range over a slice, map, string, channel or iterator that is a
//     parameter, a field, a call result, an index expression, or a
//     variable assigned any of those;
//   - range len(x), and for i := ...; i < len(x); ...;
//   - for it.Next() / for sc.Scan() (a condition that is a call).
//
// When the spawned function may block without a deadline (the shared
// "may block" facts, vet/internal/facts), the finding says so and gives the
// chain, e.g. "each may block forever: validateWithPayloads ->
// (*http.Client).Post".
//
// What it does not report, on purpose (each from a false positive seen in
// real code or a shape users write to bound the work):
//   - loops over a fixed count (for i := 0; i < 4; i++, range n,
//     range runtime.NumCPU(): the worker-pool shape), over an array, a
//     composite literal, or a variable only ever assigned one;
//   - for {} loops, and any loop whose body (or an enclosing loop's) calls
//     an Accept method, or Recv/ReadFrom/ReadMsg on a conn or listener
//     (accept loops, `for s.isRunning() { c, err := l.Accept(); ... }`: a
//     goroutine per connection is the standard server shape, bounded by
//     the clients' own connections and the server's connection limit);
//   - input that is configuration: its expression or type (element type
//     included) says config, cfg, opts, option or settings; or a parameter
//     that every call in the package fills with such an expression
//     (solicitRoutes(s.getOpts().Routes), solicitRoutes(r.add) with r a
//     *routesOption), provided the function is not used as a value: one
//     goroutine per configured route, remote or peer is sized by the
//     operator;
//   - input the receiver owns (s.loops, m.groups, a copy of them, a method
//     of the receiver): fanning out over one's own children (stop each,
//     one send per replica) is sized by the topology. When its elements are
//     components (pointers to named structs, interfaces: remotes, members,
//     peers) it is never reported; a backlog of plain values (IDs, URLs)
//     or anything named as work (items, requests, events, messages, jobs,
//     tasks, batches, entries, rows, keys, pending, queue) is reported
//     only when each spawned call may block forever on untimed network I/O;
//   - input that is a set of endpoints handed in (lookupdHTTPAddrs, nodes,
//     peers: its expression says addresses, hosts, URLs, servers, nodes,
//     peers, replicas, members, shards...) or of components (pointers to
//     named structs, interfaces), unless each spawned call may block forever
//     on untimed network I/O: querying every lookup server is sized by the
//     deployment;
//   - spawned functions that are lifecycle calls (run, start, serve, stop,
//     close, shutdown, sync, wait...): one long-lived actor per child;
//   - loops that register each spawned child in a map the receiver owns
//     before starting it (t.topics[topic] = fl; go fl.router()): a
//     long-lived child per distinct key;
//   - loops whose body waits or throttles outside the spawned function: a
//     call named Acquire, TryAcquire, Permit, TryPermit, Wait, WaitN or
//     Take (a semaphore, x/sync's Weighted, sluice's sem, a WaitGroup
//     barrier, a rate limiter), a channel send or receive, a select;
//   - spawned functions that acquire first (one of their first statements
//     sends, receives or calls Acquire) or that are workers (they range
//     over a channel, or loop receiving);
//   - errgroup groups with a SetLimit call on the same group (a group
//     passed in or in an exported field may be limited elsewhere: not
//     reported), and closures handed to pools that bound themselves
//     (sluice pool, conc, pond, ants: their Go is not a bare go statement);
//   - spawned code that provably does only CPU work: no receive or select,
//     and every call is to a builtin, a known pure standard-library
//     function, or a function of the package that is itself CPU-only (a
//     goroutine per item that never waits finishes as fast as the CPUs
//     allow and holds nothing else);
//   - _test.go files (tests fan out on purpose) and generated files.
//
// Known limits: a bound enforced by the caller (the slice is always short)
// or inside a function the loop calls is not seen; a helper that spawns
// through more than one level of wrapping is not seen; the "owned" and
// "configuration" tests are name- and shape-based.
//
// Fix: run each item through a bounded pool on a shared semaphore
// (sluice: pool.Shared(ctx, sem) with one sem.Semaphore for every path
// that fans out, or pool.New(ctx, limit)), or use errgroup with SetLimit.
package fanout

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"regexp"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/diag"
	"github.com/sluice-go/sluice/vet/internal/facts"
	"github.com/sluice-go/sluice/vet/internal/netcall"
)

// Analyzer reports goroutines started per element of unbounded input.
var Analyzer = &analysis.Analyzer{
	Name:      "fanout",
	Doc:       "report a goroutine started per element of data-dependent input with nothing bounding how many run at once",
	URL:       "https://github.com/sluice-go/sluice/tree/main/vet/fanout",
	Requires:  []*analysis.Analyzer{ssapass.Analyzer, facts.Analyzer},
	Run:       run,
	FactTypes: []analysis.Fact{(*spawnsFact)(nil)},
}

const fix = "bound it: run each item through a sluice pool on one shared semaphore (pool.Shared(ctx, sem) with a sem.Semaphore every fan-out path draws from, or pool.New(ctx, limit)), or an errgroup with SetLimit"

type checker struct {
	pass  *analysis.Pass
	facts *facts.Result
	ssa   *buildssa.SSA
	// decls maps the package's functions to their declarations, to look
	// into a spawned named function.
	decls map[*types.Func]*ast.FuncDecl
	// ssaAt maps the position of a go statement or call to its SSA
	// instruction, to find the spawned function for the facts.
	ssaAt map[token.Pos]ssa.CallInstruction
	// assigns maps a variable to the expressions assigned to it in the
	// package (nil for an assignment it cannot see, like x, y = f()).
	assigns map[*types.Var][]ast.Expr
	// setLimit holds the groups (a variable or a field) on which the
	// package calls SetLimit.
	setLimit map[types.Object]bool
	// params holds the package's function parameters and receivers.
	params  map[*types.Var]bool
	cpuMemo map[*types.Func]bool
	// paramOf places each declared function's parameter in its
	// signature; callArgs holds the arguments of every call of a function
	// of this package, and refs counts every mention of one (a mention
	// that is not a call hands the function to unseen callers).
	paramOf  map[*types.Var]paramPos
	callArgs map[*types.Func][][]ast.Expr
	refs     map[*types.Func]int
}

type paramPos struct {
	fn  *types.Func
	idx int
}

func run(pass *analysis.Pass) (any, error) {
	c := &checker{
		pass:     pass,
		decls:    map[*types.Func]*ast.FuncDecl{},
		ssaAt:    map[token.Pos]ssa.CallInstruction{},
		assigns:  map[*types.Var][]ast.Expr{},
		setLimit: map[types.Object]bool{},
		cpuMemo:  map[*types.Func]bool{},
		params:   map[*types.Var]bool{},
		paramOf:  map[*types.Var]paramPos{},
		callArgs: map[*types.Func][][]ast.Expr{},
		refs:     map[*types.Func]int{},
	}
	c.ssa, _ = pass.ResultOf[ssapass.Analyzer].(*buildssa.SSA)
	c.facts, _ = pass.ResultOf[facts.Analyzer].(*facts.Result)
	if c.ssa != nil {
		for _, fn := range c.ssa.SrcFuncs {
			for _, b := range fn.Blocks {
				for _, instr := range b.Instrs {
					switch in := instr.(type) {
					case *ssa.Go:
						c.ssaAt[in.Pos()] = in
					case *ssa.Call:
						c.ssaAt[in.Common().Pos()] = in
					}
				}
			}
		}
	}
	for _, f := range pass.Files {
		c.index(f)
	}
	c.findSpawners()
	for _, f := range pass.Files {
		tf := pass.Fset.File(f.FileStart)
		if tf == nil || diag.Generated(pass.Fset, f) || strings.HasSuffix(tf.Name(), "_test.go") {
			continue
		}
		c.file(f)
	}
	return nil, nil
}

// index records declarations, assignments and SetLimit calls.
func (c *checker) index(f *ast.File) {
	info := c.pass.TypesInfo
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if fn, ok := info.Defs[n.Name].(*types.Func); ok {
				c.decls[fn] = n
				c.addParamPos(fn, n.Type.Params)
			}
			c.addParams(n.Recv)
			c.addParams(n.Type.Params)
		case *ast.FuncLit:
			c.addParams(n.Type.Params)
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				v := c.varOf(lhs)
				if v == nil {
					continue
				}
				var rhs ast.Expr
				if len(n.Lhs) == len(n.Rhs) {
					rhs = n.Rhs[i]
				} else if len(n.Rhs) == 1 {
					// a, b := f(): each stands for (part of) f's result.
					rhs = n.Rhs[0]
				}
				if n.Tok != token.ASSIGN && n.Tok != token.DEFINE {
					rhs = nil // x += ...: not a fixed value
				}
				c.assigns[v] = append(c.assigns[v], rhs)
			}
		case *ast.ValueSpec:
			for i, name := range n.Names {
				v, _ := info.Defs[name].(*types.Var)
				if v == nil {
					continue
				}
				var rhs ast.Expr
				if len(n.Values) == len(n.Names) {
					rhs = n.Values[i]
				} else if len(n.Values) == 0 {
					rhs = &ast.CompositeLit{} // the zero value: empty
				}
				c.assigns[v] = append(c.assigns[v], rhs)
			}
		case *ast.RangeStmt:
			// A range variable stands for an element of what is ranged
			// over: owned or data-sized as that is.
			if n.Tok == token.DEFINE {
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if v := c.varOf(e); v != nil && e != nil {
						c.assigns[v] = append(c.assigns[v], n.X)
					}
				}
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				if v := c.varOf(n.X); v != nil {
					c.assigns[v] = append(c.assigns[v], nil) // address taken
				}
			}
		case *ast.Ident:
			if fn, ok := info.Uses[n].(*types.Func); ok && fn.Pkg() == c.pass.Pkg {
				c.refs[fn.Origin()]++
			}
		case *ast.CallExpr:
			if fn := c.funcOf(n.Fun); fn != nil && fn.Pkg() == c.pass.Pkg {
				c.callArgs[fn] = append(c.callArgs[fn], n.Args)
			}
			if sel, ok := ast.Unparen(n.Fun).(*ast.SelectorExpr); ok && sel.Sel.Name == "SetLimit" && isErrgroup(info.TypeOf(sel.X)) {
				if o := c.groupObj(sel.X); o != nil {
					c.setLimit[o] = true
				}
			}
		}
		return true
	})
}

func (c *checker) addParams(fl *ast.FieldList) {
	if fl == nil {
		return
	}
	for _, f := range fl.List {
		for _, name := range f.Names {
			if v, ok := c.pass.TypesInfo.Defs[name].(*types.Var); ok {
				c.params[v] = true
			}
		}
	}
}

// addParamPos records where each of fn's parameters sits.
func (c *checker) addParamPos(fn *types.Func, fl *ast.FieldList) {
	if fl == nil {
		return
	}
	i := 0
	for _, f := range fl.List {
		if len(f.Names) == 0 {
			i++
			continue
		}
		for _, name := range f.Names {
			if v, ok := c.pass.TypesInfo.Defs[name].(*types.Var); ok {
				c.paramOf[v] = paramPos{fn.Origin(), i}
			}
			i++
		}
	}
}

func (c *checker) varOf(e ast.Expr) *types.Var {
	id, ok := ast.Unparen(e).(*ast.Ident)
	if !ok {
		return nil
	}
	v, _ := c.pass.TypesInfo.ObjectOf(id).(*types.Var)
	return v
}

// groupObj names a group: the variable, or the field of a selector.
func (c *checker) groupObj(e ast.Expr) types.Object {
	switch x := ast.Unparen(e).(type) {
	case *ast.Ident:
		return c.pass.TypesInfo.ObjectOf(x)
	case *ast.SelectorExpr:
		if s := c.pass.TypesInfo.Selections[x]; s != nil && s.Kind() == types.FieldVal {
			return s.Obj()
		}
	case *ast.UnaryExpr:
		if x.Op == token.AND {
			return c.groupObj(x.X)
		}
	}
	return nil
}

func (c *checker) file(f *ast.File) {
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		switch n := n.(type) {
		case *ast.GoStmt:
			c.spawn(stack, n, n.Call.Fun, n.Go, "go statement", n.Call.Lparen)
		case *ast.CallExpr:
			sel, _ := ast.Unparen(n.Fun).(*ast.SelectorExpr)
			var t types.Type
			if sel != nil && sel.Sel.Name == "Go" && len(n.Args) == 1 {
				t = c.pass.TypesInfo.TypeOf(sel.X)
			}
			switch {
			case isNamed(t, "sync", "WaitGroup"):
				c.spawn(stack, n, n.Args[0], n.Pos(), "(*sync.WaitGroup).Go", n.Lparen)
			case isErrgroup(t):
				o := c.groupObj(sel.X)
				if o == nil || c.setLimit[o] {
					break // unknown group, or a limited one
				}
				if v, ok := o.(*types.Var); ok && (v.IsField() && v.Exported() || c.params[v]) {
					break // limited elsewhere, maybe
				}
				c.spawn(stack, n, n.Args[0], n.Pos(), "(*errgroup.Group).Go", n.Lparen)
			default:
				if fn := c.funcOf(n.Fun); fn != nil {
					if i, ok := c.spawnerParam(fn); ok && i < len(n.Args) {
						c.spawn(stack, n, n.Args[i], n.Pos(), exprString(n.Fun)+" (which runs its argument on a new goroutine)", n.Lparen)
					}
				}
			}
		}
		return true
	})
}

// spawnsFact marks a function that starts a goroutine running its
// function-typed parameter Param (an index into the signature's
// parameters), with nothing bounding it: gauge.spawn(f), safe.Go(f).
type spawnsFact struct{ Param int }

func (*spawnsFact) AFact()           {}
func (f *spawnsFact) String() string { return fmt.Sprintf("spawns(param %d)", f.Param) }

// findSpawners exports a spawnsFact for each function of the package that
// only wraps a go statement around one of its function parameters.
func (c *checker) findSpawners() {
	for fn, d := range c.decls {
		if d.Body == nil {
			continue
		}
		if i, ok := c.spawnsParam(fn, d); ok {
			c.pass.ExportObjectFact(fn, &spawnsFact{Param: i})
		}
	}
}

// spawnsParam reports whether d's body starts a goroutine that calls (or
// is) one of fn's function-typed parameters, and its index. A body that
// throttles (a send, receive, Acquire...) outside the goroutine is a
// bounded pool, not a spawner.
func (c *checker) spawnsParam(fn *types.Func, d *ast.FuncDecl) (int, bool) {
	sig, _ := fn.Type().(*types.Signature)
	if sig == nil || sig.Params().Len() == 0 {
		return 0, false
	}
	paramIdx := map[types.Object]int{}
	for i := 0; i < sig.Params().Len(); i++ {
		p := sig.Params().At(i)
		if _, ok := p.Type().Underlying().(*types.Signature); ok {
			paramIdx[p] = i
		}
	}
	if len(paramIdx) == 0 || throttles(d.Body, nil, c.pass.TypesInfo) {
		return 0, false
	}
	info := c.pass.TypesInfo
	calls := func(e ast.Expr) (int, bool) {
		if id, ok := ast.Unparen(e).(*ast.Ident); ok {
			if i, ok := paramIdx[info.ObjectOf(id)]; ok {
				return i, true
			}
		}
		lit, ok := ast.Unparen(e).(*ast.FuncLit)
		if !ok || acquiresFirst(lit.Body, info) {
			return 0, false
		}
		idx, found := 0, false
		ast.Inspect(lit.Body, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && !found {
				if id, ok := ast.Unparen(call.Fun).(*ast.Ident); ok {
					if i, ok := paramIdx[info.ObjectOf(id)]; ok {
						idx, found = i, true
					}
				}
			}
			return !found
		})
		return idx, found
	}
	idx, found := 0, false
	ast.Inspect(d.Body, func(n ast.Node) bool {
		if found {
			return false
		}
		switch n := n.(type) {
		case *ast.GoStmt:
			idx, found = calls(n.Call.Fun)
		case *ast.CallExpr:
			if sel, ok := ast.Unparen(n.Fun).(*ast.SelectorExpr); ok && sel.Sel.Name == "Go" && len(n.Args) == 1 && isNamed(info.TypeOf(sel.X), "sync", "WaitGroup") {
				idx, found = calls(n.Args[0])
			}
		}
		return !found
	})
	return idx, found
}

// spawnerParam reports whether a call to fn starts a goroutine running its
// parameter i.
func (c *checker) spawnerParam(fn *types.Func) (int, bool) {
	var f spawnsFact
	if fn.Pkg() == nil || !c.pass.ImportObjectFact(fn, &f) {
		return 0, false
	}
	return f.Param, true
}

// spawn checks one spawn site. stack ends with the spawn node; fun is the
// spawned function expression.
func (c *checker) spawn(stack []ast.Node, node ast.Node, fun ast.Expr, pos token.Pos, what string, lparen token.Pos) {
	// The loops around the spawn, innermost first, up to the enclosing
	// function.
	var loops []ast.Stmt
	for i := len(stack) - 2; i >= 0; i-- {
		child := stack[i+1]
		switch p := stack[i].(type) {
		case *ast.FuncLit, *ast.FuncDecl:
			i = -1
		case *ast.RangeStmt:
			if child == p.Body {
				loops = append(loops, p)
			}
		case *ast.ForStmt:
			if child == p.Body {
				loops = append(loops, p)
			}
		}
	}
	recv := c.receiverOf(stack)
	var data ast.Stmt
	var input string
	var owned bool
	for _, l := range loops {
		if what, ok, own := c.dataDependent(l, recv); ok {
			data, input, owned = l, what, own
			break
		}
	}
	if data == nil {
		return
	}
	// A wait or throttle in any loop body up to the data loop bounds it;
	// an accept in any enclosing loop makes it a server's connection loop.
	for i, l := range loops {
		if throttles(loopBody(l), node, c.pass.TypesInfo) {
			return
		}
		if l == data {
			for _, outer := range loops[i:] {
				if accepts(loopBody(outer), c.pass.TypesInfo) {
					return
				}
			}
			break
		}
	}
	body := c.spawnedBody(fun)
	if body != nil && (acquiresFirst(body, c.pass.TypesInfo) || isWorker(body, c.pass.TypesInfo)) {
		return
	}
	if body != nil && c.cpuOnly(body, 0) {
		return
	}
	if lifecycle(fun, body) {
		return
	}
	if recv != nil && c.registersOwned(loopBody(data), node, recv) {
		// t.topics[topic] = fl; go fl.router(): each spawned goroutine
		// belongs to an entry the receiver keeps (and looks up first), a
		// long-lived child per distinct key, not a task per item.
		return
	}
	evidence := fmt.Sprintf("one per element of %s, the loop at line %d", input, c.pass.Fset.Position(data.Pos()).Line)
	chain := c.blocking(lparen, node, fun)
	if owned && (len(chain) == 0 || !netcall.IsCallName(chain[len(chain)-1]) || c.components(data)) {
		return
	}
	if !owned && c.topology(data) && (len(chain) == 0 || !netcall.IsCallName(chain[len(chain)-1])) {
		// One goroutine per address or per component handed in (query
		// every lookupd, stop each member) is sized by the deployment;
		// it is a hazard only when each may hang on untimed network I/O.
		return
	}
	if len(chain) > 0 {
		evidence += "; each may block forever: " + strings.Join(chain, " -> ")
	}
	diag.Report(c.pass, diag.Finding{
		Pos:      pos,
		End:      node.End(),
		Hazard:   what + " starts a goroutine per item of unbounded input, with nothing bounding how many run at once",
		Evidence: evidence,
		Fix:      fix,
		Related:  []analysis.RelatedInformation{{Pos: data.Pos(), End: data.Pos() + 3, Message: "the loop over " + input}},
	})
}

// receiverOf returns the receiver of the method declaration enclosing the
// spawn, or nil.
func (c *checker) receiverOf(stack []ast.Node) *types.Var {
	for _, n := range stack {
		if fd, ok := n.(*ast.FuncDecl); ok && fd.Recv != nil && len(fd.Recv.List) == 1 && len(fd.Recv.List[0].Names) == 1 {
			v, _ := c.pass.TypesInfo.Defs[fd.Recv.List[0].Names[0]].(*types.Var)
			return v
		}
	}
	return nil
}

// lifecycleNames are methods that start, stop or wait on a long-lived
// thing: a goroutine per child to run or stop it is the actor model, not a
// fan-out of work.
var lifecycleNames = map[string]bool{
	"run": true, "start": true, "serve": true, "listen": true, "loop": true, "watch": true,
	"stop": true, "close": true, "shutdown": true, "terminate": true, "cancel": true,
	"wait": true, "flush": true, "drain": true, "flushandshutdown": true, "sync": true, "reload": true,
}

// lifecycle reports whether the spawned function is, or first calls, a
// lifecycle method (l.run(), informer.Run(stop), l.stop(); wg.Done()).
func lifecycle(fun ast.Expr, body *ast.BlockStmt) bool {
	if sel, ok := ast.Unparen(fun).(*ast.SelectorExpr); ok {
		return lifecycleNames[strings.ToLower(sel.Sel.Name)]
	}
	if _, ok := ast.Unparen(fun).(*ast.FuncLit); !ok || body == nil {
		return false
	}
	for _, st := range body.List {
		var call *ast.CallExpr
		switch s := st.(type) {
		case *ast.DeferStmt:
			continue
		case *ast.ExprStmt:
			call, _ = s.X.(*ast.CallExpr)
		case *ast.IfStmt:
			if as, ok := s.Init.(*ast.AssignStmt); ok && len(as.Rhs) == 1 {
				call, _ = as.Rhs[0].(*ast.CallExpr)
			}
		case *ast.AssignStmt:
			if len(s.Rhs) == 1 {
				call, _ = s.Rhs[0].(*ast.CallExpr)
			}
		case *ast.ReturnStmt:
			if len(s.Results) == 1 {
				call, _ = s.Results[0].(*ast.CallExpr)
			}
		}
		if call == nil {
			return false
		}
		sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
		return ok && lifecycleNames[strings.ToLower(sel.Sel.Name)]
	}
	return false
}

func loopBody(l ast.Stmt) *ast.BlockStmt {
	switch l := l.(type) {
	case *ast.RangeStmt:
		return l.Body
	case *ast.ForStmt:
		return l.Body
	}
	return nil
}

// blocking asks the facts whether the spawned function may block with no
// deadline, and returns the chain without the closure's own name.
func (c *checker) blocking(lparen token.Pos, node ast.Node, fun ast.Expr) []string {
	if c.facts == nil {
		return nil
	}
	var instr ssa.CallInstruction
	if g, ok := node.(*ast.GoStmt); ok {
		instr = c.ssaAt[g.Go]
	} else {
		instr = c.ssaAt[lparen]
	}
	if instr == nil {
		return nil
	}
	var fn *ssa.Function
	common := instr.Common()
	if _, ok := instr.(*ssa.Go); ok {
		fn = common.StaticCallee()
	} else {
		// The argument that is the spawned function: the literal's
		// closure, or the named function.
		lit, _ := ast.Unparen(fun).(*ast.FuncLit)
		named := c.funcOf(fun)
		for _, a := range common.Args {
			var cand *ssa.Function
			switch v := a.(type) {
			case *ssa.Function:
				cand = v
			case *ssa.MakeClosure:
				cand, _ = v.Fn.(*ssa.Function)
			}
			if cand == nil {
				continue
			}
			if lit != nil && cand.Syntax() == lit || named != nil && cand.Object() == named {
				fn = cand
				break
			}
		}
	}
	if fn == nil {
		return nil
	}
	if len(fn.Blocks) == 0 {
		// go http.Get(u): the spawned function is the blocking call itself.
		if name, ok := c.facts.Untimed(instr); ok {
			return []string{name}
		}
		return nil
	}
	chain, ok := safeFuncBlocking(c.facts, fn)
	if !ok {
		return nil
	}
	// Drop the spawned closure's own synthetic name ("run.func1").
	if len(chain) > 1 && fn.Parent() != nil {
		chain = chain[1:]
	}
	return chain
}

func safeFuncBlocking(r *facts.Result, fn *ssa.Function) (chain []string, ok bool) {
	defer func() {
		if recover() != nil {
			chain, ok = nil, false
		}
	}()
	return r.FuncBlocking(fn)
}

// dataDependent reports whether loop l runs a number of times set by its
// input, and describes the input ("parameter missed"). owned says the
// input is state of the receiver recv (see owned).
func (c *checker) dataDependent(l ast.Stmt, recv *types.Var) (string, bool, bool) {
	info := c.pass.TypesInfo
	switch l := l.(type) {
	case *ast.RangeStmt:
		t := info.TypeOf(l.X)
		if t == nil {
			return "", false, false
		}
		switch u := t.Underlying().(type) {
		case *types.Basic:
			if u.Info()&types.IsInteger != 0 {
				if hasLen(l.X) {
					return "range " + exprString(l.X), true, c.owned(l.X, recv)
				}
				return "", false, false // a count: the worker-pool shape
			}
		case *types.Array:
			return "", false, false
		case *types.Pointer:
			if _, ok := u.Elem().Underlying().(*types.Array); ok {
				return "", false, false
			}
		}
		if configured(l.X, t) || c.fromConfig(l.X, 0) {
			return "", false, false
		}
		d, dep := c.describe(l.X, 0)
		return d, dep, dep && c.owned(l.X, recv)
	case *ast.ForStmt:
		switch cond := ast.Unparen(l.Cond).(type) {
		case *ast.BinaryExpr:
			if hasLen(cond) && !configured(cond, nil) {
				return exprString(cond), true, c.owned(cond, recv)
			}
		case *ast.CallExpr:
			if l.Init == nil && l.Post == nil {
				if _, ok := ast.Unparen(cond.Fun).(*ast.SelectorExpr); ok {
					return "the iterator " + exprString(cond), true, false
				}
			}
		}
	}
	return "", false, false
}

// configured reports whether a ranged-over expression is configuration
// (its text or its type, element type included, says config, cfg, opts,
// option or settings): sized by the operator, not by the workload.
func configured(x ast.Expr, t types.Type) bool {
	s := strings.ToLower(types.ExprString(x))
	if t != nil {
		s += " " + strings.ToLower(t.String())
	}
	return configWord(s)
}

func configWord(s string) bool {
	for _, w := range []string{"config", "cfg", "opts", "option", "settings"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// fromConfig reports whether x is a parameter (or a variable assigned
// only from one) that every call in this package fills with
// configuration (s.solicitRoutes(s.getOpts().Routes), or a field of an
// *xxxOption): one goroutine per configured route, remote or peer is
// sized by the operator. A function mentioned other than in a call may
// have callers this package cannot see, and is not exempted.
func (c *checker) fromConfig(x ast.Expr, depth int) bool {
	if depth > 3 {
		return false
	}
	v := c.varOf(x)
	if v == nil {
		return false
	}
	if pp, ok := c.paramOf[v]; ok {
		calls := c.callArgs[pp.fn]
		if len(calls) == 0 || c.refs[pp.fn] != len(calls) {
			return false
		}
		if sig, _ := pp.fn.Type().(*types.Signature); sig == nil || sig.Variadic() && pp.idx == sig.Params().Len()-1 {
			return false
		}
		for _, args := range calls {
			if pp.idx >= len(args) || !c.configExpr(args[pp.idx]) {
				return false
			}
		}
		return true
	}
	as := c.assigns[v]
	if len(as) == 0 || c.params[v] {
		return false
	}
	for _, rhs := range as {
		if rhs == nil || !(c.configExpr(rhs) || c.fromConfig(rhs, depth+1)) {
			return false
		}
	}
	return true
}

// configExpr reports whether e, or a value it is selected, indexed or
// called from (r.add with r a *routesOption), is configuration by its
// text or type.
func (c *checker) configExpr(e ast.Expr) bool {
	for depth := 0; e != nil && depth < 6; depth++ {
		e = ast.Unparen(e)
		if configured(e, c.pass.TypesInfo.TypeOf(e)) {
			return true
		}
		switch x := e.(type) {
		case *ast.SelectorExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.SliceExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.CallExpr:
			e = x.Fun
		default:
			return false
		}
	}
	return false
}

// components reports whether the owned input of loop l is a set of
// components (its elements are pointers to named structs or interfaces:
// remotes, members, peers, shards) rather than a backlog of work (IDs,
// strings, or anything whose name says items, requests, events,
// messages, jobs, tasks, batches, entries, rows, keys or pending). A
// goroutine per component is the lifecycle fan-out over a fixed set, even
// when each does network I/O: an untimed call there is notimeout's finding.
func (c *checker) components(l ast.Stmt) bool {
	r, ok := l.(*ast.RangeStmt)
	if !ok {
		return false
	}
	t := c.pass.TypesInfo.TypeOf(r.X)
	if t == nil || !entities(t) {
		return false
	}
	s := strings.ToLower(types.ExprString(r.X) + " " + t.String())
	for _, w := range []string{"item", "req", "event", "msg", "message", "job", "task", "batch", "entr", "row", "key", "pending", "backlog", "queue", "work", "inflight"} {
		if strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// registersOwned reports whether body, before the spawn at node, stores
// into a map the receiver owns (s.children[k] = v).
func (c *checker) registersOwned(body *ast.BlockStmt, node ast.Node, recv *types.Var) bool {
	if body == nil {
		return false
	}
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if found || n == nil {
			return false
		}
		if _, ok := n.(*ast.FuncLit); ok {
			return false
		}
		if n.Pos() >= node.Pos() {
			return false
		}
		as, ok := n.(*ast.AssignStmt)
		if !ok {
			return true
		}
		for _, lhs := range as.Lhs {
			ix, ok := ast.Unparen(lhs).(*ast.IndexExpr)
			if !ok {
				continue
			}
			if t := c.pass.TypesInfo.TypeOf(ix.X); t != nil {
				if _, isMap := t.Underlying().(*types.Map); isMap && c.owned(ix.X, recv) {
					found = true
				}
			}
		}
		return true
	})
	return found
}

// endpointWords name a collection sized by the deployment, not by traffic.
var endpointWords = regexp.MustCompile(`(?i)(addr|address|host|endpoint|url|server|node|peer|replica|member|shard|upstream|backend|broker|cluster|remote|target)s?\b|(addrs|hosts|urls|endpoints|servers|nodes|peers|replicas|members|shards|upstreams|backends|brokers|remotes|targets)`)

// topology reports whether loop l ranges over a collection of endpoints
// (its expression says addresses, hosts, peers, nodes...) or of components
// (see components), not over a backlog of work.
func (c *checker) topology(l ast.Stmt) bool {
	r, ok := l.(*ast.RangeStmt)
	if !ok {
		return false
	}
	if c.components(l) {
		return true
	}
	name := types.ExprString(r.X)
	if !endpointWords.MatchString(name) {
		return false
	}
	s := strings.ToLower(name)
	for _, w := range []string{"item", "req", "event", "msg", "message", "job", "task", "batch", "entr", "row", "key", "pending", "backlog", "queue", "work", "inflight"} {
		if strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// accepts reports whether body (outside function literals) calls an
// Accept method (net.Listener.Accept, AcceptTCP, a QUIC or custom
// listener's Accept), or Recv/ReadFrom on a connection or listener: a
// loop fed by it is a server's connection loop, and one goroutine per
// connection is bounded by the clients' own connections (and by the
// server's connection limit), not by a backlog the code built.
func accepts(body *ast.BlockStmt, info *types.Info) bool {
	if body == nil {
		return false
	}
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if found {
			return false
		}
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.CallExpr:
			sel, ok := ast.Unparen(n.Fun).(*ast.SelectorExpr)
			if !ok {
				return true
			}
			name := sel.Sel.Name
			if strings.HasPrefix(name, "Accept") {
				found = true
			} else if strings.HasPrefix(name, "Recv") || strings.HasPrefix(name, "ReadFrom") || strings.HasPrefix(name, "ReadMsg") {
				if t := info.TypeOf(sel.X); t != nil {
					ts := t.String()
					found = strings.Contains(ts, "Conn") || strings.Contains(ts, "Listener")
				}
			}
		}
		return !found
	})
	return found
}

// owned reports whether x is state the function's receiver owns: a field
// of the receiver or a method call on it (s.loops, m.groups(),
// len(s.shards)), or a variable only assigned from one. Fanning out over
// one's own children (stop every loop, one actor per target, one send per
// replica) is sized by the topology; only blocking network I/O per item
// makes it the seed's hazard.
func (c *checker) owned(x ast.Expr, recv *types.Var) bool {
	return c.ownedDepth(x, recv, 0)
}

// entities reports whether t (a call's result: its first value) is a
// collection of entities: interfaces or pointers to named structs.
func entities(t types.Type) bool {
	if tu, ok := t.(*types.Tuple); ok {
		if tu.Len() == 0 {
			return false
		}
		t = tu.At(0).Type()
	}
	if t == nil {
		return false
	}
	var elem types.Type
	switch u := t.Underlying().(type) {
	case *types.Slice:
		elem = u.Elem()
	case *types.Map:
		elem = u.Elem()
	case *types.Array:
		elem = u.Elem()
	case *types.Chan:
		elem = u.Elem()
	default:
		return false
	}
	if types.IsInterface(elem) {
		return true
	}
	if p, ok := elem.Underlying().(*types.Pointer); ok {
		if _, named := types.Unalias(p.Elem()).(*types.Named); named {
			_, isStruct := p.Elem().Underlying().(*types.Struct)
			return isStruct
		}
	}
	return false
}

func (c *checker) ownedDepth(x ast.Expr, recv *types.Var, depth int) bool {
	if recv == nil || x == nil || depth > 4 {
		return false
	}
	info := c.pass.TypesInfo
	switch e := ast.Unparen(x).(type) {
	case *ast.Ident:
		v, ok := info.ObjectOf(e).(*types.Var)
		if !ok || v == recv || v.IsField() || v.Pkg() != c.pass.Pkg {
			return false // the receiver itself is not one of its children
		}
		as := c.assigns[v]
		if len(as) == 0 {
			return false
		}
		for _, rhs := range as {
			if rhs == nil || !c.ownedDepth(rhs, recv, depth+1) {
				return false
			}
		}
		return true // a copy of the receiver's state
	case *ast.SelectorExpr:
		if id, ok := ast.Unparen(e.X).(*ast.Ident); ok && info.ObjectOf(id) == recv {
			return true
		}
		return c.ownedDepth(e.X, recv, depth+1)
	case *ast.CallExpr:
		// A method of what the receiver owns (s.matchingStores(...)):
		// its arguments do not matter. len(x): x.
		if id, ok := ast.Unparen(e.Fun).(*ast.Ident); ok && id.Name == "len" && len(e.Args) == 1 {
			return c.ownedDepth(e.Args[0], recv, depth+1)
		}
		// Only when it returns entities (interfaces, pointers to named
		// structs: endpoints, blocks), not plain values computed from the
		// arguments (byte ranges, IDs), which are data.
		if _, ok := ast.Unparen(e.Fun).(*ast.SelectorExpr); ok && entities(info.TypeOf(e)) {
			return c.ownedDepth(e.Fun, recv, depth+1)
		}
	case *ast.IndexExpr:
		return c.ownedDepth(e.X, recv, depth+1)
	case *ast.SliceExpr:
		return c.ownedDepth(e.X, recv, depth+1)
	case *ast.StarExpr:
		return c.ownedDepth(e.X, recv, depth+1)
	case *ast.BinaryExpr:
		return c.ownedDepth(e.X, recv, depth+1) || c.ownedDepth(e.Y, recv, depth+1)
	}
	return false
}

// describe says what a ranged-over expression is, and whether its size is
// set by data rather than fixed in the code.
func (c *checker) describe(x ast.Expr, depth int) (string, bool) {
	info := c.pass.TypesInfo
	x = ast.Unparen(x)
	switch e := x.(type) {
	case *ast.CompositeLit:
		return "", false
	case *ast.Ident:
		v, ok := info.ObjectOf(e).(*types.Var)
		if !ok {
			return "", false
		}
		if c.params[v] {
			return "parameter " + e.Name, true
		}
		as := c.assigns[v]
		if len(as) == 0 || depth > 3 {
			return "variable " + e.Name, true
		}
		for _, rhs := range as {
			if rhs == nil {
				return "variable " + e.Name, true
			}
			if _, fixed := ast.Unparen(rhs).(*ast.CompositeLit); fixed {
				continue
			}
			if d, dep := c.describe(rhs, depth+1); dep {
				return "variable " + e.Name + " (" + d + ")", true
			}
		}
		return "", false
	case *ast.SelectorExpr:
		if s := info.Selections[e]; s != nil && s.Kind() == types.FieldVal {
			return "field " + exprString(e), true
		}
		if id, ok := e.X.(*ast.Ident); ok {
			if _, isPkg := info.ObjectOf(id).(*types.PkgName); isPkg {
				// A package-level variable of another package.
				return "variable " + exprString(e), true
			}
		}
		return exprString(e), true
	case *ast.CallExpr:
		if tv, ok := info.Types[e.Fun]; ok && tv.IsType() && len(e.Args) == 1 {
			return c.describe(e.Args[0], depth+1) // a conversion
		}
		return "the result of " + exprString(e.Fun) + "()", true
	case *ast.IndexExpr, *ast.SliceExpr, *ast.StarExpr, *ast.TypeAssertExpr:
		return exprString(e), true
	case *ast.UnaryExpr:
		if e.Op == token.ARROW {
			return "values received from " + exprString(e.X), true
		}
	}
	return exprString(x), true
}

// hasLen reports whether e contains a call to the builtin len.
func hasLen(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if id, ok := ast.Unparen(call.Fun).(*ast.Ident); ok && id.Name == "len" {
				found = true
			}
		}
		return !found
	})
	return found
}

// throttles reports whether body waits or throttles outside spawned
// functions: an Acquire-like call, a channel send or receive, a select.
func throttles(body *ast.BlockStmt, spawn ast.Node, info *types.Info) bool {
	if body == nil {
		return false
	}
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if found || n == nil {
			return false
		}
		switch n := n.(type) {
		case *ast.FuncLit:
			return false // runs later, elsewhere
		case *ast.GoStmt:
			return false // the spawn itself, or another
		case *ast.SendStmt, *ast.SelectStmt:
			found = true
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				found = true
			}
		case *ast.RangeStmt:
			if t := info.TypeOf(n.X); t != nil {
				if _, ok := t.Underlying().(*types.Chan); ok {
					found = true // receives inside the loop body
				}
			}
		case *ast.CallExpr:
			if n == spawn {
				return false
			}
			if sel, ok := ast.Unparen(n.Fun).(*ast.SelectorExpr); ok && throttleName[sel.Sel.Name] {
				found = true
			}
		}
		return !found
	})
	return found
}

var throttleName = map[string]bool{
	"Acquire": true, "TryAcquire": true, "Permit": true, "TryPermit": true, "Wait": true,
	"WaitN": true, "Take": true,
}

// acquiresFirst reports whether one of the first statements of a spawned
// body takes a slot: a send, a receive, or an Acquire-like call.
func acquiresFirst(body *ast.BlockStmt, info *types.Info) bool {
	for i, st := range body.List {
		if i >= 3 {
			break
		}
		if _, ok := st.(*ast.DeferStmt); ok {
			continue
		}
		if throttles(&ast.BlockStmt{List: []ast.Stmt{st}}, nil, info) {
			return true
		}
	}
	return false
}

// isWorker reports whether a spawned body is a worker: it ranges over a
// channel or loops receiving (for { select / <-ch }).
func isWorker(body *ast.BlockStmt, info *types.Info) bool {
	for _, st := range body.List {
		switch s := st.(type) {
		case *ast.RangeStmt:
			if t := info.TypeOf(s.X); t != nil {
				if _, ok := t.Underlying().(*types.Chan); ok {
					return true
				}
			}
		case *ast.ForStmt:
			if s.Cond == nil && throttles(s.Body, nil, info) {
				return true
			}
		}
	}
	return false
}

// spawnedBody finds the body of the spawned function: a literal, or a
// function or method of this package.
func (c *checker) spawnedBody(fun ast.Expr) *ast.BlockStmt {
	switch f := ast.Unparen(fun).(type) {
	case *ast.FuncLit:
		return f.Body
	case *ast.Ident, *ast.SelectorExpr:
		if d := c.decls[c.funcOf(f)]; d != nil {
			return d.Body
		}
	}
	return nil
}

func (c *checker) funcOf(e ast.Expr) *types.Func {
	var id *ast.Ident
	switch x := ast.Unparen(e).(type) {
	case *ast.Ident:
		id = x
	case *ast.SelectorExpr:
		id = x.Sel
	case *ast.IndexExpr:
		return c.funcOf(x.X)
	case *ast.IndexListExpr:
		return c.funcOf(x.X)
	default:
		return nil
	}
	fn, _ := c.pass.TypesInfo.Uses[id].(*types.Func)
	if fn != nil {
		fn = fn.Origin()
	}
	return fn
}

// cpuOnly reports whether body provably does only CPU work: no receive,
// no select, and every call is to a builtin, a conversion, a known pure
// standard-library function, or a function of this package that is itself
// CPU-only. (A send is allowed: handing a result back is the usual end of
// a computing goroutine.)
func (c *checker) cpuOnly(body *ast.BlockStmt, depth int) bool {
	if body == nil || depth > 3 {
		return false
	}
	info := c.pass.TypesInfo
	ok := true
	ast.Inspect(body, func(n ast.Node) bool {
		if !ok || n == nil {
			return false
		}
		switch n := n.(type) {
		case *ast.SelectStmt, *ast.GoStmt:
			ok = false
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				ok = false
			}
		case *ast.RangeStmt:
			if t := info.TypeOf(n.X); t != nil {
				switch t.Underlying().(type) {
				case *types.Chan, *types.Signature:
					ok = false
				}
			}
		case *ast.CallExpr:
			if !c.pureCall(n, depth) {
				ok = false
			}
		}
		return ok
	})
	return ok
}

func (c *checker) pureCall(call *ast.CallExpr, depth int) bool {
	info := c.pass.TypesInfo
	if tv, ok := info.Types[call.Fun]; ok && (tv.IsType() || tv.IsBuiltin()) {
		return true
	}
	if _, ok := ast.Unparen(call.Fun).(*ast.FuncLit); ok {
		return true // its body is inspected as part of ours
	}
	fn := c.funcOf(call.Fun)
	if fn == nil || fn.Pkg() == nil {
		return false // a func value or an interface method: unknown
	}
	sig, _ := fn.Type().(*types.Signature)
	if sig != nil && sig.Recv() != nil && types.IsInterface(sig.Recv().Type()) {
		return false
	}
	path := fn.Pkg().Path()
	if fn.Pkg() == c.pass.Pkg {
		if v, seen := c.cpuMemo[fn]; seen {
			return v
		}
		c.cpuMemo[fn] = false // recursion: assume the worst
		d := c.decls[fn]
		v := d != nil && c.cpuOnly(d.Body, depth+1)
		c.cpuMemo[fn] = v
		return v
	}
	if pureStd[path] {
		return true
	}
	recv := ""
	if sig != nil && sig.Recv() != nil {
		if n, ok := types.Unalias(derefType(sig.Recv().Type())).(*types.Named); ok {
			recv = n.Obj().Name()
		}
	}
	switch path + "." + recv + "." + fn.Name() {
	case "sync.WaitGroup.Done", "sync.WaitGroup.Add", "sync.Mutex.Lock", "sync.Mutex.Unlock",
		"sync.RWMutex.Lock", "sync.RWMutex.Unlock", "sync.RWMutex.RLock", "sync.RWMutex.RUnlock",
		"fmt..Sprintf", "fmt..Sprint", "fmt..Sprintln", "fmt..Errorf":
		return true
	}
	return false
}

// pureStd are standard-library packages whose functions only compute.
var pureStd = map[string]bool{
	"strings": true, "strconv": true, "bytes": true, "math": true, "math/bits": true,
	"math/big": true, "sort": true, "slices": true, "maps": true, "unicode": true,
	"unicode/utf8": true, "unicode/utf16": true, "errors": true, "sync/atomic": true,
	"hash/crc32": true, "hash/fnv": true, "hash/crc64": true, "crypto/sha256": true,
	"crypto/sha1": true, "crypto/sha512": true, "crypto/md5": true, "cmp": true,
	"encoding/hex": true, "encoding/base64": true, "encoding/binary": true,
	"regexp": true, "path": true, "container/heap": true, "container/list": true,
}

func derefType(t types.Type) types.Type {
	if p, ok := t.Underlying().(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

func isNamed(t types.Type, path, name string) bool {
	if t == nil {
		return false
	}
	n, ok := types.Unalias(derefType(t)).(*types.Named)
	if !ok {
		return false
	}
	o := n.Obj()
	return o != nil && o.Pkg() != nil && o.Pkg().Path() == path && o.Name() == name
}

func isErrgroup(t types.Type) bool {
	return isNamed(t, "golang.org/x/sync/errgroup", "Group")
}

func exprString(e ast.Expr) string {
	s := types.ExprString(e)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
