// Package guardedby finds a struct field used outside the mutex that guards
// it everywhere else.
//
// # What it finds
//
// Within a package, a field (or a client stored in a field, whose method
// calls count as uses) that is accessed under the same mutex at almost all
// of its sites is inferred to be guarded by it, with no annotations. An
// access that does not hold that mutex is reported, with where the guarded
// accesses are. This is seed 000: every path of a validator took the lock
// before using a websocket that allows one reader at a time, except one
// balance check; recv calls collided in production.
//
// A mutex is named by its place relative to the accessed value: s.conn is
// guarded by s.mu when the same s's field mu is held (any instance of the
// type, s being the access's own base), or by a package-level mutex.
//
// # How
//
// Held locks are tracked on SSA (buildssa) with a must-hold dataflow over
// each function's blocks: Lock/RLock add a lock, Unlock/RUnlock remove it,
// deferred unlocks do not release it before the end, and at a merge only
// the locks held on every incoming path are held. A closure starts with the
// locks held where it is created (it is assumed to run then, as with
// sort.Slice or a callback), except one started with go, which holds
// nothing. An unexported method whose every static call in the package
// holds the receiver's lock starts with it held (iterated, so chains of
// helpers work); a call from a trusted function (below) that does not
// visibly hold the lock says nothing about the callee's entry. A method
// named *Locked, or whose doc comment says the caller holds the lock, is
// trusted: its accesses count neither way when its callers cannot be seen.
// So are etcd's unsafeFoo helpers, and an unexported method called only
// from trusted functions. Set-up functions (init*, setup*, start*,
// configure*, Open*, SetX, Restore, Recover), methods called only from
// them, plain functions that take no lock and work on a parameter, and
// _test.go code outside goroutines count neither way either, and changes
// made there do not make a field mutable. These are name conventions: a
// start* or configure* function that runs while the value is shared hides
// its races, and the doc-comment match is loose ("with the lock held").
//
// A field is inferred guarded when at least [MinGuarded] of its distinct
// access sites hold the same lock, in at least two functions, and they are
// at least [MinFraction] of its counted sites. Not counted: accesses on a
// value the function allocated itself (constructors: composite literal or
// new(T), then field initialisation), also through a local variable
// reassigned from a method on it (w, err = w.rename(dir)), on a value
// receiver, and in methods called only on such fresh values. Not candidates: sync and sync/atomic
// types, channels, values of types with their own mutex, fields used with
// sync/atomic functions, and fields never changed after construction (no
// write, no method call on the value outside constructors).
//
// gVisor checklocks annotations are honoured: "// +checklocks:mu" on a
// field makes it guarded by mu whatever the counts; "+checklocksignore" on a
// function skips it; "+checklocks:s.mu" on a function means it is called
// with s.mu held. +checklocksacquire, +checklocksrelease and the rest are
// ignored.
//
// A value stored into a guarded field and, by the same constructor, into a
// field of another type (the seed: the websocket handed to a chain
// provider) is the same client: a call in the package that reaches the
// other type's method using it, without the guarding lock, is reported too.
//
// Not reported, because the analysis cannot tell them from correct code
// and real services are full of them:
//   - a read used only to compare with nil or to test its length against a
//     constant (if s.m == nil { return }): the lock-free fast path before a
//     locked re-check; it counts neither way;
//   - an access holding the guarding mutex of another value of the type
//     (newAcc.clients = acc.clients under acc.mu): a hand-over the
//     analysis cannot place on one value;
//   - an access through a back-pointer (n.store.index in a method of node)
//     when no method of node ever takes n.store's lock: node's methods run
//     under the store's callers' lock;
//   - a read guarded by a test of an atomic flag of the same value that a
//     writer of the field stores after writing it (if atomic.LoadInt32(&c.tls)
//     == 1 { c.tlsConn... }): the flag orders the read after the write;
//   - an access on a variable that is, on some path, a value the function
//     just made and has not shared (e is the entry found and locked, or a
//     new one).
//
// Codec methods (MarshalJSON, UnmarshalJSON, GobEncode, ...: called by the
// encoders, under the caller's lock around json.Marshal(s) or on a value
// being filled), OnStart and loadXFromY set-up, and functions whose doc says
// they are for tests only count neither way. A struct held by value whose
// type has Lock and Unlock (a wrapper such as cmtsync.Mutex) guards itself,
// as one with a sync.Mutex does. A call of a method of this package that
// only reads through its receiver (Size, Len, getters) is a read of the
// field, not a use of a client.
//
// Method calls on an interface field (a store behind an interface) do not
// make the field mutable: the implementation guards itself or not. A
// method value handed to a function that only calls it (s.walk(p,
// s.checkDir)) runs under the locks held where it is made; one stored for
// later (subscribe(s.handle)) runs with none. An exported method of an
// unexported type, or one its package calls at two sites or more, is
// judged by those calls.
//
// Each function is reported at most once per field, at its first access
// that does not hold the lock.
//
// # What it does not find
//
// Locks of another object (s.parent.mu guarding s.x) are not inferred: an
// access that holds such a lock is neither counted nor reported. Lock
// tracking does not follow sync.Locker interfaces, TryLock, or locks taken
// by a called function. Accesses through a value whose origin is
// unknown to the analysis (a map element, a slice element) are each their
// own base, so their locks are only matched when taken on the same value.
// Fields of types from other packages are not inferred. Writes under RLock
// are not flagged. Ownership by one goroutine is not modelled: a field that
// only its own goroutine writes (a connection's read loop) is reported when
// that goroutine reads it without the lock. A type used both as a private
// configuration copy and as a shared live object gets one inference for
// both, so unlocked uses of the copy may be reported.
//
// # Fix
//
// Put the value behind the lock, so no path can reach it unlocked:
// guard.New(v) (a guard.Value[T], used inside Do), guard.NewRW for an
// RWMutex, or, for a client, guard.Serial(client) (a guard.Access[T]) where
// the connection is made. Or take the lock on this path.
package guardedby

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/diag"
)

// Analyzer is the guardedby rule.
var Analyzer = &analysis.Analyzer{
	Name:     "guardedby",
	Doc:      "report a field used outside the mutex that guards it at its other sites",
	URL:      "https://github.com/sluice-go/sluice/tree/main/vet/guardedby",
	Run:      run,
	Requires: []*analysis.Analyzer{ssapass.Analyzer},
}

// Inference thresholds: a field is guarded by a lock held at MinGuarded or
// more of its distinct access sites, making up MinFraction of them.
const (
	MinGuarded  = 3
	MinFraction = 0.75
)

type accessKind uint8

const (
	kRead accessKind = iota
	kWrite
	kMut  // a method call on the value, a map or element update, the address taken
	kCall // a method call on the value (a client), also a mutation
)

// access is one use of a field.
type access struct {
	field   *types.Var
	prefix  string // the value-struct fields selected on the way ("info.")
	pos     token.Pos
	fn      *ssa.Function
	base    place
	held    held
	kind    accessKind
	method  string // for kCall
	atomic  bool
	local   bool // on a value not yet shared (constructor, value receiver)
	neutral bool // in a function trusted to be called with the lock held
	inGo    bool
	// fastPath: a read used only to compare with nil or to test its
	// length against a constant (if s.m == nil { return }): the lock-free
	// fast path before the locked re-check. Never reported.
	fastPath bool
	// ifaceCall: a method call on an interface value: the implementation,
	// not the field, decides whether it needs the lock.
	ifaceCall bool
}

type funcInfo struct {
	ignore     bool     // +checklocksignore
	assumeHeld bool     // *Locked name or "caller holds" doc
	requires   []string // +checklocks:s.mu on the function
	setup      bool     // a lifecycle name: its accesses count neither way
	test       bool     // in a _test.go file
}

type state struct {
	pass    *analysis.Pass
	pl      *placer
	funcs   []*ssa.Function
	info    map[*ssa.Function]*funcInfo
	entries map[*ssa.Function]held
	fresh   map[*ssa.Function]bool // receiver is a value not yet shared
	inGo    map[*ssa.Function]bool
	flows   map[*ssa.Function][]held
	boxes   []box                  // concrete types the package converts to interfaces
	annot   map[*types.Var]string  // +checklocks on fields: guard key relative to the base (".mu") or global key
	lockers map[*ssa.Function]bool // top-level functions that take a lock
	byObj   map[types.Object]*ssa.Function
}

