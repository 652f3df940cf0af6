package facts

import (
	"go/token"
	"go/types"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/netcall"
)

func join(chain []string) string { return strings.Join(chain, " -> ") }

func run(pass *analysis.Pass) (res any, err error) {
	ssaRes, _ := pass.ResultOf[ssapass.Analyzer].(*buildssa.SSA)
	r := &Result{
		SSA:    ssaRes,
		pkg:    pass.Pkg,
		pass:   pass,
		blocks: map[*ssa.Function][]string{},
		leases: map[*ssa.Function]*LeaseFact{},
		ops:    map[ssa.Instruction][]string{},
	}
	// Analyzers must never panic on odd code: a failure leaves the package
	// with no facts rather than stopping the run.
	defer func() {
		if p := recover(); p != nil {
			res, err = r, nil
		}
	}()
	if ssaRes == nil || ssaRes.Pkg == nil || isStd(pass) || trusted(pass.Pkg.Path()) {
		// The standard library is described by the intrinsic operations;
		// deriving facts from its bodies would mark http.Client.Do with a
		// Timeout as blocking through its internal channel receives.
		return r, nil
	}
	r.compute()
	return r, nil
}

// trusted reports whether path is one of sluice's own primitives: they all
// wait with a ctx, and their internal hand-off receives (a grant already
// in flight) would otherwise read as unbounded waits to their callers.
func trusted(path string) bool {
	const root = "github.com/sluice-go/sluice/"
	return strings.HasPrefix(path, root) && !strings.HasPrefix(path, root+"demo") && !strings.HasPrefix(path, root+"vet") && !strings.HasPrefix(path, root+"cmd")
}

// isStd reports whether pass analyses a standard-library package.
func isStd(pass *analysis.Pass) bool { return ssapass.IsStd(pass) }

// compute runs the per-package fixpoint: blocking chains and leases grow
// monotonically (a function is never un-marked), so iteration terminates.
func (r *Result) compute() {
	funcs := r.SSA.SrcFuncs
	r.net = netcall.New(r.SSA.Pkg, funcs)
	r.fieldIndex(funcs)
	for _, fn := range funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if op, ok := r.directOp(instr); ok {
					r.ops[instr] = []string{op}
				}
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, fn := range funcs {
			if _, done := r.blocks[fn]; !done {
				if chain, ok := r.scanBlocking(fn); ok {
					r.blocks[fn] = chain
					changed = true
				}
			}
			if _, done := r.leases[fn]; !done {
				if l := r.findLease(fn); l != nil {
					r.leases[fn] = l
					changed = true
				}
			}
		}
	}
	for _, fn := range funcs {
		obj := funcObj(fn)
		if obj == nil || obj.Pkg() != r.pkg || fn.Parent() != nil {
			continue
		}
		if chain, ok := r.blocks[fn]; ok {
			r.pass.ExportObjectFact(obj, &BlockFact{Chain: chain})
		}
		if l, ok := r.leases[fn]; ok {
			r.pass.ExportObjectFact(obj, l)
		}
	}
}

// scanBlocking finds the first instruction of fn that may block.
func (r *Result) scanBlocking(fn *ssa.Function) ([]string, bool) {
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			if chain, ok := r.blocking(instr); ok {
				return append([]string{qualName(fn)}, chain...), true
			}
		}
	}
	return nil, false
}

// funcObj is the *types.Func facts about fn hang on: its generic origin's.
func funcObj(fn *ssa.Function) *types.Func {
	if fn == nil {
		return nil
	}
	if o := fn.Origin(); o != nil {
		fn = o
	}
	tf, _ := fn.Object().(*types.Func)
	if tf != nil {
		tf = tf.Origin()
	}
	return tf
}

func canon(fn *ssa.Function) *ssa.Function {
	if o := fn.Origin(); o != nil {
		return o
	}
	return fn
}

// funcBlocking is the qualified chain for a call to fn.
func (r *Result) funcBlocking(fn *ssa.Function) ([]string, bool) {
	fn = canon(fn)
	if c, ok := r.blocks[fn]; ok {
		return c, true
	}
	if fn.Parent() != nil || fn.Synthetic != "" && fn.Object() == nil {
		return nil, false
	}
	obj := funcObj(fn)
	if obj == nil || obj.Pkg() == nil || obj.Pkg() == r.pkg {
		return nil, false
	}
	var f BlockFact
	if r.pass.ImportObjectFact(obj, &f) && len(f.Chain) > 0 {
		if coordination(f.Chain[len(f.Chain)-1]) && !r.sameModule(obj.Pkg().Path()) {
			// Another module's internal coordination (its own goroutines,
			// pools and queues) is that module's business: counting it made
			// most findings on real code point into library internals.
			return nil, false
		}
		return f.Chain, true
	}
	return nil, false
}

