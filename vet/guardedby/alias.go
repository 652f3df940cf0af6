package guardedby

import (
	"fmt"
	"go/token"
	"go/types"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/diag"
)

// An alias is a field of another type that a function filled with the same
// client it stored into a guarded field (seed 000: the websocket handed to
// both the validator and its TAO provider).
type alias struct {
	field *types.Var  // the other type's field
	of    *fieldStats // the guarded field
	store token.Pos   // where the shared value went into field
	in    *ssa.Function
}

// reportAliases reports calls, made without the guard, of methods that use
// a guarded client through an alias field.
func (st *state) reportAliases(guarded []*fieldStats, accs []*access) {
	byField := map[*types.Var]*fieldStats{}
	for _, fs := range guarded {
		if fs.prefix == "" && pointerish(fs.field.Type()) && !safeType(fs.field.Type()) {
			byField[fs.field] = fs
		}
	}
	if len(byField) == 0 {
		return
	}
	aliases := map[*types.Var]*alias{}
	for _, fn := range st.funcs {
		stores := map[ssa.Value][]*ssa.Store{}
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				s, ok := instr.(*ssa.Store)
				if !ok {
					continue
				}
				if _, ok := s.Addr.(*ssa.FieldAddr); ok {
					v := unwrap(s.Val)
					if _, isConst := v.(*ssa.Const); !isConst {
						stores[v] = append(stores[v], s)
					}
				}
			}
		}
		for _, ss := range stores {
			var of *fieldStats
			for _, s := range ss {
				fa := s.Addr.(*ssa.FieldAddr)
				if f := st.ownField(fa.X.Type(), fa.Field); f != nil && byField[f] != nil {
					of = byField[f]
				}
			}
			if of == nil {
				continue
			}
			for _, s := range ss {
				fa := s.Addr.(*ssa.FieldAddr)
				f := st.ownField(fa.X.Type(), fa.Field)
				if f == nil || f == of.field || byField[f] != nil || aliases[f] != nil {
					continue
				}
				aliases[f] = &alias{field: f, of: of, store: s.Pos(), in: fn}
			}
		}
	}
	if len(aliases) == 0 {
		return
	}
	// Methods that call the client through an alias field without the
	// guard's mutex (they cannot see it).
	type user struct {
		al  *alias
		acc *access
	}
	users := map[*ssa.Function]user{}
	for _, a := range accs {
		al := aliases[a.field]
		if al == nil || a.kind != kCall || a.prefix != "" {
			continue
		}
		fn := topLevel(a.fn)
		if fn.Signature.Recv() == nil || holdsField(a.held, guardField(al.of)) {
			continue
		}
		if _, ok := users[fn]; !ok {
			users[fn] = user{al, a}
		}
	}
	if len(users) == 0 {
		return
	}
	// Interface calls count only on interfaces the package actually puts
	// the alias owner's values in (any type with the method would match
	// structurally).
	boxed := map[*types.Named][]types.Type{}
	for _, fn := range st.funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if mi, ok := instr.(*ssa.MakeInterface); ok {
					if n := namedOf(mi.X.Type()); n != nil {
						boxed[n] = append(boxed[n], mi.Type())
					}
				}
			}
		}
	}
	reported := map[token.Pos]bool{}
	for _, caller := range st.funcs {
		st.walk(caller, func(instr ssa.Instruction, h held) {
			c, ok := instr.(ssa.CallInstruction)
			if !ok {
				return
			}
			for fn, u := range users {
				if !calls(c.Common(), fn, boxed) {
					continue
				}
				mu := guardField(u.al.of)
				if holdsField(h, mu) || reported[instr.Pos()] || !instr.Pos().IsValid() {
					continue
				}
				if topLevel(caller) == fn {
					continue
				}
				reported[instr.Pos()] = true
				st.reportAlias(caller, instr.Pos(), fn, u.al, u.acc, mu)
			}
		})
	}
}