func run(pass *analysis.Pass) (res any, err error) {
	defer func() {
		// Odd code must never crash vet: drop this package's findings instead.
		if r := recover(); r != nil {
			res, err = nil, nil
		}
	}()
	ssaRes, ok := pass.ResultOf[ssapass.Analyzer].(*buildssa.SSA)
	if !ok || ssaRes == nil {
		return nil, nil
	}
	st := &state{
		pass:    pass,
		pl:      newPlacer(),
		info:    map[*ssa.Function]*funcInfo{},
		entries: map[*ssa.Function]held{},
		fresh:   map[*ssa.Function]bool{},
		inGo:    map[*ssa.Function]bool{},
		flows:   map[*ssa.Function][]held{},
		annot:   map[*types.Var]string{},
	}
	generated := map[*token.File]bool{}
	for _, f := range pass.Files {
		if diag.Generated(pass.Fset, f) {
			generated[pass.Fset.File(f.Pos())] = true
		}
	}
	seen := map[*ssa.Function]bool{}
	var add func(fn *ssa.Function)
	add = func(fn *ssa.Function) {
		if fn == nil || seen[fn] || len(fn.Blocks) == 0 {
			return
		}
		seen[fn] = true
		if tf := pass.Fset.File(fn.Pos()); tf != nil && generated[tf] {
			return
		}
		st.funcs = append(st.funcs, fn)
		for _, a := range fn.AnonFuncs {
			add(a)
		}
	}
	for _, fn := range ssaRes.SrcFuncs {
		add(fn)
	}
	st.annotations()
	for _, fn := range st.funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if mc, ok := instr.(*ssa.MakeClosure); ok {
					if cf, ok := mc.Fn.(*ssa.Function); ok {
						for i, fv := range cf.FreeVars {
							if i < len(mc.Bindings) {
								st.pl.bindings[fv] = mc.Bindings[i]
							}
						}
					}
				}
			}
		}
	}
	for _, fn := range st.funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if mi, ok := instr.(*ssa.MakeInterface); ok {
					st.boxes = append(st.boxes, box{iface: mi.Type(), concrete: mi.X.Type()})
				}
			}
		}
	}
	st.lockers = map[*ssa.Function]bool{}
	for _, fn := range st.funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if c, ok := instr.(ssa.CallInstruction); ok {
					if op, _ := mutexOp(c.Common()); op == "lock" || op == "rlock" {
						st.lockers[topLevel(fn)] = true
					}
				}
			}
		}
	}
	st.solve()
	accs := st.collect()
	guarded := st.infer(accs)
	st.report(guarded)
	st.reportAliases(guarded, accs)
	return nil, nil
}

var (
	lifecycle = regexp.MustCompile(`^([iI]nit|[sS]etup|[sS]tart|[cC]onfigure|[oO]pen|[sS]et[A-Z]|[rR]estore|[rR]ecover|OnStart$|[lL]oad[A-Z]?\w*From[A-Z])`)
	// codecs are called by encoding/json, gob and friends, from a caller
	// that holds the lock around json.Marshal(s) or fills a value not yet
	// shared: what they touch counts neither way.
	codecs       = map[string]bool{"MarshalJSON": true, "UnmarshalJSON": true, "MarshalText": true, "UnmarshalText": true, "MarshalBinary": true, "UnmarshalBinary": true, "GobEncode": true, "GobDecode": true, "MarshalYAML": true, "UnmarshalYAML": true}
	testOnlyDoc  = regexp.MustCompile(`(?i)(for testing( purposes)? only|only (be )?(used )?(for|in) tests?|for tests only|test[- ]only|used (only )?(in|by) tests)`)
	checklocksRe = regexp.MustCompile(`\+checklocks(read)?:([\w.]+)`)
	callerHolds  = regexp.MustCompile(`(?i)(callers? (must )?(hold|holds|have|has)|must be called with|must hold|requires? .{0,40}(held|lock)|(lock|mu|mutex)\w* (is |must be )?(held|locked)|with .{0,40}(held|locked)\b|while holding|assumes? .{0,40}(held|locked))`)
)

var (
	docLockWord   = regexp.MustCompile(`(?i)\b(lock|locks|locked|held|hold|holds|holding|mutex|mu)\b`)
	docDutyWord   = regexp.MustCompile(`(?i)\b(callers?|assumed?|assumes|should|must|expects?|requires?)\b`)
	docNeedLock   = regexp.MustCompile(`(?i)(do(es)? not|don't|no) need to (obtain|acquire|take|grab|hold)\b.{0,30}\block`)
	docNotHolding = regexp.MustCompile(`(?i)(must not|should not|shouldn't|mustn't|not be) (be )?(called )?(with|while|hold)|without (holding|the lock|a lock|locking)|(acquires|takes|grabs|will (lock|acquire|take)) (the |a )?(lock|mutex)|\bnot (be )?(held|locked)\b`)
)

// docSaysHeld reports whether a doc comment says the function runs with a
// lock held: "Lock should be held", "Lock is assumed held", "client should
// be locked", "caller must hold s.mu", "do not need to obtain internal
// lock", but not "must not be called with the lock held".
func docSaysHeld(text string) bool {
	if docNotHolding.MatchString(text) {
		return false
	}
	if callerHolds.MatchString(text) || docNeedLock.MatchString(text) {
		return true
	}
	for _, line := range strings.Split(text, ".") {
		if docLockWord.MatchString(line) && docDutyWord.MatchString(line) {
			return true
		}
	}
	return false
}

// annotations reads checklocks annotations and the locking conventions in
// names and doc comments.
func (st *state) annotations() {
	pass := st.pass
	byDecl := map[*ast.FuncDecl]*ssa.Function{}
	for _, fn := range st.funcs {
		if fd, ok := fn.Syntax().(*ast.FuncDecl); ok {
			byDecl[fd] = fn
		}
		fi := &funcInfo{}
		st.info[fn] = fi
		name := strings.ToLower(fn.Name())
		if fn.Parent() == nil && (strings.HasSuffix(name, "locked") || strings.HasSuffix(name, "withlock") || strings.HasSuffix(name, "nolock") || strings.HasSuffix(name, "_l") || strings.HasPrefix(name, "unsafe") || strings.HasPrefix(name, "must")) {
			// Conventions for "the caller holds the lock": fooLocked,
			// fooNoLock, etcd's unsafeFoo.
			fi.assumeHeld = true
		}
		if fn.Parent() == nil && (lifecycle.MatchString(fn.Name()) || codecs[fn.Name()]) {
			// Set-up before the value is shared: init, Start, SetX,
			// loadFromFile; and codec methods (see codecs).
			fi.setup = true
		}
		if fd, ok := fn.Syntax().(*ast.FuncDecl); ok && fd.Doc != nil && testOnlyDoc.MatchString(fd.Doc.Text()) {
			fi.test = true // "should be used for testing purposes only"
		}
		if tf := pass.Fset.File(fn.Pos()); tf != nil && strings.HasSuffix(tf.Name(), "_test.go") {
			fi.test = true
		}
	}
	for _, f := range pass.Files {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				fn := byDecl[d]
				if fn == nil || d.Doc == nil {
					continue
				}
				fi := st.info[fn]
				text := d.Doc.Text()
				for _, c := range d.Doc.List {
					if strings.Contains(c.Text, "+checklocksignore") {
						fi.ignore = true
					}
					for _, m := range checklocksRe.FindAllStringSubmatch(c.Text, -1) {
						fi.requires = append(fi.requires, m[2])
					}
				}
				if docSaysHeld(text) {
					fi.assumeHeld = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok {
						continue
					}
					stt, ok := ts.Type.(*ast.StructType)
					if !ok || stt.Fields == nil {
						continue
					}
					for _, fld := range stt.Fields.List {
						g := fieldAnnotation(fld)
						if g == "" {
							continue
						}
						for _, nm := range fld.Names {
							v, _ := pass.TypesInfo.Defs[nm].(*types.Var)
							if v == nil {
								continue
							}
							st.annot[v] = st.guardKey(g, stt)
						}
					}
				}
			}
		}
	}
}

func fieldAnnotation(fld *ast.Field) string {
	for _, cg := range []*ast.CommentGroup{fld.Doc, fld.Comment} {
		if cg == nil {
			continue
		}
		for _, c := range cg.List {
			if m := checklocksRe.FindStringSubmatch(c.Text); m != nil {
				return m[2]
			}
		}
	}
	return ""
}

// guardKey turns an annotation's mutex name into a guard key: a field path
// of the same struct (".mu") or a package-level variable ("G:path.mu").
func (st *state) guardKey(name string, stt *ast.StructType) string {
	first := strings.Split(name, ".")[0]
	for _, fld := range stt.Fields.List {
		for _, nm := range fld.Names {
			if nm.Name == first {
				return "." + name
			}
		}
		if len(fld.Names) == 0 { // embedded sync.Mutex: "Mutex"
			if t := st.pass.TypesInfo.TypeOf(fld.Type); t != nil {
				if n := namedOf(t); n != nil && n.Obj().Name() == first {
					return "." + name
				}
			}
		}
	}
	if obj := st.pass.Pkg.Scope().Lookup(first); obj != nil {
		return "G:" + st.pass.Pkg.Path() + "." + name
	}
	return "." + name
}

