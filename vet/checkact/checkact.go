package checkact

import (
	"fmt"
	"go/token"
	"go/types"
	"slices"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/diag"
	"github.com/sluice-go/sluice/vet/internal/facts"
)

// Analyzer reports check-then-act on shared state across a yield.
var Analyzer = &analysis.Analyzer{
	Name:     "checkact",
	Doc:      "report a check of shared state followed by an act on it across a lock release, a goroutine hand-off, or (sync.Map, atomics) with nothing joining the two steps",
	URL:      "https://github.com/sluice-go/sluice/tree/main/vet/checkact",
	Requires: []*analysis.Analyzer{ssapass.Analyzer, facts.Analyzer},
	Run:      run,
}

// kind is the sort of state: plain map or field, sync.Map, atomic.
type kind int

const (
	plain kind = iota
	syncMap
	atomicVal
)

// elem is one step of a term: a field, or a map key / index.
type elem struct {
	field    string // field name; "" for a key
	embedded bool   // an embedded field, left out of the displayed name
	key      *term  // the key or index, for a key step
}

// term names a piece of state: a root value and the steps from it.
type term struct {
	root  ssa.Value
	star  bool   // root is a variable cell (Alloc, FreeVar) and the term is its content
	konst string // root is a constant: its value
	elems []elem
	idc   string // id, once computed (terms are not changed after they are made)
}

func (t *term) with(e elem) *term {
	n := &term{root: t.root, star: t.star, konst: t.konst}
	n.elems = append(append([]elem(nil), t.elems...), e)
	return n
}

// id is the identity of t: equal ids name the same state in one function.
func (t *term) id() string {
	if t.idc != "" {
		return t.idc
	}
	t.idc = t.id1()
	return t.idc
}

func (t *term) id1() string {
	var b strings.Builder
	switch r := t.root.(type) {
	case nil:
		b.WriteString("c:" + t.konst)
	case *ssa.Global:
		b.WriteString("g:" + r.Pkg.Pkg.Path() + "." + r.Name())
	default:
		fmt.Fprintf(&b, "v%p", r)
	}
	if t.star {
		b.WriteString("*")
	}
	for _, e := range t.elems {
		if e.key != nil {
			b.WriteString("[" + e.key.id() + "]")
		} else {
			b.WriteString("." + e.field)
		}
	}
	return b.String()
}

// show renders t as source-like text: n.out[peer].
func (t *term) show() string {
	var b strings.Builder
	switch r := t.root.(type) {
	case nil:
		b.WriteString(t.konst)
	case *ssa.Parameter, *ssa.Global, *ssa.FreeVar:
		b.WriteString(r.Name())
	case *ssa.Alloc:
		if r.Comment != "" {
			b.WriteString(r.Comment)
		} else {
			b.WriteString("…")
		}
	default:
		b.WriteString("…")
	}
	for _, e := range t.elems {
		switch {
		case e.key != nil:
			b.WriteString("[" + e.key.show() + "]")
		case e.embedded:
		default:
			b.WriteString("." + e.field)
		}
	}
	return b.String()
}

// shared reports whether t is reachable by other goroutines: rooted at a
// parameter or receiver, a package variable or a captured variable.
func (t *term) shared() bool {
	switch t.root.(type) {
	case *ssa.Parameter, *ssa.Global, *ssa.FreeVar:
		return true
	}
	return false
}

// mappable reports whether a callee's term can be rewritten in a caller.
func (t *term) mappable() bool { return t.shared() }

// read is a check: a read of state that decides a branch or feeds a store.
type read struct {
	at    ssa.Instruction // where it happens in the function (a call site for a summary)
	st    *term
	kind  kind
	inner string // a lock the callee held around the read and released before returning
	via   string // the callee a summary read came through
}

// act is a store to state.
type act struct {
	at        ssa.Instruction
	st        *term
	kind      kind
	val       ssa.Value // the value stored, for read-modify-write; nil through a summary
	inner     string    // a lock the callee held at the store
	innerWhy  string    // what the callee does before the store that may block
	via       string    // the callee (or goroutine) the act came through
	handoff   bool      // the act runs in a goroutine started at at
	storedNil bool      // a nil store, or for plain state any constant
	vk        valKind   // where the stored value comes from
	vparam    int       // for vk == vParam: the parameter's index
	vmask     uint64    // for vk == vPure or vParam: the parameters the value is computed from
}

// valKind classifies a stored value by whether two goroutines that both
// passed the check would store the same thing, harmlessly.
type valKind int

const (
	vPure   valKind = iota // computed deterministically from state, key or allocation: an idempotent fill
	vConst                 // a constant
	vParam                 // exactly a parameter of the function (mapped to the argument through a summary)
	vVaries                // differs between racers, or made by a call with side effects (opens, dials, blocks, starts a goroutine, time, rand, unknown functions)
)

type checker struct {
	pass *analysis.Pass
	pkg  *ssa.Package

	checks   map[*ssa.Function]map[int][]read // summary: result index -> reads
	acts     map[*ssa.Function][]act          // summary: exposed acts
	blocks   map[*ssa.Function]string         // summary: why a call may block ("" if not)
	busy     map[*ssa.Function]bool
	lockIn   map[*ssa.Function]map[*ssa.BasicBlock]map[string]string
	skipped  map[*ssa.Function]bool
	facts    *facts.Result // the shared "may block with no deadline" facts; may be nil
	reads    map[ssa.Value][]read
	blockOps map[ssa.Instruction]string

	actsMemo  map[*ssa.Function][]act
	heldMemo  map[ssa.Instruction]map[string]string
	ifs       map[*ssa.Function][]ifCheck
	guardMemo map[[2]*ssa.BasicBlock]bool
	vals      map[ssa.Value]vclass
	callers   map[*ssa.Function][]ssa.CallInstruction // static call sites in this package
	escapes   map[*ssa.Function]bool                  // used as a value, or callable from outside the package
	callHeld  map[*ssa.Function]int                   // 1: every caller holds a lock at the call; 2: not; 3: in progress
	work      int                                     // work spent on the current top-level function
}

// Exploration caps. Summaries are substituted at every call site, so
// without them the work grows with the product of call-graph fan-out;
// when one is hit the function (or summary) is given up silently: a missed
// report, never a wrong one.
const (
	maxWork        = 400000 // work units (instructions, reads, acts, guard tests) per top-level function
	maxActs        = 128    // acts tracked in one function
	maxSummaryActs = 16     // distinct acts a summary exports
	maxSummaryRead = 16     // reads per result of a check summary
	maxVia         = 3      // callee chain length of a summarised act
)

// budgetExceeded is panicked when a function's work budget runs out; checkFunc recovers it.
type budgetExceeded struct{}

func (c *checker) spend(n int) {
	c.work += n
	if c.work > maxWork {
		panic(budgetExceeded{})
	}
}

// ifCheck is a block ending in an If and the reads its condition makes.
type ifCheck struct {
	b     *ssa.BasicBlock
	reads []read
}

