package facts

import (
	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ssa"
)

// Acquire is one place a function takes something it must give back: a
// lock, a read lock, a semaphore permit, a channel-semaphore token.
type Acquire struct {
	Instr ssa.Instruction
	Kind  string // "lock", "read lock", "semaphore permit", "channel semaphore"
	Name  string // what is held, for messages: "g.mu", "s.sem"
	key   string
}

// What renders a as "lock g.mu", "semaphore permit s.sem".
func (a *Acquire) What() string { return a.Kind + " " + a.Name }

// Held pairs an acquire and its release by the path of what they name
// (keyOf: base value, then fields, indexes, constant or not, and loads),
// never by SSA value identity: each mention of gws[0].mu is a new value.
//
// Held returns, for each instruction of fn, what fn surely took earlier and
// has not given back on some path to it: the acquire's block dominates the
// instruction, and a path runs from the acquire to the instruction with no
// release of the same thing on it. A deferred release holds to the end of
// the function. A lock taken on only some paths (under an if) is not
// counted, which keeps the "held" claim true whenever it is reported.
func Held(fn *ssa.Function) map[ssa.Instruction][]*Acquire {
	if fn == nil || len(fn.Blocks) == 0 {
		return nil
	}
	subst := closureSubst(fn)
	out := map[ssa.Instruction][]*Acquire{}
	for _, b := range fn.Blocks {
		for i, instr := range b.Instrs {
			a := acquireOf(fn, instr, subst)
			if a == nil {
				continue
			}
			walkHeld(fn, b, i, a, subst, out)
		}
	}
	return out
}

type pos struct {
	b *ssa.BasicBlock
	i int
}

func walkHeld(fn *ssa.Function, start *ssa.BasicBlock, idx int, a *Acquire, subst map[*ssa.FreeVar]ssa.Value, out map[ssa.Instruction][]*Acquire) {
	seen := map[*ssa.BasicBlock]bool{}
	stack := []pos{{start, idx + 1}}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		released := false
		for j := p.i; j < len(p.b.Instrs); j++ {
			instr := p.b.Instrs[j]
			if isRelease(fn, instr, a.key, subst) {
				released = true
				break
			}
			if start.Dominates(p.b) {
				out[instr] = append(out[instr], a)
			}
		}
		if released {
			continue
		}
		for _, s := range p.b.Succs {
			if !seen[s] {
				seen[s] = true
				stack = append(stack, pos{s, 0})
			}
		}
	}
}

// acquireOf recognises an acquire.
func acquireOf(fn *ssa.Function, instr ssa.Instruction, subst map[*ssa.FreeVar]ssa.Value) *Acquire {
	switch in := instr.(type) {
	case *ssa.Call:
		c := &in.Call
		if iid := invokeID(c); iid == "sync.Locker.Lock" {
			return &Acquire{Instr: instr, Kind: "lock", Name: display(c.Value), key: keyOf(c.Value, subst)}
		}
		id, _ := calleeID(c)
		if len(c.Args) == 0 {
			return nil
		}
		switch id {
		case "sync.Mutex.Lock", "sync.RWMutex.Lock":
			return &Acquire{Instr: instr, Kind: "lock", Name: display(c.Args[0]), key: keyOf(c.Args[0], subst)}
		case "sync.RWMutex.RLock":
			return &Acquire{Instr: instr, Kind: "read lock", Name: display(c.Args[0]), key: keyOf(c.Args[0], subst)}
		case xsem + "Acquire", sluiceSem + "Acquire":
			return &Acquire{Instr: instr, Kind: "semaphore permit", Name: display(c.Args[0]), key: keyOf(c.Args[0], subst)}
		case sluiceSem + "Permit":
			return &Acquire{Instr: instr, Kind: "semaphore permit", Name: display(c.Args[0]), key: keyOf(in, subst) + "#0"}
		}
	case *ssa.Send:
		elem := chanElem(in.Chan.Type())
		if elem == nil || !isStructEmpty(elem) {
			return nil
		}
		k := keyOf(in.Chan, subst)
		if receivesKey(fn, k) {
			return &Acquire{Instr: instr, Kind: "channel semaphore", Name: display(in.Chan), key: k}
		}
	}
	return nil
}

// receivesKey reports whether fn, or a literal it defers or calls, receives
// from the channel with key k: the release of a channel semaphore.
func receivesKey(fn *ssa.Function, k string) bool {
	for _, f := range append([]*ssa.Function{fn}, fn.AnonFuncs...) {
		sub := closureSubst(f)
		for _, b := range f.Blocks {
			for _, instr := range b.Instrs {
				if u, ok := instr.(*ssa.UnOp); ok && u.Op == token.ARROW && keyOf(u.X, sub) == k {
					return true
				}
			}
		}
	}
	return false
}