func namedOf(t types.Type) *types.Named {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, _ := types.Unalias(t).(*types.Named)
	return n
}

// site is one call of a function, with the locks held there.
type site struct {
	caller *ssa.Function
	held   held
	recv   place // the first argument's place
	ok     bool  // recv known
	goStmt bool
}

// solve computes each function's entry lockset and receiver freshness,
// iterating the interprocedural pass until it settles.
func (st *state) solve() {
	// Functions reachable other than by a static call (method values,
	// interface dispatch, function values) cannot be judged by their calls.
	dynamic := map[*ssa.Function]bool{}
	invoked := map[string]bool{}
	byObj := map[types.Object]*ssa.Function{}
	for _, fn := range st.funcs {
		if fn.Object() != nil {
			byObj[fn.Object()] = fn
		}
	}
	st.byObj = byObj
	for _, fn := range st.funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if c, ok := instr.(ssa.CallInstruction); ok && c.Common().IsInvoke() {
					invoked[c.Common().Method.Name()] = true
				}
				var ops [8]*ssa.Value
				for i, op := range instr.Operands(ops[:0]) {
					if op == nil {
						continue
					}
					f, ok := (*op).(*ssa.Function)
					if !ok {
						continue
					}
					if c, ok := instr.(ssa.CallInstruction); ok && i == 0 && c.Common().Value == f {
						continue // a direct call
					}
					if mc, ok := instr.(*ssa.MakeClosure); ok && mc.Fn == f && f.Parent() != nil {
						continue // a closure's creation
					}
					if mc, ok := instr.(*ssa.MakeClosure); ok && mc.Fn == f && boundPassedToCall(mc) {
						continue // s.walk(p, s.checkDir): judged at its creation, like a closure
					}
					if f.Object() != nil {
						if g := byObj[f.Object()]; g != nil {
							dynamic[g] = true // also $bound and $thunk wrappers
						}
					}
					if f.Parent() != nil {
						// an anonymous function without free variables used as a value
						continue
					}
					dynamic[f] = true
				}
			}
		}
	}
	for _, fn := range st.funcs {
		if fn.Signature.Recv() != nil && invoked[fn.Name()] {
			dynamic[fn] = true
		}
	}
	for _, fn := range st.funcs {
		st.entries[fn] = st.required(fn)
		if recvIsValue(fn) {
			st.fresh[fn] = true
		}
	}
	for round := 0; round < 6; round++ {
		for _, fn := range st.funcs {
			st.flows[fn] = st.pl.flow(fn, st.entries[fn])
		}
		sites := st.sites()
		changed := false
		for _, fn := range st.funcs {
			ss := sites[fn]
			if fn.Parent() != nil {
				// A closure: the locks where it is made, none if started by go.
				var h held
				goStmt := false
				for _, s := range ss {
					if s.goStmt {
						goStmt = true
					}
				}
				if goStmt || len(ss) == 0 {
					h = held{}
				} else {
					h = ss[0].held.clone()
					for _, s := range ss[1:] {
						h.meetHeld(s.held)
					}
				}
				if goStmt && !st.inGo[fn] {
					st.inGo[fn] = true
					changed = true
				}
				if !h.equal(st.entries[fn]) {
					st.entries[fn] = h
					changed = true
				}
				continue
			}
			if dynamic[fn] || len(ss) == 0 || fn.Signature.Recv() == nil || len(fn.Params) == 0 {
				continue
			}
			if fn.Object() != nil && fn.Object().Exported() && !st.info[fn].assumeHeld && exportedRecv(fn) && len(ss) < 2 {
				// Callable from other packages, whose calls are not seen:
				// judged by its own calls only when the package calls it
				// at two sites or more (the meet of them must hold the
				// lock), or when its type is unexported.
				continue
			}
			recv := st.pl.of(fn.Params[0])
			h := held(nil)
			fresh := true
			trusted, setupOnly := 0, 0
			for _, s := range ss {
				if fi := st.info[topLevel(s.caller)]; fi != nil && !s.goStmt && !st.enclosing(s.caller, func(f *ssa.Function) bool { return st.inGo[f] }) && (fi.assumeHeld || fi.setup) && !(s.ok && holdsUnder(s.held, s.recv.key)) {
					trusted++
					if fi.setup && !fi.assumeHeld {
						setupOnly++
					}
				} else if s.ok && !s.goStmt && st.onParam(s.recv, s.caller) {
					// validate(local, existing) calling local.build(): a
					// plain function working on a value handed to it, as
					// its own accesses, counts neither way.
					trusted++
					setupOnly++
				}
			}
			if fi := st.info[fn]; trusted == len(ss) && !fi.assumeHeld && !fi.setup {
				// Called only where the caller is trusted to hold the lock
				// (or only from set-up): the callee inherits that trust.
				if setupOnly == trusted {
					fi.setup = true
				} else {
					fi.assumeHeld = true
				}
				changed = true
			}
			for _, s := range ss {
				if st.info[topLevel(s.caller)] != nil && st.info[topLevel(s.caller)].test && len(ss) > 1 {
					continue // a test calling a helper bare says nothing of production callers
				}
				if fi := st.info[topLevel(s.caller)]; fi != nil && fi.assumeHeld && !s.goStmt && s.ok && !holdsUnder(s.held, s.recv.key) {
					// A caller trusted to hold the lock does not show it
					// held: its call says nothing about the callee's entry.
					fresh = false
					continue
				}
				if fi := st.info[topLevel(s.caller)]; fi != nil && fi.setup && !fi.assumeHeld && !s.goStmt && !st.enclosing(s.caller, func(f *ssa.Function) bool { return st.inGo[f] }) {
					continue // set-up runs before the value is shared: its call says nothing of the entry
				}
				if s.ok && !s.goStmt && st.onParam(s.recv, s.caller) {
					continue // nor does a plain function working on a value handed to it
				}
				if round == 0 && topLevel(s.caller) == fn {
					// A recursive call holds what fn's entry holds, which
					// is not known yet: judge it from the next round on.
					continue
				}
				if s.goStmt || !s.ok {
					h = held{}
					fresh = false
					continue
				}
				if st.isLocal(s.recv, s.caller) {
					// A constructor calling a helper on its own value before
					// sharing it needs no lock; it says nothing of the entry.
					continue
				}
				fresh = false
				rel := held{}
				for k, v := range s.held {
					switch {
					case strings.HasPrefix(k, s.recv.key+"."):
						r := k[len(s.recv.key):]
						rel[recv.key+r] = heldLock{mode: v.mode, pretty: recv.pretty + r, field: v.field}
					case strings.HasPrefix(k, "G:"):
						rel[k] = v
					}
				}
				if h == nil {
					h = rel
				} else {
					h.meetHeld(rel)
				}
			}
			if h == nil {
				h = held{}
			}
			for k, v := range st.required(fn) {
				h[k] = v
			}
			if !h.equal(st.entries[fn]) {
				st.entries[fn] = h
				changed = true
			}
			if fresh != st.fresh[fn] && !recvIsValue(fn) {
				st.fresh[fn] = fresh
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for _, fn := range st.funcs {
		st.flows[fn] = st.pl.flow(fn, st.entries[fn])
	}
}

// holdsUnder reports whether h holds a lock of the value at key.
func holdsUnder(h held, key string) bool {
	for k := range h {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

func recvIsValue(fn *ssa.Function) bool {
	r := fn.Signature.Recv()
	if r == nil {
		return false
	}
	_, isPtr := r.Type().Underlying().(*types.Pointer)
	if isPtr {
		return false
	}
	_, isIface := r.Type().Underlying().(*types.Interface)
	return !isIface
}

// required returns the locks a +checklocks function annotation says are
// held on entry.
func (st *state) required(fn *ssa.Function) held {
	h := held{}
	fi := st.info[fn]
	if fi == nil {
		return h
	}
	for _, r := range fi.requires {
		parts := strings.Split(r, ".")
		for _, p := range fn.Params {
			if p.Name() == parts[0] && len(parts) > 1 {
				pp := st.pl.of(p)
				h[pp.key+"."+strings.Join(parts[1:], ".")] = heldLock{mode: modeW | modeR, pretty: r}
			}
		}
		if len(parts) == 1 {
			if obj := st.pass.Pkg.Scope().Lookup(r); obj != nil {
				h["G:"+st.pass.Pkg.Path()+"."+r] = heldLock{mode: modeW | modeR, pretty: r}
			}
		}
	}
	return h
}

// sites returns each function's call and creation sites in the package.
func (st *state) sites() map[*ssa.Function][]site {
	out := map[*ssa.Function][]site{}
	known := map[*ssa.Function]bool{}
	for _, fn := range st.funcs {
		known[fn] = true
	}
	for _, fn := range st.funcs {
		st.walk(fn, func(instr ssa.Instruction, h held) {
			switch in := instr.(type) {
			case *ssa.MakeClosure:
				cf, _ := in.Fn.(*ssa.Function)
				if cf != nil && boundPassedToCall(in) && cf.Object() != nil {
					// A method value handed to a call runs, as far as the
					// analysis can tell, while that call runs: where it is
					// made, with the locks held there, on its bound receiver.
					if m := st.byObj[cf.Object()]; m != nil && known[m] {
						out[m] = append(out[m], site{caller: fn, held: h.clone(), recv: st.pl.of(in.Bindings[0]), ok: true})
					}
					return
				}
				if cf == nil || !known[cf] {
					return
				}
				goStmt := false
				for _, r := range *in.Referrers() {
					if g, ok := r.(*ssa.Go); ok && g.Call.Value == in {
						goStmt = true
					}
				}
				out[cf] = append(out[cf], site{caller: fn, held: h.clone(), goStmt: goStmt})
			case ssa.CallInstruction:
				c := in.Common()
				callee, _ := c.Value.(*ssa.Function)
				if callee == nil || !known[callee] {
					return
				}
				_, goStmt := in.(*ssa.Go)
				s := site{caller: fn, held: h.clone(), goStmt: goStmt}
				if callee.Parent() == nil && len(c.Args) > 0 {
					s.recv, s.ok = st.pl.of(c.Args[0]), true
				}
				if callee.Parent() != nil && len(callee.FreeVars) > 0 {
					return // counted at its MakeClosure
				}
				out[callee] = append(out[callee], s)
			}
		})
	}
	return out
}

// walk visits fn's instructions in block order with the locks held just
// before each.
func (st *state) walk(fn *ssa.Function, visit func(ssa.Instruction, held)) {
	in := st.flows[fn]
	for i, b := range fn.Blocks {
		if i >= len(in) || in[i] == nil {
			continue
		}
		h := in[i].clone()
		for _, instr := range b.Instrs {
			visit(instr, h)
			st.pl.step(h, instr)
		}
	}
}

// isLocal reports whether p is on a value fn has not shared yet: one it
// allocated itself, or the receiver of a method only called on such values.
func (st *state) isLocal(p place, fn *ssa.Function) bool { return st.isLocalD(p, fn, 0) }

func (st *state) isLocalD(p place, fn *ssa.Function, depth int) bool {
	if cell, ok := p.root.(*ssa.Alloc); ok && p.deref && p.key == rootPlace(cell, "").key+"*" {
		// w := &WAL{...}; w, err = w.renameWAL(): a local variable whose
		// every assigned value is itself still the function's own.
		return st.cellLocal(cell, fn, depth+1)
	}
	if p.deref {
		return false
	}
	switch r := p.root.(type) {
	case *ssa.Alloc:
		// A closure sees its creator's fresh value as fresh unless started
		// by go: the value may be shared by then.
		for f := fn; f != nil; f = f.Parent() {
			if f == r.Parent() {
				return true
			}
			if st.inGo[f] {
				return false
			}
		}
		return false
	case *ssa.Call:
		// s := newStore(); s.clock = ...: still the constructor's value.
		if callee := r.Call.StaticCallee(); callee != nil && r.Parent() == fn {
			n := callee.Name()
			return strings.HasPrefix(n, "new") || strings.HasPrefix(n, "New")
		}
	case *ssa.Parameter:
		// Only the receiver of a fresh method; closures see their parent's.
		owner := r.Parent()
		return owner != nil && len(owner.Params) > 0 && owner.Params[0] == r && st.fresh[owner]
	}
	return false
}

// cellLocal reports whether every value stored in the variable cell is a
// fresh value of fn: an allocation, a new*/New* result, or what a method
// called on such a value returns (w, err = w.renameWAL(dir)).
func (st *state) cellLocal(cell *ssa.Alloc, fn *ssa.Function, depth int) bool {
	refs := cell.Referrers()
	if refs == nil || depth > 4 || !st.isLocal(rootPlace(cell, ""), fn) {
		return false
	}
	n := 0
	for _, r := range *refs {
		store, ok := r.(*ssa.Store)
		if !ok || store.Addr != cell {
			continue
		}
		n++
		if reassignsSelf(store.Val, cell) {
			continue
		}
		if !st.freshValue(store.Val, fn, depth+1) {
			return false
		}
	}
	return n > 0
}

// reassignsSelf reports whether v is what a method called on the value in
// cell returns as its receiver's type: w, err = w.renameWAL(dir).
func reassignsSelf(v ssa.Value, cell *ssa.Alloc) bool {
	if e, ok := v.(*ssa.Extract); ok {
		if e.Index != 0 {
			return false
		}
		v = e.Tuple
	}
	call, ok := v.(*ssa.Call)
	if !ok {
		return false
	}
	callee := call.Call.StaticCallee()
	if callee == nil || callee.Signature.Recv() == nil || len(call.Call.Args) == 0 {
		return false
	}
	load, ok := call.Call.Args[0].(*ssa.UnOp)
	if !ok || load.X != cell {
		return false
	}
	res := callee.Signature.Results()
	return res.Len() > 0 && types.Identical(res.At(0).Type(), callee.Signature.Recv().Type())
}

func (st *state) freshValue(v ssa.Value, fn *ssa.Function, depth int) bool {
	if depth > 4 {
		return false
	}
	switch v := v.(type) {
	case *ssa.Alloc:
		return st.isLocal(rootPlace(v, ""), fn)
	case *ssa.Const:
		return true // nil
	case *ssa.Extract:
		return st.freshValue(v.Tuple, fn, depth+1)
	case *ssa.Call:
		callee := v.Call.StaticCallee()
		if callee == nil || v.Parent() != fn {
			return false
		}
		if n := callee.Name(); strings.HasPrefix(n, "new") || strings.HasPrefix(n, "New") {
			return true
		}
		if callee.Signature.Recv() != nil && len(v.Call.Args) > 0 && st.fresh[callee] {
			// A method only called on fresh values returns one of its receiver's type.
			recvT := callee.Signature.Recv().Type()
			res := callee.Signature.Results()
			if res.Len() > 0 && types.Identical(res.At(0).Type(), recvT) {
				if st.isLocalD(st.pl.of(v.Call.Args[0]), fn, depth+1) {
					return true
				}
			}
		}
	case *ssa.UnOp:
		if cell, ok := v.X.(*ssa.Alloc); ok && v.Op.String() == "*" {
			return st.cellLocal(cell, fn, depth+1)
		}
	}
	return false
}

// someEdgeFresh reports whether one of phi's edges is a value fn made
// itself and has not shared.
func (st *state) someEdgeFresh(phi *ssa.Phi, fn *ssa.Function) bool {
	for _, e := range phi.Edges {
		if _, isConst := e.(*ssa.Const); isConst {
			continue
		}
		if st.freshValue(e, fn, 1) {
			return true
		}
	}
	return false
}

func (st *state) enclosing(fn *ssa.Function, pred func(*ssa.Function) bool) bool {
	for f := fn; f != nil; f = f.Parent() {
		if pred(f) {
			return true
		}
	}
	return false
}

// collect returns every access to a field of a struct type of this package.
func (st *state) collect() []*access {
	var out []*access
	lockers := st.lockers
	for _, fn := range st.funcs {
		ignore := st.enclosing(fn, func(f *ssa.Function) bool { return st.info[f] != nil && st.info[f].ignore })
		inGo := st.enclosing(fn, func(f *ssa.Function) bool { return st.inGo[f] })
		neutral := !inGo && st.enclosing(fn, func(f *ssa.Function) bool {
			fi := st.info[f]
			// Test set-up pokes at internals from one goroutine; only a
			// goroutine in a test is worth a report.
			return fi != nil && (fi.assumeHeld || fi.setup || fi.test)
		})
		st.walk(fn, func(instr ssa.Instruction, h held) {
			var x ssa.Value
			var idx int
			var v ssa.Value
			switch in := instr.(type) {
			case *ssa.FieldAddr:
				x, idx, v = in.X, in.Field, in
			case *ssa.Field:
				x, idx, v = in.X, in.Field, in
			default:
				return
			}
			if ignore {
				return
			}
			f := st.ownField(x.Type(), idx)
			if f == nil {
				return
			}
			if st.onlySubfields(v) {
				return // s.info.ID: the access is recorded as the path info.ID
			}
			// A field of a struct held by value (s.info.ID) is its own
			// variable: its path from the outer value names it.
			prefix := ""
			for {
				var ox ssa.Value
				var oidx int
				switch o := x.(type) {
				case *ssa.FieldAddr:
					ox, oidx = o.X, o.Field
				case *ssa.Field:
					ox, oidx = o.X, o.Field
				}
				if ox == nil {
					break
				}
				of := st.ownField(ox.Type(), oidx)
				if of == nil || pointerField(of) {
					break
				}
				prefix = of.Name() + "." + prefix
				x = ox
			}
			a := &access{
				field:   f,
				prefix:  prefix,
				pos:     instr.Pos(),
				fn:      fn,
				base:    st.pl.of(x),
				held:    h.clone(),
				neutral: neutral,
				inGo:    inGo,
			}
			a.local = st.isLocal(a.base, fn)
			if st.onParam(a.base, fn) && !lockers[topLevel(fn)] {
				// A plain function handed a value (validate(local, existing))
				// that locks nothing is usually working on a value not yet
				// shared; count it neither way.
				a.neutral = true
			}
			st.classify(a, v)
			a.fastPath = a.kind == kRead && fastPathRead(v)
			if a.pos.IsValid() {
				out = append(out, a)
			}
		})
	}
	return out
}

// backPointer returns the receiver's named type when a's base is a field of
// the receiver of another type (n.store in a method of node), else nil.
func backPointer(a *access) *types.Named {
	top := topLevel(a.fn)
	if top.Signature.Recv() == nil || len(top.Params) == 0 || a.base.field == nil || !a.base.deref {
		return nil
	}
	if a.base.root != top.Params[0] {
		return nil
	}
	rt, ft := namedOf(a.base.root.Type()), namedOf(a.base.field.Type())
	if rt == nil || ft == nil || rt.Obj() == ft.Obj() {
		return nil
	}
	return rt
}

// heldByOwnMethods reports whether a guarded site is in a method of rt.
func heldByOwnMethods(guarded []*access, rt *types.Named) bool {
	for _, g := range guarded {
		top := topLevel(g.fn)
		if top.Signature.Recv() == nil {
			continue
		}
		if n := namedOf(top.Signature.Recv().Type()); n != nil && n.Obj() == rt.Obj() {
			return true
		}
	}
	return false
}

// flagField names a field by its struct type and index.
type flagField struct {
	t types.Type
	i int
}

// afterAtomicFlag reports whether a's instruction only runs when an If
// dominating it tested a value derived from an atomic load of a flag of
// the same value (if atomic.LoadInt32(&c.TLS) == 1 { c.tlsConn... }), and
// some write of the field (list holds its accesses) is followed in its
// function by an atomic store to that flag: the reader then sees the
// write through the flag.
func (st *state) afterAtomicFlag(a *access, list []*access) bool {
	var at ssa.Instruction
	for _, b := range a.fn.Blocks {
		for _, in := range b.Instrs {
			if in.Pos() != a.pos {
				continue
			}
			switch in.(type) {
			case *ssa.FieldAddr, *ssa.Field:
				at = in
			}
		}
	}
	if at == nil {
		return false
	}
	var flags []flagField
	for b := at.Block().Idom(); b != nil; b = b.Idom() {
		if len(b.Instrs) == 0 {
			continue
		}
		if ifi, ok := b.Instrs[len(b.Instrs)-1].(*ssa.If); ok {
			st.atomicFlags(ifi.Cond, a.base.key, 4, &flags)
		}
	}
	if len(flags) == 0 {
		return false
	}
	for _, w := range list {
		if w.kind == kRead || w.local {
			continue
		}
		for _, b := range w.fn.Blocks {
			for _, in := range b.Instrs {
				c, ok := in.(ssa.CallInstruction)
				if !ok {
					continue
				}
				fn := c.Common().StaticCallee()
				if fn == nil || fn.Pkg == nil || fn.Pkg.Pkg.Path() != "sync/atomic" || len(c.Common().Args) == 0 {
					continue
				}
				if n := fn.Name(); !strings.HasPrefix(n, "Store") && !strings.HasPrefix(n, "Add") && !strings.HasPrefix(n, "Swap") && !strings.HasPrefix(n, "CompareAndSwap") {
					continue
				}
				if fa, ok := c.Common().Args[0].(*ssa.FieldAddr); ok {
					for _, f := range flags {
						if f.i == fa.Field && types.Identical(f.t, fa.X.Type()) {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

// atomicFlags adds to out the fields of the value at base whose atomic
// loads v is computed from, through comparisons, negation and a field of
// a local struct.
func (st *state) atomicFlags(v ssa.Value, base string, depth int, out *[]flagField) {
	if depth == 0 {
		return
	}
	switch v := v.(type) {
	case *ssa.Call:
		fn := v.Call.StaticCallee()
		if fn == nil || fn.Pkg == nil || fn.Pkg.Pkg.Path() != "sync/atomic" || !strings.HasPrefix(fn.Name(), "Load") || len(v.Call.Args) == 0 {
			return
		}
		if fa, ok := v.Call.Args[0].(*ssa.FieldAddr); ok && st.pl.of(fa.X).key == base {
			*out = append(*out, flagField{fa.X.Type(), fa.Field})
		}
	case *ssa.BinOp:
		st.atomicFlags(v.X, base, depth-1, out)
		st.atomicFlags(v.Y, base, depth-1, out)
	case *ssa.UnOp:
		if v.Op == token.NOT {
			st.atomicFlags(v.X, base, depth-1, out)
			return
		}
		if v.Op != token.MUL {
			return
		}
		if fa, ok := v.X.(*ssa.FieldAddr); ok {
			if alloc, ok := fa.X.(*ssa.Alloc); ok {
				st.fieldFlags(alloc, fa.Field, base, depth-1, out)
			}
		}
	}
}

// fieldFlags is atomicFlags for the values stored in field i of the local
// struct alloc, also through a copy of another local struct
// (stats := ClientStats{TLS: atomic.LoadInt32(&c.TLS) == 1}).
func (st *state) fieldFlags(alloc *ssa.Alloc, i int, base string, depth int, out *[]flagField) {
	if depth == 0 {
		return
	}
	for _, r := range *alloc.Referrers() {
		if s, ok := r.(*ssa.Store); ok && s.Addr == alloc {
			if u, ok := s.Val.(*ssa.UnOp); ok && u.Op == token.MUL {
				if src, ok := u.X.(*ssa.Alloc); ok && src != alloc {
					st.fieldFlags(src, i, base, depth-1, out)
				}
			}
			continue
		}
		f2, ok := r.(*ssa.FieldAddr)
		if !ok || f2.Field != i {
			continue
		}
		for _, r2 := range *f2.Referrers() {
			if s, ok := r2.(*ssa.Store); ok && s.Addr == f2 {
				st.atomicFlags(s.Val, base, depth, out)
			}
		}
	}
}

// exportedRecv reports whether fn's receiver type is exported.
func exportedRecv(fn *ssa.Function) bool {
	r := fn.Signature.Recv()
	if r == nil {
		return true
	}
	n := namedOf(r.Type())
	return n == nil || n.Obj().Exported()
}

// boundPassedToCall reports whether mc makes a bound method value (s.f)
// whose only use is as an argument of calls: not stored, returned or
// started with go.
func boundPassedToCall(mc *ssa.MakeClosure) bool {
	cf, _ := mc.Fn.(*ssa.Function)
	if cf == nil || !strings.HasPrefix(cf.Synthetic, "bound method wrapper") || len(mc.Bindings) != 1 {
		return false
	}
	refs := mc.Referrers()
	if refs == nil || len(*refs) == 0 {
		return false
	}
	for _, r := range *refs {
		c, ok := r.(*ssa.Call)
		if !ok || c.Call.Value == mc {
			return false
		}
		// Only a callee that calls the function it is handed, and keeps
		// it nowhere, runs it while the call runs; a subscribe(cb) that
		// stores cb runs it later, without the caller's locks.
		callee := c.Call.StaticCallee()
		if callee == nil || len(callee.Blocks) == 0 {
			return false
		}
		for i, arg := range c.Call.Args {
			if arg != mc {
				continue
			}
			if i >= len(callee.Params) || !onlyCalled(callee.Params[i]) {
				return false
			}
		}
	}
	return true
}

// onlyCalled reports whether the function value p is only called.
func onlyCalled(p ssa.Value) bool {
	refs := p.Referrers()
	if refs == nil {
		return false
	}
	for _, r := range *refs {
		switch r := r.(type) {
		case *ssa.Call:
			if r.Call.Value != p {
				return false
			}
		case *ssa.DebugRef:
		default:
			return false
		}
	}
	return true
}

// onParam reports whether p is a parameter of fn, a plain function (no
// receiver, not a closure) that takes no lock.
func (st *state) onParam(p place, fn *ssa.Function) bool {
	prm, ok := p.root.(*ssa.Parameter)
	if !ok || p.deref || st.lockers[topLevel(fn)] {
		return false
	}
	owner := prm.Parent()
	return owner != nil && owner == fn && owner.Signature.Recv() == nil && owner.Parent() == nil
}

// fastPathRead reports whether the field value or address v is only read
// to compare it with nil, or to compare its len or cap with a constant.
func fastPathRead(v ssa.Value) bool {
	vals := []ssa.Value{v}
	if _, isAddr := v.(*ssa.FieldAddr); isAddr {
		vals = nil
		for _, r := range *v.Referrers() {
			switch r := r.(type) {
			case *ssa.UnOp:
				if r.Op != token.MUL {
					return false
				}
				vals = append(vals, r)
			case *ssa.DebugRef:
			default:
				return false
			}
		}
	}
	if len(vals) == 0 {
		return false
	}
	for _, x := range vals {
		refs := x.Referrers()
		if refs == nil || len(*refs) == 0 {
			return false
		}
		for _, r := range *refs {
			switch r := r.(type) {
			case *ssa.DebugRef:
			case *ssa.BinOp:
				if c := comparedConst(r, x); c == nil || !c.IsNil() {
					return false
				}
			case *ssa.Call:
				b, ok := r.Call.Value.(*ssa.Builtin)
				if !ok || (b.Name() != "len" && b.Name() != "cap") || !onlyComparedToConst(r) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}

// comparedConst returns the constant b compares x with, or nil.
func comparedConst(b *ssa.BinOp, x ssa.Value) *ssa.Const {
	switch b.Op {
	case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
	default:
		return nil
	}
	other := b.X
	if other == x {
		other = b.Y
	}
	c, _ := other.(*ssa.Const)
	return c
}

// onlyComparedToConst reports whether every use of x compares it with a
// constant (len(s.m) == 0).
func onlyComparedToConst(x ssa.Value) bool {
	refs := x.Referrers()
	if refs == nil || len(*refs) == 0 {
		return false
	}
	for _, r := range *refs {
		switch r := r.(type) {
		case *ssa.DebugRef:
		case *ssa.BinOp:
			if comparedConst(r, x) == nil {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ownField returns the field idx of t's struct if the struct is a named
// type of this package.
func (st *state) ownField(t types.Type, idx int) *types.Var {
	n := namedOf(t)
	if n == nil || n.Obj().Pkg() != st.pass.Pkg {
		return nil
	}
	s, _ := n.Underlying().(*types.Struct)
	if s == nil || idx < 0 || idx >= s.NumFields() {
		return nil
	}
	return s.Field(idx).Origin()
}

func pointerField(f *types.Var) bool {
	_, isPtr := f.Type().Underlying().(*types.Pointer)
	return isPtr
}

// onlySubfields reports whether the field value or address v is used only
// to select fields of an own struct type held by value, which are recorded
// as accesses of their own.
func (st *state) onlySubfields(v ssa.Value) bool {
	if structOf(v.Type()) == nil {
		return false
	}
	if _, isPtr := v.Type().Underlying().(*types.Pointer); isPtr {
		if _, isAddr := v.(*ssa.FieldAddr); !isAddr {
			return false
		}
	}
	refs := v.Referrers()
	if refs == nil || len(*refs) == 0 {
		return false
	}
	for _, r := range *refs {
		var x ssa.Value
		var idx int
		switch r := r.(type) {
		case *ssa.FieldAddr:
			x, idx = r.X, r.Field
		case *ssa.Field:
			x, idx = r.X, r.Field
		case *ssa.DebugRef:
			continue
		default:
			return false
		}
		if x != v || st.ownField(x.Type(), idx) == nil {
			return false
		}
	}
	return true
}

// classify sets a's kind from how the field's address or value is used.
func (st *state) classify(a *access, v ssa.Value) {
	a.kind = kRead
	refs := v.Referrers()
	if refs == nil {
		return
	}
	_, isAddr := v.(*ssa.FieldAddr)
	for _, r := range *refs {
		if isAddr {
			switch r := r.(type) {
			case *ssa.Store:
				if r.Addr == v {
					a.kind = max(a.kind, kWrite)
				}
			case *ssa.UnOp:
				st.classifyValue(a, r)
			case *ssa.FieldAddr, *ssa.IndexAddr:
				if atomicThrough(r.(ssa.Value), 3) {
					// atomic.AddInt64(&c.stats.inMsgs, 1): a field reached
					// through an embedded struct is used atomically.
					a.atomic = true
					continue
				}
				if mutatesThrough(r.(ssa.Value), 3) {
					a.kind = max(a.kind, kMut)
				}
			case ssa.CallInstruction:
				c := r.Common()
				if fn := c.StaticCallee(); fn != nil && fn.Pkg != nil && fn.Pkg.Pkg.Path() == "sync/atomic" {
					a.atomic = true
					continue
				}
				if len(c.Args) > 0 && c.Args[0] == v && isMethod(c) && safeType(a.field.Type()) {
					continue
				}
				a.kind = max(a.kind, kMut)
			case *ssa.Slice:
				a.kind = max(a.kind, kMut)
			}
		} else {
			st.classifyValue(a, v)
			return
		}
	}
}

func isMethod(c *ssa.CallCommon) bool {
	if c.IsInvoke() {
		return true
	}
	fn := c.StaticCallee()
	return fn != nil && fn.Signature.Recv() != nil
}

// isAtomicCall reports whether c calls a sync/atomic function.
func isAtomicCall(c *ssa.CallCommon) bool {
	fn := c.StaticCallee()
	return fn != nil && fn.Pkg != nil && fn.Pkg.Pkg.Path() == "sync/atomic"
}

// atomicThrough reports whether the address v, or a field or element
// address derived from it, is passed to a sync/atomic function.
func atomicThrough(v ssa.Value, depth int) bool {
	if depth == 0 || v.Referrers() == nil {
		return false
	}
	for _, r := range *v.Referrers() {
		switch r := r.(type) {
		case *ssa.FieldAddr:
			if atomicThrough(r, depth-1) {
				return true
			}
		case *ssa.IndexAddr:
			if atomicThrough(r, depth-1) {
				return true
			}
		case ssa.CallInstruction:
			if isAtomicCall(r.Common()) {
				return true
			}
		}
	}
	return false
}

func mutatesThrough(v ssa.Value, depth int) bool {
	if depth == 0 || v.Referrers() == nil {
		return false
	}
	for _, r := range *v.Referrers() {
		switch r := r.(type) {
		case *ssa.Store:
			if r.Addr == v {
				return true
			}
		case *ssa.FieldAddr:
			if mutatesThrough(r, depth-1) {
				return true
			}
		case *ssa.IndexAddr:
			if mutatesThrough(r, depth-1) {
				return true
			}
		case ssa.CallInstruction:
			return true
		}
	}
	return false
}

// classifyValue looks at the uses of a loaded field value.
func (st *state) classifyValue(a *access, v ssa.Value) {
	if v.Referrers() == nil {
		return
	}
	for _, r := range *v.Referrers() {
		switch r := r.(type) {
		case *ssa.MapUpdate:
			if r.Map == v {
				a.kind = max(a.kind, kMut)
			}
		case *ssa.IndexAddr:
			if mutatesThrough(r, 3) {
				a.kind = max(a.kind, kMut)
			}
		case ssa.CallInstruction:
			c := r.Common()
			if b, ok := c.Value.(*ssa.Builtin); ok {
				if (b.Name() == "delete" || b.Name() == "clear") && len(c.Args) > 0 && c.Args[0] == v {
					a.kind = max(a.kind, kMut)
				}
				continue
			}
			recvIsV := (c.IsInvoke() && c.Value == v) || (!c.IsInvoke() && isMethod(c) && len(c.Args) > 0 && c.Args[0] == v)
			if !recvIsV || safeType(v.Type()) || st.safeIface(v.Type()) {
				continue
			}
			if !c.IsInvoke() && !pointerish(v.Type()) {
				continue // a value-receiver method on plain data changes nothing shared
			}
			if fn := c.StaticCallee(); fn != nil && !c.IsInvoke() && readOnly(fn, 3) {
				continue // voteSet.valSet.Size(): a method that only reads its receiver
			}
			a.kind = max(a.kind, kCall)
			if c.IsInvoke() {
				a.ifaceCall = true
				a.method = c.Method.Name()
			} else if fn := c.StaticCallee(); fn != nil {
				a.method = fn.Name()
			}
		}
	}
}

type box struct{ iface, concrete types.Type }

// readOnly reports whether the method fn (with a body in this package)
// only reads through its receiver: no store, map update, or delete through
// it, no goroutine, and no call that hands the receiver, or anything
// reached from it, to a function that is not itself read-only.
func readOnly(fn *ssa.Function, depth int) bool {
	if depth == 0 || len(fn.Blocks) == 0 || fn.Signature.Recv() == nil || len(fn.Params) == 0 {
		return false
	}
	recv := fn.Params[0]
	derived := map[ssa.Value]bool{recv: true}
	// Values reached from the receiver: field and element addresses and
	// loads, in block order (SSA defines before use, except through phis).
	for _, b := range fn.Blocks {
		for _, in := range b.Instrs {
			switch in := in.(type) {
			case *ssa.FieldAddr:
				derived[in] = derived[in.X]
			case *ssa.Field:
				derived[in] = derived[in.X]
			case *ssa.IndexAddr:
				derived[in] = derived[in.X]
			case *ssa.Index:
				derived[in] = derived[in.X]
			case *ssa.UnOp:
				if in.Op == token.MUL {
					derived[in] = derived[in.X]
				}
			case *ssa.Slice:
				derived[in] = derived[in.X]
			}
		}
	}
	for _, b := range fn.Blocks {
		for _, in := range b.Instrs {
			switch in := in.(type) {
			case *ssa.Store:
				if derived[in.Addr] {
					return false
				}
			case *ssa.MapUpdate:
				if derived[in.Map] {
					return false
				}
			case *ssa.Go, *ssa.Defer:
				return false
			case *ssa.Call:
				c := in.Common()
				if b, ok := c.Value.(*ssa.Builtin); ok {
					switch b.Name() {
					case "len", "cap", "print", "println", "min", "max":
						continue
					}
					for _, a := range c.Args {
						if derived[a] {
							return false // delete, clear, copy, append into it
						}
					}
					continue
				}
				passes := c.IsInvoke() && derived[c.Value]
				for _, a := range c.Args {
					if derived[a] {
						if _, isPtr := a.Type().Underlying().(*types.Pointer); isPtr || pointerish(a.Type()) {
							passes = true
						}
					}
				}
				if !passes {
					continue
				}
				callee := c.StaticCallee()
				if callee == nil || c.IsInvoke() || callee.Signature.Recv() == nil || !readOnly(callee, depth-1) {
					return false
				}
			}
		}
	}
	return true
}

// safeIface reports whether t is an interface every implementation the
// package puts in it locks itself (a store behind an interface).
func (st *state) safeIface(t types.Type) bool {
	if _, ok := t.Underlying().(*types.Interface); !ok {
		return false
	}
	n := 0
	for _, b := range st.boxes {
		if !types.Identical(b.iface, t) {
			continue
		}
		if !safeType(b.concrete) {
			return false
		}
		n++
	}
	return n > 0
}

// pointerish reports whether a value of t shares state when copied.
func pointerish(t types.Type) bool {
	switch u := t.Underlying().(type) {
	case *types.Pointer, *types.Map, *types.Slice, *types.Chan, *types.Interface, *types.Signature:
		return true
	case *types.Struct:
		for i := range u.NumFields() {
			if pointerish(u.Field(i).Type()) {
				return true
			}
		}
	}
	return false
}

// safePkgs are packages whose types are documented safe for concurrent use
// (loggers, metrics, tracing, contexts, HTTP and SQL clients): calling
// their methods does not make a field mutable.
var safePkgs = []string{
	"log", "log/slog", "context", "time", "net/http", "database/sql", "testing",
	"go.uber.org/zap", "github.com/sirupsen/logrus", "github.com/go-logr/logr",
	"k8s.io/klog", "github.com/prometheus/client_golang", "go.opentelemetry.io",
	"google.golang.org/grpc", "github.com/go-kit/log", "github.com/go-kit/kit/log",
}

// safeType reports whether method calls on a value of t are safe without a
// lock: a sync type, a type with its own mutex, or one from safePkgs.
func safeType(t types.Type) bool {
	n := namedOf(t)
	if n != nil && n.Obj().Pkg() != nil {
		path := n.Obj().Pkg().Path()
		for _, p := range safePkgs {
			if path == p || strings.HasPrefix(path, p+"/") {
				return true
			}
		}
		if path == "sync" || path == "sync/atomic" {
			return true
		}
		if n.Obj().Name() == "error" {
			return true
		}
	}
	if _, isIface := t.Underlying().(*types.Interface); isIface && n != nil && n.Obj().Pkg() == nil {
		return true // error
	}
	return selfSynced(t)
}

// selfSynced reports whether t (or what it points to) is a struct with a
// mutex of its own.
func selfSynced(t types.Type) bool {
	st := structOf(t)
	if st == nil {
		return false
	}
	for i := range st.NumFields() {
		if n := namedOf(st.Field(i).Type()); n != nil && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "sync" {
			switch n.Obj().Name() {
			case "Mutex", "RWMutex":
				return true
			}
		}
		if lockLike(st.Field(i).Type()) {
			return true // cmtsync.Mutex, a wrapper with Lock and Unlock
		}
	}
	return false
}

// lockLike reports whether t, a struct or named type held by value, has
// Lock and Unlock methods (on its pointer): a mutex wrapper.
func lockLike(t types.Type) bool {
	if _, isPtr := t.Underlying().(*types.Pointer); isPtr {
		return false
	}
	if _, isIface := t.Underlying().(*types.Interface); isIface {
		return false
	}
	ms := types.NewMethodSet(types.NewPointer(t))
	has := func(name string) bool {
		sel := ms.Lookup(nil, name)
		if sel == nil {
			return false
		}
		sig, _ := sel.Type().(*types.Signature)
		return sig != nil && sig.Params().Len() == 0 && sig.Results().Len() == 0
	}
	return has("Lock") && has("Unlock")
}

// candidateType reports whether a field of type t can be inferred guarded.
func candidateType(t types.Type) bool {
	if _, ok := t.Underlying().(*types.Chan); ok {
		return false
	}
	if n := namedOf(t); n != nil && n.Obj().Pkg() != nil {
		switch n.Obj().Pkg().Path() {
		case "sync", "sync/atomic":
			return false
		}
	}
	if _, isPtr := t.Underlying().(*types.Pointer); !isPtr && selfSynced(t) {
		return false // a struct value with its own mutex guards itself
	}
	return true
}

// fieldStats are one field's accesses grouped by site.
type fieldStats struct {
	field   *types.Var
	prefix  string // "info." for s.info.ID
	accs    []*access
	guard   string // key relative to the base, or global key
	guarded []*access
	bad     []*access
	total   int
}

// relGuards returns the guard keys a's held locks give, relative to a's
// base, and whether a holds a lock of an enclosing object (ambiguous).
func relGuards(a *access) (map[string]string, bool) {
	out := map[string]string{}
	ambiguous := false
	for k, v := range a.held {
		switch {
		case strings.HasPrefix(k, a.base.key+"."):
			out[k[len(a.base.key):]] = v.pretty
		case strings.HasPrefix(k, "G:"):
			out[k] = v.pretty
		default:
			if i := strings.LastIndex(k, "."); i > 0 && strings.HasPrefix(a.base.key, k[:i]) {
				ambiguous = true
			}
		}
	}
	return out, ambiguous
}

func (st *state) infer(accs []*access) []*fieldStats {
	type fieldKey struct {
		prefix string
		field  *types.Var
	}
	byField := map[fieldKey][]*access{}
	var order []fieldKey
	for _, a := range accs {
		k := fieldKey{a.prefix, a.field}
		if _, ok := byField[k]; !ok {
			order = append(order, k)
		}
		byField[k] = append(byField[k], a)
	}
	var out []*fieldStats
	for _, fk := range order {
		list := byField[fk]
		f := fk.field
		annotated, isAnnot := st.annot[f]
		if fk.prefix != "" {
			isAnnot = false
		}
		if !isAnnot {
			if !candidateType(f.Type()) {
				continue
			}
			atomic, mutated := false, false
			for _, a := range list {
				atomic = atomic || a.atomic
				// A method call on an interface field set once (a store
				// behind an interface) changes the implementation's state,
				// which guards itself or not: the field is not what a lock
				// around the call protects.
				if !a.local && a.kind != kRead && !(a.kind == kCall && a.ifaceCall) && !st.setupOnly(a) {
					mutated = true
				}
			}
			if atomic || !mutated {
				continue
			}
		}
		// One entry per site: the same selector may be several instructions.
		type siteKey struct {
			pos token.Pos
			fn  *ssa.Function
		}
		sites := map[siteKey]*access{}
		var counted []*access
		for _, a := range list {
			if a.local || a.neutral {
				continue
			}
			k := siteKey{a.pos, a.fn}
			if prev, ok := sites[k]; ok {
				if a.kind > prev.kind {
					prev.kind, prev.method = a.kind, a.method
				}
				continue
			}
			sites[k] = a
			counted = append(counted, a)
		}
		fs := &fieldStats{field: f, prefix: fk.prefix, accs: counted}
		if isAnnot {
			fs.guard = annotated
		} else {
			count := map[string]int{}
			for _, a := range counted {
				g, _ := relGuards(a)
				for k := range g {
					count[k]++
				}
			}
			best, n := "", 0
			for k, c := range count {
				if c > n || (c == n && k < best) {
					best, n = k, c
				}
			}
			if n < MinGuarded {
				continue
			}
			fs.guard = best
		}
		// The locks held at every counted write: writers holding both
		// s.mu and s.revMu let a reader hold either one.
		var writeLocks map[string]string
		for _, a := range counted {
			if a.kind == kRead {
				continue
			}
			g, _ := relGuards(a)
			if writeLocks == nil {
				writeLocks = g
				continue
			}
			for k := range writeLocks {
				if _, ok := g[k]; !ok {
					delete(writeLocks, k)
				}
			}
		}
		fns := map[*ssa.Function]bool{}
		guardedWrite := false
		guardFields := map[*types.Var]bool{} // the mutex fields the guarded sites hold
		for _, a := range counted {
			if g, _ := relGuards(a); g[fs.guard] != "" {
				if hl, ok := a.held[a.base.key+fs.guard]; ok && hl.field != nil {
					guardFields[hl.field] = true
				}
			}
		}
		for _, a := range counted {
			g, ambiguous := relGuards(a)
			if _, ok := g[fs.guard]; ok {
				fs.guarded = append(fs.guarded, a)
				fns[topLevel(a.fn)] = true
				guardedWrite = guardedWrite || a.kind != kRead
				continue
			}
			if ambiguous {
				continue
			}
			if a.fastPath {
				continue // counts neither way
			}
			// Holding the guard's mutex of another value of the type
			// (newAcc.clients = ... under acc.mu) is a hand-over between
			// two values the analysis cannot tell apart by their bases:
			// not reported.
			otherInstance := false
			for k, hl := range a.held {
				if hl.field != nil && guardFields[hl.field] && !strings.HasPrefix(k, a.base.key+".") {
					otherInstance = true
				}
			}
			if otherInstance {
				continue
			}
			if phi, ok := a.base.root.(*ssa.Phi); ok && !a.base.deref && st.someEdgeFresh(phi, a.fn) {
				// e is either the entry found and locked above or one just
				// made and not yet shared: which, the analysis cannot tell
				// on this path.
				continue
			}
			if a.kind == kRead && st.afterAtomicFlag(a, list) {
				// if atomic.LoadInt32(&c.TLS) == 1 { c.tlsConn... }: the
				// writer set the field before the atomic store the reader
				// checked, so the read happens after the write.
				continue
			}
			if rt := backPointer(a); rt != nil && !heldByOwnMethods(fs.guarded, rt) {
				// n.store.CurrentIndex in a method of node, and no method of
				// node ever takes n.store's lock itself: node's methods run
				// under their callers' hold of the store's lock, which the
				// analysis does not carry across values.
				continue
			}
			other := false
			for k := range g {
				if _, ok := writeLocks[k]; ok && k != fs.guard {
					other = true
				}
			}
			if !other {
				fs.bad = append(fs.bad, a)
			}
		}
		fs.total = len(fs.guarded) + len(fs.bad)
		if !isAnnot && (len(fns) < 2 || float64(len(fs.guarded)) < MinFraction*float64(fs.total)) {
			continue
		}
		if !isAnnot && !guardedWrite {
			// Never changed under the lock once built: the lock guards
			// other state, and this field is not what it protects.
			continue
		}
		out = append(out, fs)
	}
	return out
}

// setupOnly reports whether a is in a set-up function (SetX, Start, init):
// a field changed only there is immutable once the value is in use.
func (st *state) setupOnly(a *access) bool {
	fi := st.info[topLevel(a.fn)]
	return fi != nil && fi.setup && !a.inGo
}

func topLevel(fn *ssa.Function) *ssa.Function {
	for fn.Parent() != nil {
		fn = fn.Parent()
	}
	return fn
}

func (st *state) report(guarded []*fieldStats) {
	for _, fs := range guarded {
		if len(fs.bad) == 0 {
			continue
		}
		sort.Slice(fs.guarded, func(i, j int) bool { return fs.guarded[i].pos < fs.guarded[j].pos })
		guardName := st.guardPretty(fs.guarded, fs.guard)
		where := st.sitesList(fs.guarded)
		var related []analysis.RelatedInformation
		for i, g := range fs.guarded {
			if i == 2 {
				break
			}
			related = append(related, analysis.RelatedInformation{
				Pos:     g.pos,
				Message: fmt.Sprintf("%s accessed under %s here", fs.prefix+fs.field.Name(), guardName),
			})
		}
		// One finding per function, at its first unguarded access: one
		// careless function is one mistake.
		sort.Slice(fs.bad, func(i, j int) bool { return fs.bad[i].pos < fs.bad[j].pos })
		reported := map[*ssa.Function]bool{}
		for _, a := range fs.bad {
			if reported[topLevel(a.fn)] {
				continue
			}
			reported[topLevel(a.fn)] = true
			name := a.base.pretty + "." + fs.prefix + fs.field.Name()
			lock := st.lockFor(a, fs.guard, guardName)
			what := "read"
			switch a.kind {
			case kWrite:
				what = "written"
			case kMut:
				what = "modified"
			case kCall:
				what = "used (" + name + "." + a.method + ")"
			}
			hazard := fmt.Sprintf("%s is %s without holding %s, which guards it at its other sites", name, what, lock)
			if a.inGo {
				hazard = fmt.Sprintf("%s is %s in a goroutine that does not hold %s, which guards it at its other sites", name, what, lock)
			}
			evidence := fmt.Sprintf("accessed under %s at %d of %d sites: %s", guardName, len(fs.guarded), fs.total, strings.Join(where, ", "))
			if _, ok := st.annot[fs.field]; ok {
				evidence = fmt.Sprintf("annotated +checklocks:%s; %s", strings.TrimPrefix(guardName, "s."), evidence)
			}
			diag.Report(st.pass, diag.Finding{
				Pos:      a.pos,
				Hazard:   hazard,
				Evidence: evidence,
				Fix:      fixFor(fs.field, lock, fs.guarded),
				Related:  related,
			})
		}
	}
}

// guardPretty names the guard as the guarded sites wrote it ("s.mu").
func (st *state) guardPretty(guarded []*access, guard string) string {
	for _, g := range guarded {
		for k, v := range g.held {
			if k == guard || strings.HasSuffix(k, guard) && strings.HasPrefix(k, g.base.key) {
				return v.pretty
			}
		}
	}
	if strings.HasPrefix(guard, "G:") {
		if i := strings.LastIndex(guard, "."); i >= 0 {
			return guard[i+1:]
		}
	}
	return strings.TrimPrefix(guard, ".")
}

// lockFor names the guard relative to a's own base ("v.axonLock").
func (st *state) lockFor(a *access, guard, pretty string) string {
	if strings.HasPrefix(guard, "G:") {
		return pretty
	}
	return a.base.pretty + guard
}

// sitesList renders up to four distinct guarded lines.
func (st *state) sitesList(guarded []*access) []string {
	var where []string
	seen := map[string]bool{}
	for _, g := range guarded {
		p := st.shortPos(g.pos)
		if seen[p] {
			continue
		}
		if len(where) == 4 {
			return append(where, "...")
		}
		seen[p] = true
		where = append(where, p)
	}
	return where
}

func (st *state) shortPos(pos token.Pos) string {
	p := st.pass.Fset.Position(pos)
	return fmt.Sprintf("%s:%d", filepath.Base(p.Filename), p.Line)
}

func fixFor(f *types.Var, lock string, guarded []*access) string {
	rw := false
	for _, g := range guarded {
		for _, v := range g.held {
			if v.mode&modeR != 0 {
				rw = true
			}
		}
	}
	client := false
	for _, g := range guarded {
		if g.kind == kCall {
			client = true
		}
	}
	switch {
	case client:
		return fmt.Sprintf("make %s reachable only under its lock: guard.Serial(client) (a guard.Access[T]) where it is created, so every use goes through Do; or take %s on this path", f.Name(), lock)
	case rw:
		return fmt.Sprintf("put %s behind its lock with guard.NewRW (Read/Write callbacks) so no path reaches it unlocked; or take %s on this path", f.Name(), lock)
	default:
		return fmt.Sprintf("put %s behind its lock with guard.New (a guard.Value[T], used inside Do) so no path reaches it unlocked; or take %s on this path", f.Name(), lock)
	}
}