func run(pass *analysis.Pass) (any, error) {
	s, ok := pass.ResultOf[ssapass.Analyzer].(*buildssa.SSA)
	if !ok || s == nil {
		return nil, nil
	}
	c := &checker{
		pass:     pass,
		pkg:      s.Pkg,
		checks:   map[*ssa.Function]map[int][]read{},
		acts:     map[*ssa.Function][]act{},
		blocks:   map[*ssa.Function]string{},
		busy:     map[*ssa.Function]bool{},
		lockIn:   map[*ssa.Function]map[*ssa.BasicBlock]map[string]string{},
		skipped:  map[*ssa.Function]bool{},
		reads:    map[ssa.Value][]read{},
		blockOps: map[ssa.Instruction]string{},

		actsMemo:  map[*ssa.Function][]act{},
		heldMemo:  map[ssa.Instruction]map[string]string{},
		ifs:       map[*ssa.Function][]ifCheck{},
		guardMemo: map[[2]*ssa.BasicBlock]bool{},
		vals:      map[ssa.Value]vclass{},
		callHeld:  map[*ssa.Function]int{},
	}
	c.indexCalls(s.SrcFuncs)
	c.facts, _ = pass.ResultOf[facts.Analyzer].(*facts.Result)
	generated := map[*token.File]bool{}
	for _, f := range pass.Files {
		if diag.Generated(pass.Fset, f) {
			generated[pass.Fset.File(f.Pos())] = true
		}
	}
	for _, fn := range s.SrcFuncs {
		if fn == nil || fn.Blocks == nil {
			continue
		}
		if tf := pass.Fset.File(fn.Pos()); tf != nil && generated[tf] {
			continue
		}
		c.checkFunc(fn)
	}
	return nil, nil
}

// checkFunc reports the hazards inside fn. Odd code must never crash the
// whole vet run, so a panic here drops the function.
func (c *checker) checkFunc(fn *ssa.Function) {
	c.work = 0
	defer func() {
		if r := recover(); r != nil {
			c.skipped[fn] = true
		}
	}()
	if isInit(fn) {
		return
	}
	for _, a := range c.actsIn(fn) {
		if c.ownedByGoroutine(fn, a.st) {
			continue
		}
		c.judge(fn, a)
	}
}

// ownedByGoroutine reports whether fn is the body of one goroutine (a func
// literal started by a single go statement outside any loop) and t belongs
// to a value its starter made for it: then fn is the only goroutine that
// checks and sets t (a sampler tracking a maximum, say).
func (c *checker) ownedByGoroutine(fn *ssa.Function, t *term) bool {
	fv, ok := t.root.(*ssa.FreeVar)
	parent := fn.Parent()
	if !ok || parent == nil {
		return false
	}
	i := -1
	for j, v := range fn.FreeVars {
		if v == fv {
			i = j
		}
	}
	for _, b := range parent.Blocks {
		for _, instr := range b.Instrs {
			mc, ok := instr.(*ssa.MakeClosure)
			if !ok || mc.Fn != fn || i < 0 || i >= len(mc.Bindings) {
				continue
			}
			refs := *mc.Referrers()
			if len(refs) != 1 {
				return false
			}
			g, ok := refs[0].(*ssa.Go)
			if !ok || g.Call.Value != mc || ssapass.InLoop(g.Block()) {
				return false
			}
			cell, ok := mc.Bindings[i].(*ssa.Alloc)
			return ok && !cellContent(cell).shared()
		}
	}
	return false
}

func isInit(fn *ssa.Function) bool {
	for f := fn; f != nil; f = f.Parent() {
		if (f.Name() == "init" || strings.HasPrefix(f.Name(), "init#")) && f.Signature.Recv() == nil && f.Parent() == nil {
			return true
		}
		if f.Synthetic == "package initializer" {
			return true
		}
	}
	return false
}

// ---- terms ----

// path names the state v denotes, or a term rooted at v itself when it is
// not a field, element or variable.
func (c *checker) path(v ssa.Value, depth int) *term {
	if depth > 12 {
		return &term{root: v}
	}
	switch x := v.(type) {
	case *ssa.Const:
		if x.Value == nil {
			return &term{konst: "nil"}
		}
		return &term{konst: x.Value.ExactString()}
	case *ssa.FieldAddr:
		return c.path(x.X, depth+1).with(fieldElem(x.X.Type(), x.Field))
	case *ssa.Field:
		return c.path(x.X, depth+1).with(fieldElem(x.X.Type(), x.Field))
	case *ssa.IndexAddr:
		return c.path(x.X, depth+1).with(elem{key: c.path(x.Index, depth+1)})
	case *ssa.Index:
		return c.path(x.X, depth+1).with(elem{key: c.path(x.Index, depth+1)})
	case *ssa.ChangeType:
		return c.path(x.X, depth+1)
	case *ssa.MakeInterface:
		return c.path(x.X, depth+1)
	case *ssa.UnOp:
		if x.Op == token.MUL {
			switch cell := x.X.(type) {
			case *ssa.Alloc:
				return cellContent(cell)
			case *ssa.FreeVar:
				return &term{root: cell, star: true}
			}
			return c.path(x.X, depth+1)
		}
	}
	return &term{root: v}
}

// cellContent is the content of a local variable cell: a spilled parameter
// (a captured receiver, say) is the parameter itself.
func cellContent(a *ssa.Alloc) *term {
	var param *ssa.Parameter
	for _, r := range *a.Referrers() {
		if st, ok := r.(*ssa.Store); ok && st.Addr == a {
			p, ok := st.Val.(*ssa.Parameter)
			if !ok || (param != nil && param != p) {
				return &term{root: a, star: true}
			}
			param = p
		}
	}
	if param != nil {
		return &term{root: param}
	}
	return &term{root: a, star: true}
}

func fieldElem(t types.Type, i int) elem {
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := t.Underlying().(*types.Struct)
	if !ok || i < 0 || i >= st.NumFields() {
		return elem{field: fmt.Sprintf("#%d", i)}
	}
	f := st.Field(i)
	return elem{field: f.Name(), embedded: f.Anonymous()}
}

// subst rewrites a callee's term into the caller, given the caller values
// bound to the callee's parameters and free variables; nil if it cannot.
func subst(t *term, callee *ssa.Function, args []ssa.Value, binds []ssa.Value, c *checker) *term {
	if t == nil {
		return nil
	}
	var out *term
	switch r := t.root.(type) {
	case nil:
		out = &term{konst: t.konst}
	case *ssa.Global:
		out = &term{root: r, star: t.star}
	case *ssa.Parameter:
		i := indexOf(callee.Params, r)
		if i < 0 || i >= len(args) {
			return nil
		}
		out = c.path(args[i], 0)
	case *ssa.FreeVar:
		i := -1
		for j, fv := range callee.FreeVars {
			if fv == r {
				i = j
			}
		}
		if i < 0 || i >= len(binds) {
			return nil
		}
		b := binds[i]
		if !t.star {
			out = c.path(b, 0)
		} else if a, ok := b.(*ssa.Alloc); ok {
			out = cellContent(a)
		} else if fv, ok := b.(*ssa.FreeVar); ok {
			out = &term{root: fv, star: true}
		} else {
			return nil
		}
	default:
		return nil
	}
	for _, e := range t.elems {
		if e.key != nil {
			k := subst(e.key, callee, args, binds, c)
			if k == nil {
				k = &term{root: e.key.root, konst: "?"} // unmatchable
			}
			out = out.with(elem{key: k})
		} else {
			out = out.with(e)
		}
	}
	return out
}

func indexOf(ps []*ssa.Parameter, p *ssa.Parameter) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

// ---- calls ----

// methodOf returns the package path, receiver type name and name of a
// static callee (receiver "" for a function).
func methodOf(fn *ssa.Function) (pkg, recv, name string) {
	if fn == nil {
		return "", "", ""
	}
	if o := fn.Origin(); o != nil {
		fn = o
	}
	obj, _ := fn.Object().(*types.Func)
	if obj == nil || obj.Pkg() == nil {
		return "", "", fn.Name()
	}
	pkg = obj.Pkg().Path()
	if sig, ok := obj.Type().(*types.Signature); ok && sig.Recv() != nil {
		t := sig.Recv().Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok {
			recv = n.Obj().Name()
		}
	}
	return pkg, recv, obj.Name()
}

