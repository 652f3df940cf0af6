package guardedby

import (
	"fmt"
	"go/types"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// A place names a storage location the way the analyzer compares them: a
// root value (a parameter, a global, an allocation, any other SSA value)
// followed by the struct fields selected from it. key is unique within the
// package ("#0x..." roots are SSA value identities); pretty is what a reader
// sees ("s.mu").
type place struct {
	key, pretty string
	root        ssa.Value
	deref       bool       // a pointer was loaded on the way from root
	field       *types.Var // the last field selected, or nil
}

// placer computes places, resolving a closure's free variables to the
// values its creator bound them to, so a lock taken outside a closure and a
// field used inside it are named alike.
type placer struct {
	bindings map[*ssa.FreeVar]ssa.Value
	memo     map[ssa.Value]place
}

func newPlacer() *placer {
	return &placer{bindings: map[*ssa.FreeVar]ssa.Value{}, memo: map[ssa.Value]place{}}
}

func (pl *placer) of(v ssa.Value) place { return pl.of1(v, 0) }

func (pl *placer) of1(v ssa.Value, depth int) place {
	if p, ok := pl.memo[v]; ok {
		return p
	}
	p := pl.compute(v, depth)
	pl.memo[v] = p
	return p
}

func rootPlace(v ssa.Value, pretty string) place {
	return place{key: fmt.Sprintf("#%p", v), pretty: pretty, root: v}
}

func (pl *placer) compute(v ssa.Value, depth int) place {
	if depth > 32 {
		return rootPlace(v, "x")
	}
	switch v := v.(type) {
	case *ssa.Global:
		name := v.Name()
		key := "G:" + name
		if v.Pkg != nil && v.Pkg.Pkg != nil {
			key = "G:" + v.Pkg.Pkg.Path() + "." + name
		}
		return place{key: key, pretty: name, root: v}
	case *ssa.Parameter:
		return rootPlace(v, v.Name())
	case *ssa.FreeVar:
		if b, ok := pl.bindings[v]; ok && b != nil {
			return pl.of1(b, depth+1)
		}
		return rootPlace(v, v.Name())
	case *ssa.FieldAddr:
		return pl.sel(pl.of1(v.X, depth+1), v.X.Type(), v.Field)
	case *ssa.Field:
		return pl.sel(pl.of1(v.X, depth+1), v.X.Type(), v.Field)
	case *ssa.UnOp:
		if v.Op.String() == "*" {
			p := pl.of1(v.X, depth+1)
			if cell, isAlloc := pl.resolve(v.X).(*ssa.Alloc); isAlloc {
				if val := singleStore(cell); val != nil {
					// A variable captured by a closure lives in a cell; set
					// once in this function, its loads are the stored value
					// (c := &client{...} later used by a closure).
					p := pl.of1(val, depth+1)
					if name := cell.Comment; name != "" && !strings.Contains(name, " ") {
						p.pretty = name // the variable's name, not "complit"
					}
					return p
				}
				// A load of a local variable's cell: the value stored there.
				return place{key: p.key + "*", pretty: p.pretty, root: p.root, deref: true}
			}
			if _, isPtr := v.Type().Underlying().(*types.Pointer); isPtr {
				p.deref = true
			}
			return p
		}
	case *ssa.ChangeType:
		return pl.of1(v.X, depth+1)
	case *ssa.Alloc:
		name := v.Comment
		if name == "" || strings.Contains(name, " ") {
			name = "x"
		}
		return rootPlace(v, name)
	case *ssa.Phi:
		var first *place
		for _, e := range v.Edges {
			if e == v {
				continue
			}
			p := pl.of1(e, depth+1)
			if first == nil {
				first = &p
			} else if first.key != p.key {
				return rootPlace(v, "x")
			}
		}
		if first != nil {
			return *first
		}
	}
	return rootPlace(v, "x")
}

// singleStore returns the value stored into cell when it is stored exactly
// once and is itself a fresh allocation, else nil.
func singleStore(cell *ssa.Alloc) ssa.Value {
	refs := cell.Referrers()
	if refs == nil {
		return nil
	}
	var val ssa.Value
	for _, r := range *refs {
		switch r := r.(type) {
		case *ssa.Store:
			if r.Addr != cell || val != nil {
				return nil
			}
			val = r.Val
		case *ssa.MakeClosure:
			if storedInClosure(r, cell) {
				return nil
			}
		case *ssa.UnOp, *ssa.DebugRef:
		default:
			return nil
		}
	}
	switch val.(type) {
	case *ssa.Alloc:
		return val
	}
	return nil
}

// storedInClosure reports whether the closure mc binds cell to a free
// variable that the closure (or one nested in it) assigns.
func storedInClosure(mc *ssa.MakeClosure, cell ssa.Value) bool {
	fn, _ := mc.Fn.(*ssa.Function)
	if fn == nil {
		return true
	}
	for i, b := range mc.Bindings {
		if b != cell || i >= len(fn.FreeVars) {
			continue
		}
		refs := fn.FreeVars[i].Referrers()
		if refs == nil {
			continue
		}
		for _, r := range *refs {
			switch r := r.(type) {
			case *ssa.Store:
				return true
			case *ssa.MakeClosure:
				if storedInClosure(r, fn.FreeVars[i]) {
					return true
				}
			case *ssa.UnOp, *ssa.DebugRef:
			default:
				return true
			}
		}
	}
	return false
}

// resolve follows a free variable to the value its closure was made with.
func (pl *placer) resolve(v ssa.Value) ssa.Value {
	for i := 0; i < 32; i++ {
		fv, ok := v.(*ssa.FreeVar)
		if !ok {
			return v
		}
		b, ok := pl.bindings[fv]
		if !ok || b == nil {
			return v
		}
		v = b
	}
	return v
}

func (pl *placer) sel(base place, t types.Type, idx int) place {
	st := structOf(t)
	if st == nil || idx < 0 || idx >= st.NumFields() {
		return rootPlace(nil, "x")
	}
	f := st.Field(idx)
	return place{
		key:    base.key + "." + f.Name(),
		pretty: base.pretty + "." + f.Name(),
		root:   base.root,
		deref:  base.deref,
		field:  f,
	}
}

// structOf returns the struct type t is or points to, or nil.
func structOf(t types.Type) *types.Struct {
	if t == nil {
		return nil
	}
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	st, _ := t.Underlying().(*types.Struct)
	return st
}

// lock modes, as bits so that a lock both read- and write-held survives one
// of its unlocks.
const (
	modeW uint8 = 1
	modeR uint8 = 2
)

// held is the set of mutexes held at a program point, keyed by place key.
type held map[string]heldLock

type heldLock struct {
	mode   uint8
	pretty string
	field  *types.Var // the mutex's own field, or nil for a global
}

func (h held) clone() held {
	c := make(held, len(h))
	for k, v := range h {
		c[k] = v
	}
	return c
}

// meet intersects h with o in place (must-hold).
func (h held) meet(o held) {
	for k, v := range h {
		ov, ok := o[k]
		if !ok || v.mode&ov.mode == 0 {
			delete(h, k)
			continue
		}
		v.mode &= ov.mode
		h[k] = v
	}
}

// meetHeld intersects h with o in place, keeping a lock held in different
// modes on the two sides as read-held: a helper called under RLock at one
// site and Lock at another still runs with the lock held.
func (h held) meetHeld(o held) {
	for k, v := range h {
		ov, ok := o[k]
		if !ok || ov.mode == 0 || v.mode == 0 {
			delete(h, k)
			continue
		}
		if v.mode&ov.mode == 0 {
			v.mode = modeR
		} else {
			v.mode &= ov.mode
		}
		h[k] = v
	}
}

func (h held) equal(o held) bool {
	if len(h) != len(o) {
		return false
	}
	for k, v := range h {
		if ov, ok := o[k]; !ok || ov.mode != v.mode {
			return false
		}
	}
	return true
}

// mutexOp classifies a call as a sync.Mutex or sync.RWMutex operation and
// returns the mutex pointer it acts on. op is "lock", "rlock", "unlock",
// "runlock" or "".
func mutexOp(c *ssa.CallCommon) (op string, mu ssa.Value) {
	if c == nil || c.IsInvoke() {
		return "", nil
	}
	fn := c.StaticCallee()
	if fn == nil || len(c.Args) == 0 {
		return "", nil
	}
	obj, _ := fn.Object().(*types.Func)
	if obj == nil || obj.Pkg() == nil || obj.Pkg().Path() != "sync" {
		return "", nil
	}
	sig, _ := obj.Type().(*types.Signature)
	if sig == nil || sig.Recv() == nil {
		return "", nil
	}
	rt := sig.Recv().Type()
	if p, ok := rt.(*types.Pointer); ok {
		rt = p.Elem()
	}
	n, _ := rt.(*types.Named)
	if n == nil || (n.Obj().Name() != "Mutex" && n.Obj().Name() != "RWMutex") {
		return "", nil
	}
	switch obj.Name() {
	case "Lock":
		return "lock", c.Args[0]
	case "RLock":
		return "rlock", c.Args[0]
	case "Unlock":
		return "unlock", c.Args[0]
	case "RUnlock":
		return "runlock", c.Args[0]
	}
	return "", nil
}

// step applies one instruction to h.
func (pl *placer) step(h held, instr ssa.Instruction) {
	call, ok := instr.(*ssa.Call)
	if !ok {
		return // a deferred Unlock runs at return: the lock is held to the end
	}
	op, mu := mutexOp(call.Common())
	if op == "" {
		return
	}
	p := pl.of(mu)
	cur := h[p.key]
	switch op {
	case "lock":
		h[p.key] = heldLock{mode: cur.mode | modeW, pretty: p.pretty, field: p.field}
	case "rlock":
		h[p.key] = heldLock{mode: cur.mode | modeR, pretty: p.pretty, field: p.field}
	case "unlock", "runlock":
		bit := modeW
		if op == "runlock" {
			bit = modeR
		}
		cur.mode &^= bit
		if cur.mode == 0 {
			delete(h, p.key)
		} else {
			h[p.key] = cur
		}
	}
}

// flow runs the must-hold dataflow over fn's blocks from entry and returns
// the set held at the start of each block (nil for unreachable blocks).
func (pl *placer) flow(fn *ssa.Function, entry held) []held {
	in := make([]held, len(fn.Blocks))
	if len(fn.Blocks) == 0 {
		return in
	}
	in[0] = entry.clone()
	work := []*ssa.BasicBlock{fn.Blocks[0]}
	queued := make([]bool, len(fn.Blocks))
	queued[0] = true
	for steps := 0; len(work) > 0 && steps < 100*len(fn.Blocks)+100; steps++ {
		b := work[0]
		work = work[1:]
		queued[b.Index] = false
		h := in[b.Index].clone()
		for _, instr := range b.Instrs {
			pl.step(h, instr)
		}
		for _, s := range b.Succs {
			old := in[s.Index]
			var nw held
			if old == nil {
				nw = h.clone()
			} else {
				nw = old.clone()
				nw.meet(h)
				if nw.equal(old) {
					continue
				}
			}
			in[s.Index] = nw
			if !queued[s.Index] {
				queued[s.Index] = true
				work = append(work, s)
			}
		}
	}
	return in
}