func unwrap(v ssa.Value) ssa.Value {
	for {
		switch x := v.(type) {
		case *ssa.ChangeType:
			v = x.X
		case *ssa.MakeInterface:
			v = x.X
		case *ssa.ChangeInterface:
			v = x.X
		default:
			return v
		}
	}
}

// guardField returns the mutex field guarding fs, or nil for a global.
func guardField(fs *fieldStats) *types.Var {
	for _, g := range fs.guarded {
		for k, v := range g.held {
			if strings.HasPrefix(k, g.base.key) && strings.HasSuffix(k, fs.guard) {
				return v.field
			}
		}
	}
	return nil
}

// holdsField reports whether h holds the mutex field mu of any value.
func holdsField(h held, mu *types.Var) bool {
	if mu == nil {
		return false
	}
	for _, v := range h {
		if v.field == mu {
			return true
		}
	}
	return false
}

// calls reports whether c may call fn: statically, or through an
// interface fn's receiver type implements.
func calls(c *ssa.CallCommon, fn *ssa.Function, boxed map[*types.Named][]types.Type) bool {
	if !c.IsInvoke() {
		callee := c.StaticCallee()
		return callee != nil && (callee == fn || callee.Object() != nil && callee.Object() == fn.Object())
	}
	if c.Method == nil || c.Method.Name() != fn.Name() || fn.Signature.Recv() == nil {
		return false
	}
	n := namedOf(fn.Signature.Recv().Type())
	if n == nil {
		return false
	}
	for _, t := range boxed[n] {
		if types.Identical(t, c.Value.Type()) {
			return true
		}
	}
	return false
}

func (st *state) reportAlias(caller *ssa.Function, pos token.Pos, fn *ssa.Function, al *alias, use *access, mu *types.Var) {
	of := al.of
	owner := ownerName(of.field, st.pass.Pkg)
	aliasOwner := ownerName(al.field, st.pass.Pkg)
	guardName := st.guardPretty(of.guarded, of.guard)
	lock := guardName
	if caller.Signature.Recv() != nil && len(caller.Params) > 0 && mu != nil {
		if n := namedOf(caller.Params[0].Type()); n != nil && namedOf(of.guarded[0].base.root.Type()) == n {
			lock = caller.Params[0].Name() + of.guard
		}
	}
	sort.Slice(of.guarded, func(i, j int) bool { return of.guarded[i].pos < of.guarded[j].pos })
	where := st.sitesList(of.guarded)
	diag.Report(st.pass, diag.Finding{
		Pos: pos,
		Hazard: fmt.Sprintf("this call reaches the client in %s.%s without holding %s: %s.%s calls %s.%s.%s, the same value (both stored in %s at %s)",
			owner, of.field.Name(), lock, aliasOwner, fn.Name(), use.base.pretty, al.field.Name(), use.method, al.in.Name(), st.shortPos(al.store)),
		Evidence: fmt.Sprintf("%s.%s is accessed under %s at %d of %d sites: %s", owner, of.field.Name(), guardName, len(of.guarded), of.total, strings.Join(where, ", ")),
		Fix:      fmt.Sprintf("make the client reachable only under its rule: guard.Serial(client) (a guard.Access[T]) where it is created, handed to %s and %s alike, so every use goes through Do; or take %s around this call", owner, aliasOwner, lock),
		Related: []analysis.RelatedInformation{
			{Pos: use.pos, Message: fmt.Sprintf("%s uses the shared client here, with no lock", fn.Name())},
			{Pos: al.store, Message: fmt.Sprintf("the client is shared with %s here", aliasOwner)},
			{Pos: of.guarded[0].pos, Message: fmt.Sprintf("%s is used under %s here", of.field.Name(), guardName)},
		},
	})
}

func ownerName(f *types.Var, pkg *types.Package) string {
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		tn, ok := scope.Lookup(name).(*types.TypeName)
		if !ok {
			continue
		}
		s, ok := tn.Type().Underlying().(*types.Struct)
		if !ok {
			continue
		}
		for i := range s.NumFields() {
			if s.Field(i) == f {
				return name
			}
		}
	}
	return "?"
}