// coordination reports whether the blocking operation op (a chain's last
// element) is goroutine coordination (a WaitGroup, a Cond, a channel) rather
// than a wait on the outside world (the network, a sleep or poll, a
// semaphore with no deadline, select{}).
func coordination(op string) bool {
	switch {
	case op == "WaitGroup.Wait", op == "Cond.Wait":
		return true
	case strings.HasSuffix(op, "(timer)"):
		return false
	case strings.HasPrefix(op, "<-"), strings.HasPrefix(op, "send on "), strings.HasPrefix(op, "select with no"):
		return true
	}
	return false
}

// sameModule reports whether the package at path belongs to the module
// being analysed. With no module information, everything does.
func (r *Result) sameModule(path string) bool {
	m := r.pass.Module
	if m == nil || m.Path == "" {
		return true
	}
	return path == m.Path || strings.HasPrefix(path, m.Path+"/")
}

func (r *Result) lease(fn *ssa.Function) *LeaseFact {
	fn = canon(fn)
	if l, ok := r.leases[fn]; ok {
		return l
	}
	obj := funcObj(fn)
	if obj == nil || obj.Pkg() == nil || obj.Pkg() == r.pkg {
		return nil
	}
	var f LeaseFact
	if r.pass.ImportObjectFact(obj, &f) {
		return &f
	}
	return nil
}

// blocking is the qualified chain of one instruction.
func (r *Result) blocking(instr ssa.Instruction) ([]string, bool) {
	if c, ok := r.ops[instr]; ok {
		return c, true
	}
	if _, ok := r.ops[instr]; !ok && r.SSA != nil && instr.Parent() != nil && instr.Parent().Pkg != r.SSA.Pkg {
		// An instruction of a body this package did not scan.
		if op, ok := r.directOp(instr); ok {
			return []string{op}, true
		}
	}
	if u, ok := instr.(*ssa.UnOp); ok && u.Op == token.ARROW {
		// A future made here: blocks if a goroutine producing it may.
		if !afterStop(u) {
			if c, ok := r.future(u.X, true); ok && c != nil {
				return append([]string{"<-" + display(u.X) + " from a goroutine"}, c...), true
			}
			if c, ok := r.feedBlocks(u.X); ok {
				return append([]string{"<-" + display(u.X) + " from its producer"}, c...), true
			}
		}
		return nil, false
	}
	if s, ok := instr.(*ssa.Select); ok {
		// A select with no other escape that waits on owned producers
		// blocks only if every such producer may.
		if !s.Blocking || selectEscape(s) {
			return nil, false
		}
		var chain []string
		for _, st := range s.States {
			if st.Dir != types.RecvOnly {
				continue
			}
			if _, feed := r.ownedFeed(st.Chan); !feed {
				continue
			}
			c, ok := r.feedBlocks(st.Chan)
			if !ok {
				return nil, false // this producer always answers
			}
			if chain == nil {
				chain = append([]string{"select on " + display(st.Chan) + " from its producer"}, c...)
			}
		}
		return chain, chain != nil
	}
	call, ok := instr.(*ssa.Call)
	if !ok {
		return nil, false
	}
	callee := call.Call.StaticCallee()
	if callee == nil {
		return nil, false
	}
	if c, ok := r.funcBlocking(callee); ok {
		return c, true
	}
	// A lease function called with a callback that blocks blocks too.
	if l := r.lease(callee); l != nil {
		for _, i := range l.Params {
			if i < 0 || i >= len(call.Call.Args) {
				continue
			}
			if cb := ssapass.StaticFunc(call.Call.Args[i]); cb != nil {
				if c, ok := r.funcBlocking(cb); ok {
					return append([]string{qualName(callee)}, c...), true
				}
			}
		}
	}
	return nil, false
}

// feedBlocks reports whether ch is an owned producer's channel (see
// ownedFeed) whose producer may block, with the producer's chain.
func (r *Result) feedBlocks(ch ssa.Value) ([]string, bool) {
	producers, ok := r.ownedFeed(ch)
	if !ok {
		return nil, false
	}
	for _, p := range producers {
		if c, ok := r.funcBlocking(p); ok {
			return c, true
		}
	}
	return nil, false
}

func (r *Result) trim(chain []string, ok bool) ([]string, bool) {
	if !ok {
		return nil, false
	}
	prefix := r.pkg.Name() + "."
	out := make([]string, len(chain))
	for i, c := range chain {
		out[i] = strings.TrimPrefix(c, prefix)
	}
	return out, true
}