func isAtomicType(recv string) bool {
	switch recv {
	case "Bool", "Int32", "Int64", "Uint32", "Uint64", "Uintptr", "Pointer", "Value":
		return true
	}
	return false
}

// lockOp classifies a call as a lock acquire (+1) or release (-1) and names
// the lock. Besides sync.Mutex and sync.RWMutex it knows per-key locks
// (sluice keyed.Mutex, moby/locker-style Locker): Lock/Unlock methods of a
// type named *Mutex or *Locker, the lock being the receiver and the key.
func (c *checker) lockOp(call *ssa.CallCommon) (id, name string, op int) {
	pkg, recv, m := methodOf(call.StaticCallee())
	if len(call.Args) == 0 {
		return "", "", 0
	}
	keyedLock := pkg != "sync" && (strings.HasSuffix(recv, "Mutex") || strings.HasSuffix(recv, "Locker"))
	if !(pkg == "sync" && (recv == "Mutex" || recv == "RWMutex")) && !keyedLock {
		return "", "", 0
	}
	switch m {
	case "Lock", "RLock":
		op = 1
	case "Unlock", "RUnlock":
		op = -1
	default:
		return "", "", 0
	}
	t := c.path(call.Args[0], 0)
	id = t.id()
	for _, a := range call.Args[1:] {
		if n, ok := types.Unalias(a.Type()).(*types.Named); ok && n.Obj().Name() == "Context" {
			continue
		}
		k := c.path(a, 0)
		id += "|" + k.id()
		t = t.with(elem{key: k})
	}
	return id, t.show(), op
}