// isRelease recognises the release of the thing with key k, directly or
// in a literal of fn called in place (unlock := func() { mu.Unlock() }).
func isRelease(fn *ssa.Function, instr ssa.Instruction, k string, subst map[*ssa.FreeVar]ssa.Value) bool {
	if releaseHere(instr, k, subst) {
		return true
	}
	call, ok := instr.(*ssa.Call)
	if !ok {
		return false
	}
	cb := call.Call.StaticCallee()
	if cb == nil || cb.Parent() != fn {
		return false
	}
	sub := closureSubst(cb)
	for _, b := range cb.Blocks {
		for _, in := range b.Instrs {
			if releaseHere(in, k, sub) {
				return true
			}
		}
	}
	return false
}

func releaseHere(instr ssa.Instruction, k string, subst map[*ssa.FreeVar]ssa.Value) bool {
	switch in := instr.(type) {
	case *ssa.Call:
		c := &in.Call
		if invokeID(c) == "sync.Locker.Unlock" {
			return keyOf(c.Value, subst) == k
		}
		id, _ := calleeID(c)
		switch id {
		case "sync.Mutex.Unlock", "sync.RWMutex.Unlock", "sync.RWMutex.RUnlock",
			xsem + "Release", sluiceSem + "Release", "github.com/sluice-go/sluice/sem.Permit.Release":
			return len(c.Args) > 0 && keyOf(c.Args[0], subst) == k
		}
	case *ssa.UnOp:
		return in.Op == token.ARROW && keyOf(in.X, subst) == k
	}
	return false
}

// findLease recognises a lease by shape: fn takes something, calls one of
// its function-typed parameters while holding it, and gives it back (by
// defer or after the call). A request/response to an owner goroutine
// counts too: a send that dominates the callback call, with a deferred
// literal that talks to a channel again to hand the thing back. A wrapper
// that passes its own callback on to a lease is a lease.
func (r *Result) findLease(fn *ssa.Function) *LeaseFact {
	if fn.Signature == nil {
		return nil
	}
	params := map[*ssa.Parameter]int{}
	for i, p := range fn.Params {
		if _, ok := p.Type().Underlying().(*types.Signature); ok {
			params[p] = i
		}
	}
	if len(params) == 0 {
		return nil
	}
	held := Held(fn)
	var lf *LeaseFact
	addIdx := func(name string, i int) {
		if lf == nil {
			lf = &LeaseFact{Held: name}
		}
		for _, j := range lf.Params {
			if j == i {
				return
			}
		}
		lf.Params = append(lf.Params, i)
	}
	deferTalks := deferredChanOp(fn)
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			call, ok := instr.(*ssa.Call)
			if !ok {
				continue
			}
			if p, ok := call.Call.Value.(*ssa.Parameter); ok && !call.Call.IsInvoke() {
				i, isFn := params[p]
				if !isFn {
					continue
				}
				if hs := held[instr]; len(hs) > 0 {
					addIdx(hs[0].What(), i)
					continue
				}
				if deferTalks {
					if s := dominatingSend(fn, instr); s != nil {
						addIdx("the owner of "+display(s.Chan), i)
					}
				}
				continue
			}
			// A wrapper: our callback passed on at a lease parameter.
			callee := call.Call.StaticCallee()
			if callee == nil {
				continue
			}
			l := r.lease(callee)
			if l == nil {
				continue
			}
			for _, li := range l.Params {
				if li < len(call.Call.Args) {
					if p, ok := call.Call.Args[li].(*ssa.Parameter); ok {
						if i, isFn := params[p]; isFn {
							addIdx(l.Held, i)
						}
					}
				}
			}
		}
	}
	return lf
}

// deferredChanOp reports whether fn defers a literal that sends or receives.
func deferredChanOp(fn *ssa.Function) bool {
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			d, ok := instr.(*ssa.Defer)
			if !ok {
				continue
			}
			cb := ssapass.StaticFunc(d.Call.Value)
			if cb == nil {
				continue
			}
			for _, cbb := range cb.Blocks {
				for _, in := range cbb.Instrs {
					switch in := in.(type) {
					case *ssa.Send:
						return true
					case *ssa.UnOp:
						if in.Op == token.ARROW {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

// dominatingSend is a send whose block dominates instr's (and precedes it).
func dominatingSend(fn *ssa.Function, instr ssa.Instruction) *ssa.Send {
	ib := instr.Block()
	for _, b := range fn.Blocks {
		if !b.Dominates(ib) {
			continue
		}
		for _, in := range b.Instrs {
			if b == ib && in == instr {
				break
			}
			if s, ok := in.(*ssa.Send); ok {
				return s
			}
		}
	}
	return nil
}