// qualName renders fn as pkg.F, pkg.T.M, or pkg.F.func1 for a literal.
func qualName(fn *ssa.Function) string {
	if fn == nil {
		return "?"
	}
	if p := fn.Parent(); p != nil {
		name := fn.Name()
		if i := strings.LastIndex(name, "$"); i >= 0 {
			return qualName(p) + ".func" + name[i+1:]
		}
		return qualName(p) + "." + name
	}
	fn = canon(fn)
	pkg := ""
	if obj := funcObj(fn); obj != nil && obj.Pkg() != nil {
		pkg = obj.Pkg().Name() + "."
	} else if fn.Pkg != nil {
		pkg = fn.Pkg.Pkg.Name() + "."
	}
	if recv := fn.Signature.Recv(); recv != nil {
		return pkg + typeName(recv.Type()) + "." + fn.Name()
	}
	return pkg + fn.Name()
}

func typeName(t types.Type) string {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	switch t := types.Unalias(t).(type) {
	case *types.Named:
		return t.Obj().Name()
	case *types.TypeParam:
		return t.Obj().Name()
	}
	return types.TypeString(t, func(*types.Package) string { return "" })
}

// --- intrinsic operations -------------------------------------------------

// calleeID names a static callee as "pkgpath.Recv.Name" (Recv without
// pointer or type arguments), or "" for a dynamic call.
func calleeID(c *ssa.CallCommon) (id string, fn *ssa.Function) {
	fn = c.StaticCallee()
	if fn == nil {
		return "", nil
	}
	obj := funcObj(fn)
	if obj == nil || obj.Pkg() == nil {
		return "", fn
	}
	sig, _ := obj.Type().(*types.Signature)
	if sig != nil && sig.Recv() != nil {
		return obj.Pkg().Path() + "." + typeName(sig.Recv().Type()) + "." + obj.Name(), fn
	}
	return obj.Pkg().Path() + "." + obj.Name(), fn
}

// invokeID names an interface method call as "pkgpath.Iface.Name".
func invokeID(c *ssa.CallCommon) string {
	if !c.IsInvoke() || c.Method == nil {
		return ""
	}
	t := types.Unalias(c.Value.Type())
	if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil {
		return n.Obj().Pkg().Path() + "." + n.Obj().Name() + "." + c.Method.Name()
	}
	return ""
}

const (
	xsem      = "golang.org/x/sync/semaphore.Weighted."
	sluiceSem = "github.com/sluice-go/sluice/sem.Semaphore."
)

// directOp classifies an instruction that blocks by itself (not through a
// call into this program's code) and names it.
func (r *Result) directOp(instr ssa.Instruction) (string, bool) {
	switch in := instr.(type) {
	case *ssa.Call:
		return r.intrinsicCall(in)
	case *ssa.UnOp:
		if in.Op != token.ARROW {
			return "", false
		}
		return r.recvBlocks(in)
	case *ssa.Send:
		return r.sendBlocks(in)
	case *ssa.Select:
		return r.selectBlocks(in)
	}
	return "", false
}

func (r *Result) intrinsicCall(call *ssa.Call) (string, bool) {
	if r.net != nil {
		if name, ok := r.net.Untimed(call); ok {
			return name, true
		}
	}
	c := &call.Call
	id, _ := calleeID(c)
	switch id {
	case "time.Sleep":
		return "time.Sleep", true
	case "sync.WaitGroup.Wait":
		if afterStop(call) {
			return "", false
		}
		return "WaitGroup.Wait", true
	case "sync.Cond.Wait":
		return "Cond.Wait", true
	case xsem + "Acquire", sluiceSem + "Acquire", sluiceSem + "Permit":
		if len(c.Args) > 1 && isBackground(c.Args[1]) {
			if strings.HasPrefix(id, xsem) {
				return "semaphore.Weighted.Acquire (no deadline)", true
			}
			return "sem.Semaphore." + id[len(sluiceSem):] + " (no deadline)", true
		}
	}
	return "", false
}

// isBackground reports whether ctx is context.Background() or TODO().
func isBackground(v ssa.Value) bool {
	if c, ok := v.(*ssa.Call); ok {
		id, _ := calleeID(&c.Call)
		return id == "context.Background" || id == "context.TODO"
	}
	return false
}

func fieldOf(t types.Type, i int) *types.Var {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	s, ok := t.Underlying().(*types.Struct)
	if !ok || i < 0 || i >= s.NumFields() {
		return nil
	}
	return s.Field(i)
}