// covers reports whether the lock id can protect st: a per-key lock only
// protects state indexed by its key.
func covers(id string, st *term) bool {
	parts := strings.Split(id, "|")
	for _, k := range parts[1:] {
		found := false
		for _, e := range st.elems {
			if e.key != nil && e.key.id() == k {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// blocking says why instr may block (for the evidence), or "".
func (c *checker) blocking(instr ssa.Instruction) string {
	if w, ok := c.blockOps[instr]; ok {
		return w
	}
	w := c.blocking1(instr)
	c.blockOps[instr] = w
	return w
}

func (c *checker) blocking1(instr ssa.Instruction) string {
	// The shared facts know blocking across packages; the list below adds
	// the waits that have a deadline, which still let another caller in.
	if chain, ok := c.facts.Blocking(instr); ok && len(chain) > 0 {
		return strings.Join(chain, " -> ")
	}
	switch x := instr.(type) {
	case *ssa.UnOp:
		if x.Op == token.ARROW {
			return "a channel receive"
		}
	case *ssa.Send:
		return "a channel send"
	case *ssa.Select:
		if x.Blocking {
			return "a select"
		}
	case *ssa.Call:
		return c.callBlocks(x.Common())
	}
	return ""
}

func (c *checker) callBlocks(call *ssa.CallCommon) string {
	callee := call.StaticCallee()
	pkg, recv, name := methodOf(callee)
	qual := name
	if recv != "" {
		qual = recv + "." + name
	}
	switch {
	case pkg == "time" && name == "Sleep",
		pkg == "sync" && (recv == "WaitGroup" || recv == "Cond") && name == "Wait":
		return shortPkg(pkg) + "." + qual
	case pkg == "net" && (strings.HasPrefix(name, "Dial") || strings.HasPrefix(name, "Listen") || name == "Read" || name == "Write" || name == "Accept"),
		pkg == "net/http" && (recv == "Client" || recv == "") && (name == "Do" || name == "Get" || name == "Post" || name == "Head" || name == "PostForm"):
		return shortPkg(pkg) + "." + qual + " (network I/O)"
	}
	if callee != nil && callee.Pkg == c.pkg && callee.Blocks != nil {
		if why := c.funcBlocks(callee); why == "takes a context" {
			return callee.Name() + " (takes a context)"
		} else if why != "" {
			return callee.Name() + " -> " + why
		}
		return ""
	}
	var sig *types.Signature
	if call.IsInvoke() {
		if call.Method != nil {
			sig, _ = call.Method.Type().(*types.Signature)
			name = call.Method.Name()
		}
	} else {
		sig, _ = call.Value.Type().Underlying().(*types.Signature)
		if callee == nil {
			name = "a function value"
		}
	}
	if sig != nil && takesContext(sig) && pkg != "context" && pkg != "log/slog" {
		return name + " (takes a context)"
	}
	return ""
}

func shortPkg(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func takesContext(sig *types.Signature) bool {
	for i := 0; i < sig.Params().Len(); i++ {
		if n, ok := types.Unalias(sig.Params().At(i).Type()).(*types.Named); ok {
			if o := n.Obj(); o.Pkg() != nil && o.Pkg().Path() == "context" && o.Name() == "Context" {
				return true
			}
		}
	}
	return false
}

// funcBlocks says why a call to fn (of this package) may block, or "".
func (c *checker) funcBlocks(fn *ssa.Function) string {
	if why, ok := c.blocks[fn]; ok {
		return why
	}
	c.blocks[fn] = "" // cycle guard
	why := ""
	if takesContext(fn.Signature) {
		why = "takes a context"
	}
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			if w := c.blocking(instr); w != "" && why == "" {
				why = w
			}
		}
	}
	c.blocks[fn] = why
	return why
}

// ---- locks held ----

// heldAt returns the locks surely held just before instr (id -> name).
func (c *checker) heldAt(instr ssa.Instruction) map[string]string {
	if h, ok := c.heldMemo[instr]; ok {
		return h // shared: callers only read it
	}
	h := c.heldAt1(instr)
	c.heldMemo[instr] = h
	return h
}

// anyHeld names one lock of held (the least, so evidence is stable), or "".
func anyHeld(held map[string]string) string {
	best := ""
	for _, name := range held {
		if best == "" || name < best {
			best = name
		}
	}
	return best
}

func (c *checker) heldAt1(instr ssa.Instruction) map[string]string {
	b := instr.Block()
	fn := b.Parent()
	in := c.lockIn[fn]
	if in == nil {
		in = c.lockDataflow(fn)
		c.lockIn[fn] = in
	}
	held := copySet(in[b])
	c.spend(len(b.Instrs))
	for _, i := range b.Instrs {
		if i == instr {
			break
		}
		c.transfer(i, held)
	}
	return held
}

func copySet(m map[string]string) map[string]string {
	n := make(map[string]string, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

func (c *checker) transfer(i ssa.Instruction, held map[string]string) {
	call, ok := i.(*ssa.Call)
	if !ok {
		return
	}
	id, name, op := c.lockOp(call.Common())
	switch op {
	case 1:
		held[id] = name
	case -1:
		delete(held, id)
	}
}

// lockDataflow computes the locks surely held on entry to each block: the
// intersection over predecessors. A deferred Unlock runs at return, so the
// lock stays held to the end of the function.
func (c *checker) lockDataflow(fn *ssa.Function) map[*ssa.BasicBlock]map[string]string {
	in := map[*ssa.BasicBlock]map[string]string{}
	out := map[*ssa.BasicBlock]map[string]string{}
	if len(fn.Blocks) == 0 {
		return in
	}
	in[fn.Blocks[0]] = map[string]string{}
	for changed, rounds := true, 0; changed && rounds < 50; rounds++ {
		changed = false
		c.spend(len(fn.Blocks))
		for _, b := range fn.Blocks {
			var cur map[string]string
			if b.Index == 0 {
				cur = map[string]string{}
			} else {
				for _, p := range b.Preds {
					po, ok := out[p]
					if !ok {
						continue // not reached yet: top
					}
					if cur == nil {
						cur = copySet(po)
						continue
					}
					for k := range cur {
						if _, ok := po[k]; !ok {
							delete(cur, k)
						}
					}
				}
				if cur == nil {
					continue
				}
			}
			in[b] = cur
			o := copySet(cur)
			for _, i := range b.Instrs {
				c.transfer(i, o)
			}
			if old, ok := out[b]; !ok || !sameSet(old, o) {
				out[b] = o
				changed = true
			}
		}
	}
	return in
}

func sameSet(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// between returns the instructions on the paths from a to b (a before b),
// not passing through a or b again.
func between(a, b ssa.Instruction) []ssa.Instruction {
	ba, bb := a.Block(), b.Block()
	ia, ib := indexIn(ba, a), indexIn(bb, b)
	if ba == bb {
		if ia < ib {
			return ba.Instrs[ia+1 : ib]
		}
		return nil
	}
	fwd := map[*ssa.BasicBlock]bool{}
	var walk func(x *ssa.BasicBlock, next func(*ssa.BasicBlock) []*ssa.BasicBlock, seen map[*ssa.BasicBlock]bool)
	walk = func(x *ssa.BasicBlock, next func(*ssa.BasicBlock) []*ssa.BasicBlock, seen map[*ssa.BasicBlock]bool) {
		for _, y := range next(x) {
			if y == ba || y == bb || seen[y] {
				continue
			}
			seen[y] = true
			walk(y, next, seen)
		}
	}
	walk(ba, func(x *ssa.BasicBlock) []*ssa.BasicBlock { return x.Succs }, fwd)
	bwd := map[*ssa.BasicBlock]bool{}
	walk(bb, func(x *ssa.BasicBlock) []*ssa.BasicBlock { return x.Preds }, bwd)
	var out []ssa.Instruction
	out = append(out, ba.Instrs[ia+1:]...)
	for _, x := range ba.Parent().Blocks {
		if fwd[x] && bwd[x] {
			out = append(out, x.Instrs...)
		}
	}
	out = append(out, bb.Instrs[:ib]...)
	return out
}

func indexIn(b *ssa.BasicBlock, instr ssa.Instruction) int {
	for i, x := range b.Instrs {
		if x == instr {
			return i
		}
	}
	return -1
}

// ---- reads ----

// readsOf returns the state reads v is computed from (through comparisons,
// negation, conversions, tuple extraction and this package's calls).
func (c *checker) readsOf(v ssa.Value, at ssa.Instruction, depth int) []read {
	if depth > 8 || v == nil {
		return nil
	}
	if rs, ok := c.reads[v]; ok {
		return rs // memoized; nil while in progress (a cycle through a slot)
	}
	c.reads[v] = nil
	c.spend(1)
	rs := c.readsOf1(v, at, depth)
	c.reads[v] = rs
	return rs
}

func (c *checker) readsOf1(v ssa.Value, at ssa.Instruction, depth int) []read {
	switch x := v.(type) {
	case *ssa.BinOp:
		return append(c.readsOf(x.X, at, depth+1), c.readsOf(x.Y, at, depth+1)...)
	case *ssa.UnOp:
		switch x.Op {
		case token.NOT, token.SUB, token.XOR:
			return c.readsOf(x.X, at, depth+1)
		case token.MUL:
			if cell, local := x.X.(*ssa.Alloc); local {
				if t := c.path(x, 0); t.shared() {
					return []read{{at: x, st: t, kind: plain}}
				}
				// A local slot (a result kept for a deferred call, say):
				// what was stored in it.
				var out []read
				for _, r := range *cell.Referrers() {
					if st, ok := r.(*ssa.Store); ok && st.Addr == cell {
						out = append(out, c.readsOf(st.Val, at, depth+1)...)
					}
				}
				return out
			}
			return []read{{at: x, st: c.path(x, 0), kind: plain}}
		}
	case *ssa.Convert:
		return c.readsOf(x.X, at, depth+1)
	case *ssa.ChangeType:
		return c.readsOf(x.X, at, depth+1)
	case *ssa.Field:
		return []read{{at: x, st: c.path(x, 0), kind: plain}}
	case *ssa.Lookup:
		if _, ok := x.X.Type().Underlying().(*types.Map); ok {
			return []read{{at: x, st: c.path(x.X, 0).with(elem{key: c.path(x.Index, 0)}), kind: plain}}
		}
	case *ssa.Extract:
		switch t := x.Tuple.(type) {
		case *ssa.Lookup:
			return c.readsOf(t, at, depth+1)
		case *ssa.Call:
			return c.callReads(t, x.Index, depth)
		}
	case *ssa.Call:
		return c.callReads(x, 0, depth)
	}
	return nil
}

// callReads: an atomic Load, a sync.Map Load, or a call to a function of
// this package whose result i is a check.
func (c *checker) callReads(call *ssa.Call, i int, depth int) []read {
	cc := call.Common()
	callee := cc.StaticCallee()
	pkg, recv, name := methodOf(callee)
	switch {
	case pkg == "sync/atomic" && recv != "" && isAtomicType(recv) && name == "Load" && len(cc.Args) == 1:
		return []read{{at: call, st: c.path(cc.Args[0], 0), kind: atomicVal}}
	case pkg == "sync/atomic" && recv == "" && strings.HasPrefix(name, "Load") && len(cc.Args) == 1:
		return []read{{at: call, st: c.path(cc.Args[0], 0), kind: atomicVal}}
	case pkg == "sync" && recv == "Map" && name == "Load" && len(cc.Args) == 2:
		return []read{{at: call, st: c.path(cc.Args[0], 0).with(elem{key: c.path(cc.Args[1], 0)}), kind: syncMap}}
	}
	if callee == nil || callee.Pkg != c.pkg || callee.Blocks == nil || depth > 4 {
		return nil
	}
	var out []read
	for _, r := range c.checkSummary(callee)[i] {
		st := subst(r.st, callee, cc.Args, nil, c)
		if st == nil {
			continue
		}
		via := callee.Name()
		if r.via != "" {
			via += " -> " + r.via
		}
		out = append(out, read{at: call, st: st, kind: r.kind, inner: r.inner, via: via})
	}
	return out
}

// checkSummary: for each result of fn, the shared reads it is computed from,
// with the lock fn held around each read (released by the time it returns).
func (c *checker) checkSummary(fn *ssa.Function) map[int][]read {
	if s, ok := c.checks[fn]; ok {
		return s
	}
	c.checks[fn] = nil // cycle guard
	s := map[int][]read{}
	for _, b := range fn.Blocks {
		ret, ok := b.Instrs[len(b.Instrs)-1].(*ssa.Return)
		if !ok {
			continue
		}
		for i, v := range ret.Results {
			for _, r := range c.readsOf(v, ret, 1) {
				if !r.st.mappable() {
					continue
				}
				if r.inner == "" {
					r.inner = anyHeld(c.heldAt(r.at))
				}
				s[i] = append(s[i], r)
			}
		}
	}
	for i, rs := range s {
		if len(rs) > maxSummaryRead {
			delete(s, i) // too many to follow: give this result up
		}
	}
	c.checks[fn] = s
	return s
}

// ---- acts ----

// actsIn returns the stores to shared state in fn: direct ones, and those
// of this package's callees and of goroutines fn starts.
func (c *checker) actsIn(fn *ssa.Function) []act {
	if out, ok := c.actsMemo[fn]; ok {
		return out
	}
	var out []act
	for _, b := range fn.Blocks {
		c.spend(len(b.Instrs))
		for _, instr := range b.Instrs {
			out = append(out, c.actsAt(instr)...)
		}
	}
	if len(out) > maxActs {
		out = nil // too much to track: give the function up
	}
	c.actsMemo[fn] = out
	return out
}

// isConst: a plain store of a constant (a flag, a reset to nil) is
// idempotent, so two callers that both passed the check store the same
// thing; whether the work between was harmful twice is beyond this
// analyzer, and counting these flags drowns the open-and-register shape.
func isConst(v ssa.Value) bool {
	_, ok := v.(*ssa.Const)
	return ok
}

func isNil(v ssa.Value) bool {
	k, ok := v.(*ssa.Const)
	return ok && k.IsNil()
}

func (c *checker) actsAt(instr ssa.Instruction) []act {
	switch x := instr.(type) {
	case *ssa.Store:
		var t *term
		switch a := x.Addr.(type) {
		case *ssa.Alloc:
			return nil // a local variable
		case *ssa.FreeVar:
			t = &term{root: a, star: true}
		default:
			t = c.path(x.Addr, 0)
		}
		if !t.shared() {
			return nil
		}
		return []act{c.valued(act{at: x, st: t, kind: plain, val: x.Val, storedNil: isConst(x.Val)})}
	case *ssa.MapUpdate:
		t := c.path(x.Map, 0).with(elem{key: c.path(x.Key, 0)})
		if !t.shared() {
			return nil
		}
		return []act{c.valued(act{at: x, st: t, kind: plain, val: x.Value, storedNil: isConst(x.Value)})}
	case *ssa.Call:
		cc := x.Common()
		callee := cc.StaticCallee()
		pkg, recv, name := methodOf(callee)
		var a *act
		switch {
		case pkg == "sync/atomic" && recv != "" && isAtomicType(recv) && name == "Store" && len(cc.Args) == 2:
			a = &act{at: x, st: c.path(cc.Args[0], 0), kind: atomicVal, val: cc.Args[1]}
		case pkg == "sync/atomic" && recv == "" && strings.HasPrefix(name, "Store") && len(cc.Args) == 2:
			a = &act{at: x, st: c.path(cc.Args[0], 0), kind: atomicVal, val: cc.Args[1]}
		case pkg == "sync" && recv == "Map" && name == "Store" && len(cc.Args) == 3:
			a = &act{at: x, st: c.path(cc.Args[0], 0).with(elem{key: c.path(cc.Args[1], 0)}), kind: syncMap, val: cc.Args[2]}
		}
		if a != nil {
			if !a.st.shared() {
				return nil
			}
			a.storedNil = isNil(a.val)
			return []act{c.valued(*a)}
		}
		if callee != nil && callee.Pkg == c.pkg && callee.Blocks != nil {
			return c.substActs(x, callee, cc.Args, nil, false)
		}
	case *ssa.Go:
		cc := x.Common()
		if mc, ok := cc.Value.(*ssa.MakeClosure); ok {
			if fn, ok := mc.Fn.(*ssa.Function); ok && fn.Blocks != nil {
				return c.substActs(x, fn, cc.Args, mc.Bindings, true)
			}
		}
		if callee := cc.StaticCallee(); callee != nil && callee.Pkg == c.pkg && callee.Blocks != nil {
			return c.substActs(x, callee, cc.Args, nil, true)
		}
	}
	return nil
}

func (c *checker) substActs(at ssa.Instruction, callee *ssa.Function, args, binds []ssa.Value, handoff bool) []act {
	var out []act
	for _, a := range c.actSummary(callee) {
		c.spend(1 + len(a.st.elems))
		st := subst(a.st, callee, args, binds, c)
		if st == nil || !st.shared() {
			continue
		}
		vk, vparam, vmask, storedNil := a.vk, a.vparam, a.vmask, a.storedNil
		switch {
		case handoff:
			vk = vVaries // a goroutine started after the check is itself the act
		case vk == vParam && a.vparam < len(args):
			// The callee stores its parameter: what the caller passes decides.
			vk, vparam, vmask = c.classify(args[a.vparam])
			if vk == vConst && a.kind == plain {
				storedNil = true
			}
		case vk == vPure || vk == vParam:
			// Computed from the callee's parameters: from what the caller passes.
			vs := []vclass{{k: vPure}}
			for i := 0; i < 64; i++ {
				if vmask&paramBit(i) == 0 {
					continue
				}
				if i >= len(args) || i == 63 {
					vs = append(vs, vclass{k: vVaries})
					break
				}
				if p, ok := args[i].(*ssa.Parameter); ok && p.Parent() != nil {
					vs = append(vs, vclass{k: vPure, mask: paramBit(indexOf(p.Parent().Params, p))})
				} else {
					vs = append(vs, c.classifyVal(args[i], 0))
				}
			}
			w := worst(vs...)
			vk, vparam, vmask = w.k, 0, w.mask
		}
		via := callee.Name()
		if callee.Parent() != nil {
			via = "a func literal"
		}
		if a.via != "" {
			via += " -> " + a.via
		}
		out = append(out, act{at: at, st: st, kind: a.kind, inner: a.inner, innerWhy: a.innerWhy,
			via: via, handoff: handoff || a.handoff, storedNil: storedNil, vk: vk, vparam: vparam, vmask: vmask})
	}
	return out
}

// actSummary: the acts of fn that no check inside fn guards (those fn
// answers for itself), with the lock held at each and what may block
// before it, for its callers.
func (c *checker) actSummary(fn *ssa.Function) []act {
	if s, ok := c.acts[fn]; ok {
		return s
	}
	if c.busy[fn] {
		return nil
	}
	c.busy[fn] = true
	defer delete(c.busy, fn)
	var s []act
	seen := map[string]bool{}
	for _, a := range c.actsIn(fn) {
		if !a.st.mappable() || a.storedNil || strings.Count(a.via, " -> ") >= maxVia-1 {
			continue
		}
		// One act per state, kind and hand-off is enough for the callers.
		key := fmt.Sprintf("%s|%d|%t", a.st.id(), a.kind, a.handoff)
		if seen[key] || len(c.checksFor(fn, a)) > 0 {
			continue
		}
		seen[key] = true
		if a.inner == "" && !a.handoff {
			a.inner = anyHeld(c.heldAt(a.at))
		}
		if a.innerWhy == "" {
			a.innerWhy = c.blockedBefore(a.at)
		}
		s = append(s, a)
	}
	if len(s) > maxSummaryActs {
		s = nil // too much to substitute at every call site: give it up
	}
	c.acts[fn] = s
	return s
}

// blockedBefore says what may block on a path from fn's entry to instr.
func (c *checker) blockedBefore(instr ssa.Instruction) string {
	b := instr.Block()
	for _, i := range b.Instrs {
		if i == instr {
			break
		}
		if w := c.blocking(i); w != "" {
			return w
		}
	}
	seen := map[*ssa.BasicBlock]bool{b: true}
	stack := append([]*ssa.BasicBlock(nil), b.Preds...)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		c.spend(len(x.Instrs))
		for _, i := range x.Instrs {
			if w := c.blocking(i); w != "" {
				return w
			}
		}
		stack = append(stack, x.Preds...)
	}
	return ""
}

// checksFor returns the reads of a's state that a depends on: reads that
// decide a branch a lies on (a is reached only through one edge of the If),
// and reads its stored value is computed from.
func (c *checker) checksFor(fn *ssa.Function, a act) []read {
	out, _ := c.checksFor2(fn, a)
	return out
}

// checksFor2 is checksFor, also saying whether the stored value is
// computed from the state (a read-modify-write, which is never idempotent).
func (c *checker) checksFor2(fn *ssa.Function, a act) (out []read, rmw bool) {
	want := a.st.id()
	ab := a.at.Block()
	for _, ic := range c.ifsOf(fn) {
		c.spend(1)
		matched := false
		for _, r := range ic.reads {
			if r.kind == a.kind && r.st.id() == want {
				matched = true
			}
		}
		// The guard test is the costly part: only for conditions that read the state.
		if !matched || !c.guardsMemo(ic.b, ab) {
			continue
		}
		for _, r := range ic.reads {
			if r.kind == a.kind && r.st.id() == want {
				out = append(out, r)
			}
		}
	}
	if a.val != nil {
		for _, r := range c.readsOf(a.val, a.at, 0) {
			if r.kind == a.kind && r.st.id() == want && r.at != a.at {
				out = append(out, r)
				rmw = true
			}
		}
	}
	return out, rmw
}

// ifsOf returns fn's If blocks with the reads of their conditions.
func (c *checker) ifsOf(fn *ssa.Function) []ifCheck {
	if ics, ok := c.ifs[fn]; ok {
		return ics
	}
	var ics []ifCheck
	for _, b := range fn.Blocks {
		if len(b.Instrs) == 0 {
			continue
		}
		ifi, ok := b.Instrs[len(b.Instrs)-1].(*ssa.If)
		if !ok {
			continue
		}
		if rs := c.readsOf(ifi.Cond, ifi, 0); len(rs) > 0 {
			ics = append(ics, ifCheck{b: b, reads: rs})
		}
	}
	c.ifs[fn] = ics
	return ics
}

func (c *checker) guardsMemo(b, ab *ssa.BasicBlock) bool {
	k := [2]*ssa.BasicBlock{b, ab}
	if g, ok := c.guardMemo[k]; ok {
		return g
	}
	c.spend(len(b.Parent().Blocks))
	g := guards(b, ab)
	c.guardMemo[k] = g
	return g
}

// guards reports whether the If ending b decides whether ab runs: b and the
// blocks that only continue its condition (the right operands of && and ||)
// form a cluster, and one edge target t out of the cluster, entered only
// from the cluster, dominates ab while another target leads elsewhere. For
// a plain "if c { ... }" that is: one successor, entered only from b,
// dominates ab.
func guards(b, ab *ssa.BasicBlock) bool {
	_, ok := guardCluster(b, ab)
	return ok
}

// guardCluster is guards, also returning the condition blocks of b's cluster.
func guardCluster(b, ab *ssa.BasicBlock) (map[*ssa.BasicBlock]bool, bool) {
	cluster := map[*ssa.BasicBlock]bool{b: true}
	queue := []*ssa.BasicBlock{b}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, s := range x.Succs {
			if !cluster[s] && len(s.Preds) == 1 && s != ab && condOnly(s) {
				cluster[s] = true
				queue = append(queue, s)
			}
		}
	}
	var exits []*ssa.BasicBlock
	for x := range cluster {
		for _, s := range x.Succs {
			if !cluster[s] && !slices.Contains(exits, s) {
				exits = append(exits, s)
			}
		}
	}
	if len(exits) < 2 {
		return nil, false
	}
	for _, t := range exits {
		inside := true
		for _, p := range t.Preds {
			if !cluster[p] {
				inside = false
			}
		}
		if inside && t.Dominates(ab) {
			return cluster, true
		}
	}
	return nil, false
}

// condOnly reports whether b only computes a condition: it ends in an If
// and stores nothing.
func condOnly(b *ssa.BasicBlock) bool {
	if len(b.Instrs) == 0 {
		return false
	}
	if _, ok := b.Instrs[len(b.Instrs)-1].(*ssa.If); !ok {
		return false
	}
	for _, i := range b.Instrs {
		switch i.(type) {
		case *ssa.Store, *ssa.MapUpdate, *ssa.Send, *ssa.Go, *ssa.Defer, *ssa.Panic:
			return false
		}
	}
	return true
}

// ---- judging ----

// hazard says what lets another goroutine in between r and a, or "" when
// nothing does (a lock held from the check through the act).
func (c *checker) hazard(r read, a act) string {
	heldR, heldA := c.heldAt(r.at), c.heldAt(a.at)
	if a.handoff {
		heldA = nil // the goroutine does not hold its starter's locks
	}
	span := between(r.at, a.at)
	c.spend(len(span))
	if !a.handoff && r.inner == "" && a.inner == "" && !c.releases(span) && c.callersHoldLock(r.at.Parent(), 0) {
		return "" // every caller holds a lock across the whole call, and nothing here releases it
	}
	if !a.handoff && len(heldR) == 0 && r.inner == "" && (len(heldA) > 0 || a.inner != "") {
		// Checked with no lock, set under one: the single-writer shape
		// (the writer locks for its readers' sake); guardedby's domain.
		return ""
	}
	for id := range heldR {
		if _, ok := heldA[id]; !ok || !covers(id, a.st) {
			continue
		}
		released := false
		for _, i := range span {
			if call, ok := i.(*ssa.Call); ok {
				if lid, _, op := c.lockOp(call.Common()); op == -1 && lid == id {
					released = true
				}
			}
		}
		if !released {
			return "" // held throughout
		}
	}
	if a.kind == plain && len(heldR) == 0 && r.inner == "" {
		return "" // checked without a lock: a data race or single-goroutine code
	}
	var why []string
	line := func(i ssa.Instruction) int { return c.pass.Fset.Position(i.Pos()).Line }
	if r.inner != "" {
		why = append(why, fmt.Sprintf("%s releases %s before returning", r.via, r.inner))
	}
	for _, i := range span {
		if call, ok := i.(*ssa.Call); ok {
			if _, name, op := c.lockOp(call.Common()); op == -1 {
				if _, was := heldR[lockIDOf(c, call)]; was {
					why = append(why, fmt.Sprintf("%s released at line %d", name, line(i)))
				}
			}
		}
	}
	for _, i := range span {
		if w := c.blocking(i); w != "" {
			why = append(why, fmt.Sprintf("%s at line %d", w, line(i)))
			break
		}
	}
	if a.handoff {
		why = append(why, fmt.Sprintf("the act runs in a goroutine started at line %d", line(a.at)))
	}
	if a.innerWhy != "" && a.via != "" {
		why = append(why, fmt.Sprintf("%s may block on %s before it stores", a.via, a.innerWhy))
	}
	if len(why) == 0 {
		if a.kind == plain {
			why = append(why, "the lock is not held from the check to the act")
		} else {
			why = append(why, "nothing joins the load and the store")
		}
	}
	return strings.Join(why, "; ")
}

func lockIDOf(c *checker, call *ssa.Call) string {
	id, _, _ := c.lockOp(call.Common())
	return id
}

// judge reports a if some check of its state lets another goroutine in
// before it, and no check of the state guards it with nothing in between.
func (c *checker) judge(fn *ssa.Function, a act) {
	if a.storedNil {
		return
	}
	checks, rmw := c.checksFor2(fn, a)
	if len(checks) == 0 {
		return
	}
	if a.kind == atomicVal && !rmw && a.val == nil {
		// "if a.Term > r.getCurrentTerm() { r.setCurrentTerm(a.Term) }":
		// atomic getters and setters are how a single writer publishes
		// state to lock-free readers (a raft term, a commit index). A
		// Load and Store written side by side, or a store computed from
		// the load, is still reported.
		return
	}
	if !a.handoff && !rmw && c.idempotent(fn, a) {
		// An idempotent fill: every racer stores the same value, computed
		// from the key or the state with no side effect but allocation.
		return
	}
	var worst *read
	var why string
	for i := range checks {
		r := checks[i]
		w := c.hazard(r, a)
		if w == "" {
			return // a check with nothing between it and the act: the act is safe
		}
		if worst == nil || dominatesInstr(worst.at, r.at) {
			worst, why = &checks[i], w
		}
	}
	if c.siblingRechecked(fn, a) {
		return
	}
	c.report(*worst, a, why)
}

// siblingRechecked reports whether a is guarded by a re-check of another
// field of the same struct with a lock held from it to a: the version or
// generation counter pattern ("store only if nobody changed the version
// while we were unlocked").
func (c *checker) siblingRechecked(fn *ssa.Function, a act) bool {
	if a.kind != plain || len(a.st.elems) == 0 {
		return false
	}
	parent := func(t *term) string {
		p := &term{root: t.root, star: t.star, konst: t.konst, elems: t.elems[:len(t.elems)-1]}
		return p.id()
	}
	want, self := parent(a.st), a.st.id()
	for _, g := range fn.Blocks {
		if _, ok := g.Instrs[len(g.Instrs)-1].(*ssa.If); !ok {
			continue
		}
		cluster, ok := guardCluster(g, a.at.Block())
		if !ok {
			continue
		}
		for b := range cluster {
			ifi := b.Instrs[len(b.Instrs)-1].(*ssa.If)
			for _, r := range c.readsOf(ifi.Cond, ifi, 0) {
				if r.kind == plain && len(r.st.elems) > 0 && r.st.id() != self && parent(r.st) == want && c.hazard(r, a) == "" {
					return true
				}
			}
		}
	}
	return false
}

// dominatesInstr reports whether x comes before y on every path to y.
func dominatesInstr(x, y ssa.Instruction) bool {
	if x.Block() == y.Block() {
		return indexIn(x.Block(), x) < indexIn(y.Block(), y)
	}
	return x.Block().Dominates(y.Block())
}

func (c *checker) report(r read, a act, why string) {
	pos := r.at.Pos()
	if !pos.IsValid() {
		pos = a.at.Pos()
	}
	apos := a.at.Pos()
	if !pos.IsValid() || !apos.IsValid() {
		return
	}
	lr, la := c.pass.Fset.Position(pos).Line, c.pass.Fset.Position(apos).Line
	name := r.st.show()
	var hazard, fix string
	setVia := ""
	if a.via != "" {
		setVia = " (in " + a.via + ")"
	}
	switch a.kind {
	case syncMap:
		hazard = fmt.Sprintf("sync.Map %s loaded at line %d and stored at line %d%s: two callers can both miss and both store", name, lr, la, setVia)
		fix = "LoadOrStore (or CompareAndSwap for a read-modify-write) makes the check and the store one step"
	case atomicVal:
		hazard = fmt.Sprintf("atomic %s loaded at line %d and stored at line %d%s: a store by another goroutine in between is lost", name, lr, la, setVia)
		fix = "a CompareAndSwap loop (or Add) makes the check and the store one step"
	default:
		verb := "with a lock release between"
		if a.handoff {
			verb = "in a goroutine started after the check"
		}
		hazard = fmt.Sprintf("%s checked at line %d and set at line %d%s %s: two callers can both pass the check", name, lr, la, setVia, verb)
		fix = "sluice keyed.Once for per-key idempotent setup (Forget on disconnect), or keyed.Mutex to hold the key across the setup; or re-check " + name + " after re-locking, before storing"
	}
	diag.Report(c.pass, diag.Finding{
		Pos:      pos,
		Hazard:   hazard,
		Evidence: why,
		Fix:      fix,
		Related:  []analysis.RelatedInformation{{Pos: apos, Message: "set here"}},
	})
}

// ---- stored values ----

// vclass is a stored value's kind and, for a pure one, the parameters of
// its function it is computed from (bit i: parameter i; 63 stands for
// every index beyond).
type vclass struct {
	k    valKind
	mask uint64
}

func paramBit(i int) uint64 { return 1 << uint(min(max(i, 0), 63)) }

// valued fills in where a's stored value comes from.
func (c *checker) valued(a act) act {
	if a.val != nil {
		a.vk, a.vparam, a.vmask = c.classify(a.val)
	}
	return a
}

// classify says whether v, stored after a check, is the same for every
// goroutine that passed the check (an idempotent fill: a cache entry
// computed from the key, a value read from a backend) or not (a caller's
// value, a connection just dialled, time.Now, rand, the result of an
// unknown function). A value that is exactly parameter i is vParam, i.
func (c *checker) classify(v ssa.Value) (valKind, int, uint64) {
	if p, ok := v.(*ssa.Parameter); ok {
		if fn := p.Parent(); fn != nil {
			if i := indexOf(fn.Params, p); i >= 0 {
				return vParam, i, paramBit(i)
			}
		}
		return vVaries, 0, 0
	}
	vc := c.classifyVal(v, 0)
	return vc.k, 0, vc.mask
}

func (c *checker) classifyVal(v ssa.Value, depth int) vclass {
	if v == nil {
		return vclass{k: vConst}
	}
	if vc, ok := c.vals[v]; ok {
		return vc // memoized; constant while in progress (a cycle adds nothing new)
	}
	if depth > 200 {
		return vclass{k: vVaries} // too deep to follow (memoization keeps the total linear)
	}
	c.vals[v] = vclass{k: vConst}
	c.spend(1)
	vc := c.classify1(v, depth)
	c.vals[v] = vc
	return vc
}

// worst combines the classes of a value's parts: any part that varies
// makes it vary, else any computed part makes it pure (depending on the
// union of their parameters), else it is constant.
func worst(vs ...vclass) vclass {
	w := vclass{k: vConst}
	for _, v := range vs {
		switch v.k {
		case vVaries:
			return vclass{k: vVaries}
		case vPure, vParam:
			w.k = vPure
			w.mask |= v.mask
		}
	}
	return w
}

// computed is v for a value computed from parts of class v: never constant.
func computed(v vclass) vclass {
	if v.k == vConst {
		v.k = vPure
	}
	return v
}

func (c *checker) classify1(v ssa.Value, depth int) vclass {
	sub := func(xs ...ssa.Value) vclass {
		vs := make([]vclass, 0, len(xs))
		for _, x := range xs {
			if x != nil {
				vs = append(vs, c.classifyVal(x, depth+1))
			}
		}
		return worst(vs...)
	}
	varies := vclass{k: vVaries}
	switch x := v.(type) {
	case *ssa.Const, *ssa.Function, *ssa.Global:
		return vclass{k: vConst}
	case *ssa.Parameter:
		if fn := x.Parent(); fn != nil {
			if i := indexOf(fn.Params, x); i >= 0 {
				return vclass{k: vPure, mask: paramBit(i)}
			}
		}
		return varies
	case *ssa.FreeVar:
		return varies // a captured variable: the starter's, unknown here
	case *ssa.Call:
		return c.classifyCall(x, depth)
	case *ssa.Extract:
		return sub(x.Tuple)
	case *ssa.Alloc:
		// A new value: pure, unless what is stored into it varies.
		var vs []vclass
		for _, r := range *x.Referrers() {
			switch u := r.(type) {
			case *ssa.Store:
				if u.Addr == x {
					vs = append(vs, c.classifyVal(u.Val, depth+1))
				}
			case *ssa.IndexAddr, *ssa.FieldAddr:
				for _, rr := range *u.(ssa.Value).Referrers() {
					if st, ok := rr.(*ssa.Store); ok && st.Addr == u.(ssa.Value) {
						vs = append(vs, c.classifyVal(st.Val, depth+1))
					}
				}
			}
		}
		return computed(worst(vs...))
	case *ssa.UnOp:
		if x.Op == token.ARROW {
			return varies // a value received from a channel
		}
		if x.Op == token.MUL {
			if cell, ok := x.X.(*ssa.Alloc); ok {
				return sub(cell)
			}
			return computed(sub(x.X)) // a load of state
		}
		return sub(x.X)
	case *ssa.Phi:
		return computed(sub(x.Edges...))
	case *ssa.BinOp:
		return sub(x.X, x.Y)
	case *ssa.MakeMap, *ssa.MakeChan, *ssa.MakeSlice, *ssa.MakeClosure:
		return vclass{k: vPure}
	case *ssa.Convert:
		return sub(x.X)
	case *ssa.ChangeType:
		return sub(x.X)
	case *ssa.ChangeInterface:
		return sub(x.X)
	case *ssa.MakeInterface:
		return sub(x.X)
	case *ssa.SliceToArrayPointer:
		return sub(x.X)
	case *ssa.TypeAssert:
		return sub(x.X)
	case *ssa.Slice:
		return computed(sub(x.X, x.Low, x.High, x.Max))
	case *ssa.Field:
		return computed(sub(x.X))
	case *ssa.FieldAddr:
		return computed(sub(x.X))
	case *ssa.Index:
		return computed(sub(x.X, x.Index))
	case *ssa.IndexAddr:
		return computed(sub(x.X, x.Index))
	case *ssa.Lookup:
		return computed(sub(x.X, x.Index))
	}
	return varies
}

// effectful names start a resource or register something when a call's
// name starts with them: what two racers must not both do.
var effectful = []string{"open", "dial", "new", "start", "create", "connect", "spawn", "launch", "listen", "accept", "register", "subscribe", "run", "go", "alloc", "acquire", "reserve", "next", "gen", "random", "uuid"}

// classifyCall: a call's result is pure when the callee takes no context,
// may not block, starts no goroutine, is not named like a constructor or an
// opener, and is not a clock or random source. An interface method is
// judged by its name and signature (reflect.Type.Field is pure, Conn.Read
// is not); a function value is unknown.
func (c *checker) classifyCall(instr *ssa.Call, depth int) vclass {
	call := instr.Common()
	callee := call.StaticCallee()
	varies := vclass{k: vVaries}
	args := func(recv ssa.Value) vclass {
		var vs []vclass
		if recv != nil {
			vs = append(vs, c.classifyVal(recv, depth+1))
		}
		for _, a := range call.Args {
			vs = append(vs, c.classifyVal(a, depth+1))
		}
		return computed(worst(vs...))
	}
	if b, ok := call.Value.(*ssa.Builtin); ok {
		switch b.Name() {
		case "len", "cap", "append", "copy", "min", "max", "string", "complex", "real", "imag":
			return args(nil)
		}
		return varies
	}
	if callee == nil {
		if !call.IsInvoke() || call.Method == nil {
			return varies // a function value: unknown
		}
		if sig, ok := call.Method.Type().(*types.Signature); !ok || takesContext(sig) || effectfulName(call.Method.Name()) || c.blocking(instr) != "" {
			return varies
		}
		return args(call.Value)
	}
	pkg, _, name := methodOf(callee)
	switch pkg {
	case "time", "math/rand", "math/rand/v2", "crypto/rand", "os", "io", "net", "net/http", "os/exec", "syscall", "context", "sync", "sync/atomic", "runtime":
		return varies
	}
	if effectfulName(name) {
		return varies
	}
	if sig := callee.Signature; sig != nil && takesContext(sig) {
		return varies
	}
	if c.blocking(instr) != "" {
		return varies
	}
	if c.facts != nil {
		if _, ok := c.facts.FuncBlocking(callee); ok {
			return varies
		}
	}
	if callee.Pkg == c.pkg && callee.Blocks != nil && startsGoroutine(callee) {
		return varies
	}
	return args(nil)
}

func effectfulName(name string) bool {
	lname := strings.ToLower(name)
	for _, p := range effectful {
		if strings.HasPrefix(lname, p) {
			return true
		}
	}
	return false
}

// stateParams is the set of fn's parameters that name a's state: its root
// and its keys. A value computed only from them is the same for racers on
// the same state.
func (c *checker) stateParams(fn *ssa.Function, t *term) uint64 {
	var m uint64
	var walk func(t *term)
	walk = func(t *term) {
		if t == nil {
			return
		}
		switch r := t.root.(type) {
		case *ssa.Parameter:
			if i := indexOf(fn.Params, r); i >= 0 {
				m |= paramBit(i)
			}
		case nil:
		default:
			// A key computed from parameters (bucket.ID()): those name the state too.
			if vc := c.classifyVal(r, 0); vc.k != vVaries {
				m |= vc.mask
			}
		}
		for _, e := range t.elems {
			walk(e.key)
		}
	}
	walk(t)
	return m
}

// idempotent reports whether a stores the same value for every racer.
func (c *checker) idempotent(fn *ssa.Function, a act) bool {
	if a.vk != vPure && a.vk != vParam {
		return false
	}
	return a.vmask&^c.stateParams(fn, a.st) == 0
}

func startsGoroutine(fn *ssa.Function) bool {
	for _, b := range fn.Blocks {
		for _, i := range b.Instrs {
			if _, ok := i.(*ssa.Go); ok {
				return true
			}
		}
	}
	return false
}

// ---- callers ----

// indexCalls records, for each function of the package, its static call
// sites, and which functions escape (used as values, or exported).
func (c *checker) indexCalls(fns []*ssa.Function) {
	c.callers = map[*ssa.Function][]ssa.CallInstruction{}
	c.escapes = map[*ssa.Function]bool{}
	var rands []*ssa.Value
	seen := map[*ssa.Function]bool{}
	var visit func(fn *ssa.Function)
	visit = func(fn *ssa.Function) {
		if fn == nil || seen[fn] {
			return
		}
		seen[fn] = true
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				var callee ssa.Value
				if ci, ok := instr.(ssa.CallInstruction); ok && !ci.Common().IsInvoke() {
					callee = ci.Common().Value
					if f, ok := callee.(*ssa.Function); ok {
						if _, isCall := instr.(*ssa.Call); isCall {
							c.callers[f] = append(c.callers[f], ci)
						} else {
							c.escapes[f] = true // go or defer: another context
						}
					}
				}
				rands = instr.Operands(rands[:0])
				for _, op := range rands {
					if op == nil || *op == callee {
						continue
					}
					if f, ok := (*op).(*ssa.Function); ok {
						c.escapes[f] = true
					}
				}
			}
		}
		for _, an := range fn.AnonFuncs {
			visit(an)
		}
	}
	for _, fn := range fns {
		visit(fn)
	}
}

// callersHoldLock reports whether fn is only ever called, in this package,
// with some lock held at the call ("Assumes the lock is held"): then fn's
// whole body runs under that lock, unless fn releases it itself.
func (c *checker) callersHoldLock(fn *ssa.Function, depth int) bool {
	switch c.callHeld[fn] {
	case 1:
		return true
	case 2, 3:
		return false
	}
	if depth > 4 || fn.Parent() != nil || c.escapes[fn] || len(c.callers[fn]) == 0 {
		return false
	}
	if obj := fn.Object(); obj == nil || obj.Exported() {
		return false // callers outside the package are unknown
	}
	c.callHeld[fn] = 3
	ok := true
	for _, ci := range c.callers[fn] {
		caller := ci.Parent()
		if caller == fn {
			continue // recursion: the outer call decides
		}
		if len(c.heldAt(ci)) == 0 && !c.callersHoldLock(caller, depth+1) {
			ok = false
			break
		}
	}
	if ok {
		c.callHeld[fn] = 1
	} else {
		c.callHeld[fn] = 2
	}
	return ok
}

// releases reports whether an instruction in span releases a lock.
func (c *checker) releases(span []ssa.Instruction) bool {
	for _, i := range span {
		if call, ok := i.(*ssa.Call); ok {
			if _, _, op := c.lockOp(call.Common()); op == -1 {
				return true
			}
		}
	}
	return false
}
