// Package netcall classifies network calls that can wait forever: calls
// that do I/O over the network with neither a timeout on the client or
// dialer nor a deadline on the request's context.
//
// It works on SSA (golang.org/x/tools/go/ssa, from buildssa), one package
// at a time, and follows values only within the package: a client, dialer,
// request or context is traced from the call back to where it was made
// (a composite literal, new, a package-level variable, a struct field,
// a closure's captured variable, context.Background and its With*
// derivations). What it cannot see it calls unknown, and unknown is never
// reported: precision over recall.
//
// Untimed, per call:
//
//   - http.Get, http.Head, http.Post, http.PostForm: they use
//     http.DefaultClient, which has no Timeout, and carry no context.
//   - (*http.Client).Get, Head, Post, PostForm on a client that provably
//     has no Timeout: http.DefaultClient; a literal (&http.Client{...},
//     http.Client{...}, new(http.Client)) without a Timeout field; an
//     unexported package-level variable or unexported struct field of a
//     type in this package whose every assignment in the package is such a
//     client. A client that reaches code this package cannot see (passed in,
//     returned by a call, handed to a function that may set Timeout) is
//     unknown. A client whose Transport is an *http.Transport with a
//     ResponseHeaderTimeout counts as timed.
//   - (*http.Client).Do on such a client, when the request also has no
//     deadline: made by http.NewRequest (no context), or by
//     http.NewRequestWithContext / Request.WithContext / Request.Clone with a
//     context that is context.Background or context.TODO, or is derived from
//     those only through WithCancel, WithCancelCause, WithValue or
//     WithoutCancel. A context from WithTimeout or WithDeadline has a
//     deadline; a context parameter is unknown.
//   - net.Dial, net.DialTCP, net.DialUnix, tls.Dial (stream networks only:
//     "udp", "ip" and "unixgram" dials do not wait for a peer), and
//     (*net.Dialer).Dial / DialContext on a dialer without Timeout or
//     Deadline (DialContext: and a context without a deadline).
//     net.DialTimeout and a net.Dialer{Timeout: ...} are timed.
//
// Not covered: reads and writes on a net.Conn without SetDeadline (this
// package classifies the call that starts the exchange), gRPC and other
// client libraries, the server side.
package netcall

import (
	"go/constant"
	"go/token"
	"go/types"
	"reflect"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"
)

// Call describes one untimed network call.
type Call struct {
	// Name is the call as a user writes it: "http.Post",
	// "(*http.Client).Do", "net.Dial". It ends the "may block" chains.
	Name string
	// Why says what makes it untimed, in one clause:
	// "http.Post uses http.DefaultClient, which has no Timeout".
	Why string
	// Fix is the standard-library change that bounds the call.
	Fix string
}

// Analyzer computes a *Result for the package. It reports nothing.
var Analyzer = &analysis.Analyzer{
	Name:       "netcall",
	Doc:        "classifies network calls that have no timeout (internal to sluice vet; reports nothing)",
	URL:        "https://github.com/sluice-go/sluice/tree/main/vet/internal/netcall",
	Requires:   []*analysis.Analyzer{ssapass.Analyzer},
	ResultType: reflect.TypeOf((*Result)(nil)),
	Run: func(pass *analysis.Pass) (any, error) {
		s := pass.ResultOf[ssapass.Analyzer].(*buildssa.SSA)
		return New(s.Pkg, s.SrcFuncs), nil
	},
}

// Result classifies the calls of one package.
type Result struct {
	pkg *ssa.Package
	// stores maps an address (a package-level variable, keyed by its
	// *ssa.Global, or a struct field, keyed by its *types.Var) to every
	// value stored there in the package.
	globalStores map[*ssa.Global][]ssa.Value
	fieldStores  map[*types.Var][]ssa.Value
	// escaped marks variables and fields whose value is handed to code this
	// package cannot see (a call argument, other than an http.Client
	// method's receiver), or whose Timeout is set through a path not
	// traced: their clients are unknown.
	escapedGlobal map[*ssa.Global]bool
	escapedField  map[*types.Var]bool
	timedGlobal   map[*ssa.Global]bool
	timedField    map[*types.Var]bool
	// opaqueTimeout is set when the package sets some client's Timeout
	// through a value it cannot attribute (a parameter, say): then no
	// variable or field is trusted to be untimed.
	opaqueTimeout bool
	// closures maps a function literal to the MakeClosure instructions
	// that create it, to resolve captured variables.
	closures map[*ssa.Function][]*ssa.MakeClosure
}

// New indexes the package's assignments. funcs are the source functions
// (buildssa's SrcFuncs); the package initializer is added.
func New(pkg *ssa.Package, funcs []*ssa.Function) *Result {
	r := &Result{
		pkg:           pkg,
		globalStores:  map[*ssa.Global][]ssa.Value{},
		fieldStores:   map[*types.Var][]ssa.Value{},
		escapedGlobal: map[*ssa.Global]bool{},
		escapedField:  map[*types.Var]bool{},
		timedGlobal:   map[*ssa.Global]bool{},
		timedField:    map[*types.Var]bool{},
		closures:      map[*ssa.Function][]*ssa.MakeClosure{},
	}
	all := append([]*ssa.Function(nil), funcs...)
	if pkg != nil {
		if init := pkg.Func("init"); init != nil {
			var add func(f *ssa.Function)
			add = func(f *ssa.Function) {
				all = append(all, f)
				for _, a := range f.AnonFuncs {
					add(a)
				}
			}
			add(init)
		}
	}
	for _, fn := range all {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				r.index(instr)
			}
		}
	}
	return r
}

func (r *Result) index(instr ssa.Instruction) {
	switch in := instr.(type) {
	case *ssa.Store:
		switch a := in.Addr.(type) {
		case *ssa.Global:
			r.globalStores[a] = append(r.globalStores[a], in.Val)
		case *ssa.FieldAddr:
			if f := fieldOf(a); f != nil {
				r.fieldStores[f] = append(r.fieldStores[f], in.Val)
				if isTimeoutField(a) {
					r.noteTimeoutStore(a.X)
				}
			}
		}
	case *ssa.MakeClosure:
		if fn, ok := in.Fn.(*ssa.Function); ok {
			r.closures[fn] = append(r.closures[fn], in)
		}
	case ssa.CallInstruction:
		c := in.Common()
		if isClientMethod(c) {
			return // the receiver of a Client method stays a client
		}
		for _, arg := range c.Args {
			r.noteEscape(arg)
		}
	}
}

// noteTimeoutStore records that base (an *http.Client or *net.Dialer) gets
// a Timeout.
func (r *Result) noteTimeoutStore(base ssa.Value) {
	switch b := base.(type) {
	case *ssa.Alloc:
		// Seen when the alloc itself is examined.
	case *ssa.UnOp:
		switch x := b.X.(type) {
		case *ssa.Global:
			r.timedGlobal[x] = true
			return
		case *ssa.FieldAddr:
			if f := fieldOf(x); f != nil {
				r.timedField[f] = true
				return
			}
		}
		r.opaqueTimeout = true
	case *ssa.Global:
		r.timedGlobal[b] = true
	case *ssa.FieldAddr:
		if f := fieldOf(b); f != nil {
			r.timedField[f] = true
		}
	default:
		r.opaqueTimeout = true
	}
}

// noteEscape records a client held in a variable or field being handed to
// a call (which may set its Timeout).
func (r *Result) noteEscape(v ssa.Value) {
	switch x := v.(type) {
	case *ssa.Global:
		r.escapedGlobal[x] = true
	case *ssa.FieldAddr:
		if f := fieldOf(x); f != nil {
			r.escapedField[f] = true
		}
	case *ssa.UnOp:
		if x.Op != token.MUL || !isClientOrDialerPtr(x.Type()) {
			return
		}
		switch a := x.X.(type) {
		case *ssa.Global:
			r.escapedGlobal[a] = true
		case *ssa.FieldAddr:
			if f := fieldOf(a); f != nil {
				r.escapedField[f] = true
			}
		}
	}
}

// Untimed reports whether call is network I/O with no timeout, and names
// the call ("http.Post") for use in a chain.
func (r *Result) Untimed(call ssa.CallInstruction) (name string, ok bool) {
	c, ok := r.Explain(call)
	return c.Name, ok
}

// Explain is Untimed with the reason and the fix.
func (r *Result) Explain(call ssa.CallInstruction) (Call, bool) {
	if r == nil || call == nil {
		return Call{}, false
	}
	defer func() { _ = recover() }() // odd code must never take vet down
	return r.explain(call.Common())
}

const (
	fixClient = "use a shared http.Client{Timeout: ...}, or http.NewRequestWithContext with a ctx from context.WithTimeout"
	fixDial   = "use net.DialTimeout or a net.Dialer{Timeout: ...}, or DialContext with a ctx from context.WithTimeout"
)

func (r *Result) explain(c *ssa.CallCommon) (Call, bool) {
	fn := c.StaticCallee()
	if fn == nil {
		return Call{}, false
	}
	obj, _ := fn.Object().(*types.Func)
	if obj == nil || obj.Pkg() == nil {
		return Call{}, false
	}
	path, name := obj.Pkg().Path(), obj.Name()
	recv := recvName(obj)
	switch {
	case path == "net/http" && recv == "":
		switch name {
		case "Get", "Head", "Post", "PostForm":
			n := "http." + name
			if r.timedDefaultClient() {
				return Call{}, false
			}
			return Call{Name: n, Why: n + " uses http.DefaultClient, which has no Timeout", Fix: fixClient}, true
		}
	case path == "net/http" && recv == "Client":
		if len(c.Args) == 0 {
			return Call{}, false
		}
		n := "(*http.Client)." + name
		switch name {
		case "Get", "Head", "Post", "PostForm":
			st, why := r.client(c.Args[0], 0)
			if st != untimed {
				return Call{}, false
			}
			return Call{Name: n, Why: n + " on " + why + ", and no context", Fix: fixClient}, true
		case "Do":
			if len(c.Args) < 2 {
				return Call{}, false
			}
			st, why := r.client(c.Args[0], 0)
			if st != untimed {
				return Call{}, false
			}
			rst, rwhy := r.request(c.Args[1], 0)
			if rst != untimed {
				return Call{}, false
			}
			return Call{Name: n, Why: n + " on " + why + ", and the request " + rwhy, Fix: fixClient}, true
		}
	case path == "net" && recv == "":
		switch name {
		case "Dial", "DialTCP", "DialUnix":
			if len(c.Args) > 0 && !streamNetwork(c.Args[0]) {
				return Call{}, false
			}
			n := "net." + name
			return Call{Name: n, Why: n + " has no timeout (only the OS's connect timeout, minutes)", Fix: fixDial}, true
		}
	case path == "crypto/tls" && recv == "" && name == "Dial":
		if len(c.Args) > 0 && !streamNetwork(c.Args[0]) {
			return Call{}, false
		}
		return Call{Name: "tls.Dial", Why: "tls.Dial has no timeout on the connect or the handshake", Fix: "use tls.DialWithDialer with a net.Dialer{Timeout: ...}, or a tls.Dialer's DialContext with a ctx from context.WithTimeout"}, true
	case path == "net" && recv == "Dialer":
		if len(c.Args) < 3 {
			return Call{}, false
		}
		n := "(*net.Dialer)." + name
		switch name {
		case "Dial", "DialContext":
			netArg := c.Args[1]
			if name == "DialContext" {
				if len(c.Args) < 4 {
					return Call{}, false
				}
				netArg = c.Args[2]
			}
			if !streamNetwork(netArg) {
				return Call{}, false
			}
			st, why := r.dialer(c.Args[0], 0)
			if st != untimed {
				return Call{}, false
			}
			if name == "Dial" {
				return Call{Name: n, Why: n + " on " + why, Fix: fixDial}, true
			}
			cst, cwhy := r.context(c.Args[1], 0)
			if cst != untimed {
				return Call{}, false
			}
			return Call{Name: n, Why: n + " on " + why + ", with " + cwhy, Fix: fixDial}, true
		}
	}
	return Call{}, false
}

type state int

const (
	unknown state = iota
	untimed
	timed
)

const maxDepth = 8

// join combines the states of the values that may flow to one place: all
// untimed is untimed; any timed is timed; else unknown.
func join(a, b state) state {
	switch {
	case a == timed || b == timed:
		return timed
	case a == unknown || b == unknown:
		return unknown
	}
	return untimed
}

// client classifies v, an *http.Client (or the address of an http.Client
// value), returning why it is untimed in a phrase ("http.DefaultClient,
// which has no Timeout").
func (r *Result) client(v ssa.Value, depth int) (state, string) {
	if depth > maxDepth || v == nil {
		return unknown, ""
	}
	switch x := v.(type) {
	case *ssa.Alloc:
		return r.clientAlloc(x)
	case *ssa.UnOp:
		if x.Op != token.MUL {
			return unknown, ""
		}
		return r.clientAt(x.X, depth+1)
	case *ssa.Global, *ssa.FieldAddr:
		// The address of an http.Client value (var c http.Client; c.Do).
		return r.clientValueAt(x, depth+1)
	case *ssa.Phi:
		return r.phi(x.Edges, depth, r.client)
	case *ssa.ChangeType:
		return r.client(x.X, depth+1)
	}
	return unknown, ""
}

func (r *Result) phi(edges []ssa.Value, depth int, f func(ssa.Value, int) (state, string)) (state, string) {
	st, why := untimed, ""
	for _, e := range edges {
		if e == nil {
			return unknown, ""
		}
		s, w := f(e, depth+1)
		st = join(st, s)
		if why == "" {
			why = w
		}
		if st != untimed {
			return st, ""
		}
	}
	if why == "" {
		return unknown, ""
	}
	return st, why
}

// clientAt classifies the *http.Client loaded from addr.
func (r *Result) clientAt(addr ssa.Value, depth int) (state, string) {
	switch a := addr.(type) {
	case *ssa.Global:
		if a.Pkg != nil && a.Pkg.Pkg != nil && a.Pkg.Pkg.Path() == "net/http" && a.Name() == "DefaultClient" {
			if r.timedDefaultClient() {
				return timed, ""
			}
			return untimed, "http.DefaultClient, which has no Timeout"
		}
		if a.Pkg != r.pkg || a.Object() == nil || a.Object().Exported() || r.escapedGlobal[a] || r.timedGlobal[a] || r.opaqueTimeout {
			return unknown, ""
		}
		return r.stored(r.globalStores[a], false, depth, r.client, "package variable "+a.Name())
	case *ssa.FieldAddr:
		f := fieldOf(a)
		if !r.trustField(f) {
			return unknown, ""
		}
		return r.stored(r.fieldStores[f], false, depth, r.client, "field "+f.Name())
	case *ssa.Alloc:
		// A local variable holding the client pointer, captured by a
		// closure (so not lifted).
		return r.stored(localStores(a), false, depth, r.client, "")
	case *ssa.FreeVar:
		return r.freeVar(a, depth, func(b ssa.Value, d int) (state, string) { return r.clientAt(b, d) })
	}
	return unknown, ""
}

// clientValueAt classifies an http.Client value held at addr.
func (r *Result) clientValueAt(addr ssa.Value, depth int) (state, string) {
	switch a := addr.(type) {
	case *ssa.Global:
		if a.Pkg != r.pkg || a.Object() == nil || a.Object().Exported() || r.escapedGlobal[a] || r.timedGlobal[a] || r.opaqueTimeout {
			return unknown, ""
		}
		return r.stored(r.globalStores[a], true, depth, r.clientValue, "package variable "+a.Name())
	case *ssa.FieldAddr:
		f := fieldOf(a)
		if !r.trustField(f) {
			return unknown, ""
		}
		return r.stored(r.fieldStores[f], true, depth, r.clientValue, "field "+f.Name())
	}
	return unknown, ""
}

// clientValue classifies a stored http.Client value: a load of a literal's
// alloc, or the zero value.
func (r *Result) clientValue(v ssa.Value, depth int) (state, string) {
	switch x := v.(type) {
	case *ssa.Const:
		return untimed, "a zero http.Client, which has no Timeout"
	case *ssa.UnOp:
		if x.Op == token.MUL {
			if a, ok := x.X.(*ssa.Alloc); ok {
				return r.clientAlloc(a)
			}
		}
	}
	return unknown, ""
}

func (r *Result) trustField(f *types.Var) bool {
	if f == nil || f.Exported() || f.Pkg() == nil || r.pkg == nil || f.Pkg() != r.pkg.Pkg {
		return false
	}
	return !r.escapedField[f] && !r.timedField[f] && !r.opaqueTimeout
}

// stored joins the states of every value stored at one place. zeroOK says
// that with no stores at all the place holds a zero value (an untimed
// client) rather than nil.
func (r *Result) stored(vals []ssa.Value, zeroOK bool, depth int, f func(ssa.Value, int) (state, string), where string) (state, string) {
	if len(vals) == 0 {
		if !zeroOK {
			return unknown, "" // a nil pointer
		}
		if where != "" {
			return untimed, where + ", a zero http.Client, which has no Timeout"
		}
		return untimed, "a zero http.Client, which has no Timeout"
	}
	st, why := r.phi(vals, depth, f)
	if st == untimed && where != "" {
		why = where + ", " + why
	}
	return st, why
}

// localStores returns the values stored into a local alloc.
func localStores(a *ssa.Alloc) []ssa.Value {
	var vals []ssa.Value
	for _, ref := range *a.Referrers() {
		switch in := ref.(type) {
		case *ssa.Store:
			if in.Addr == a {
				vals = append(vals, in.Val)
			}
		case *ssa.UnOp, *ssa.DebugRef:
		case *ssa.MakeClosure:
			// Captured: the closure may store too; those stores go through
			// its FreeVar, which we do not chase.
			for _, fn := range []ssa.Value{in.Fn} {
				if f, ok := fn.(*ssa.Function); ok && storesFreeVars(f) {
					return nil
				}
			}
		default:
			return nil // address taken some other way: unknown
		}
	}
	return vals
}

// storesFreeVars reports whether f stores to any of its captured variables.
func storesFreeVars(f *ssa.Function) bool {
	for _, fv := range f.FreeVars {
		for _, ref := range *fv.Referrers() {
			if st, ok := ref.(*ssa.Store); ok && st.Addr == fv {
				return true
			}
		}
	}
	return false
}

// freeVar resolves a closure's captured variable to the values bound to
// it by every MakeClosure, and classifies each with f.
func (r *Result) freeVar(fv *ssa.FreeVar, depth int, f func(ssa.Value, int) (state, string)) (state, string) {
	fn := fv.Parent()
	if fn == nil {
		return unknown, ""
	}
	idx := -1
	for i, v := range fn.FreeVars {
		if v == fv {
			idx = i
		}
	}
	mcs := r.closures[fn]
	if idx < 0 || len(mcs) == 0 {
		return unknown, ""
	}
	var binds []ssa.Value
	for _, mc := range mcs {
		if idx >= len(mc.Bindings) {
			return unknown, ""
		}
		binds = append(binds, mc.Bindings[idx])
	}
	return r.phi(binds, depth, f)
}

// clientAlloc classifies a client made in this function: a literal or new.
func (r *Result) clientAlloc(a *ssa.Alloc) (state, string) {
	if !isNamed(typeDeref(a.Type()), "net/http", "Client") {
		return unknown, ""
	}
	for _, ref := range *a.Referrers() {
		switch in := ref.(type) {
		case *ssa.FieldAddr:
			name := fieldName(in)
			for _, fr := range *in.Referrers() {
				st, ok := fr.(*ssa.Store)
				if !ok || st.Addr != in {
					continue
				}
				switch name {
				case "Timeout":
					if c, ok := st.Val.(*ssa.Const); ok && c.Value != nil && constant.Sign(c.Value) == 0 {
						continue
					}
					return timed, ""
				case "Transport":
					if r.transportTimed(st.Val) {
						return timed, ""
					}
				}
			}
		case *ssa.Store:
			if in.Addr == a {
				if _, ok := in.Val.(*ssa.Const); !ok {
					return unknown, "" // *c = other
				}
			}
		case ssa.CallInstruction:
			if !isClientMethod(in.Common()) {
				return unknown, "" // handed to code that may set Timeout
			}
		}
	}
	return untimed, "an http.Client with no Timeout"
}

// transportTimed reports whether a client's Transport bounds the wait for
// the response: an *http.Transport with ResponseHeaderTimeout, or an
// *http.Transport this package cannot see (it may have one). Other
// RoundTrippers are assumed to add no deadline.
func (r *Result) transportTimed(v ssa.Value) bool {
	for range maxDepth {
		switch x := v.(type) {
		case *ssa.MakeInterface:
			v = x.X
			continue
		case *ssa.ChangeInterface:
			v = x.X
			continue
		case *ssa.Alloc:
			if !isNamed(typeDeref(x.Type()), "net/http", "Transport") {
				return false
			}
			for _, ref := range *x.Referrers() {
				if fa, ok := ref.(*ssa.FieldAddr); ok && fieldName(fa) == "ResponseHeaderTimeout" {
					return true
				}
			}
			return false
		case *ssa.UnOp:
			if g, ok := x.X.(*ssa.Global); ok && g.Pkg != nil && g.Pkg.Pkg != nil && g.Pkg.Pkg.Path() == "net/http" && g.Name() == "DefaultTransport" {
				return false
			}
		}
		// A RoundTripper of unknown make (a parameter, a call's result) may
		// well be a timeout transport; an *http.Transport we cannot see may
		// have ResponseHeaderTimeout. A concrete wrapper type of the
		// program's own is assumed to add no deadline.
		return types.IsInterface(v.Type()) || isNamed(typeDeref(v.Type()), "net/http", "Transport")
	}
	return true
}

// dialer classifies v, a *net.Dialer.
func (r *Result) dialer(v ssa.Value, depth int) (state, string) {
	if depth > maxDepth || v == nil {
		return unknown, ""
	}
	switch x := v.(type) {
	case *ssa.Alloc:
		if !isNamed(typeDeref(x.Type()), "net", "Dialer") {
			return unknown, ""
		}
		for _, ref := range *x.Referrers() {
			switch in := ref.(type) {
			case *ssa.FieldAddr:
				switch fieldName(in) {
				case "Timeout", "Deadline":
					for _, fr := range *in.Referrers() {
						if st, ok := fr.(*ssa.Store); ok && st.Addr == in {
							return timed, ""
						}
					}
				}
			case *ssa.Store:
				if in.Addr == x {
					if _, ok := in.Val.(*ssa.Const); !ok {
						return unknown, ""
					}
				}
			case ssa.CallInstruction:
				if !isDialerMethod(in.Common()) {
					return unknown, ""
				}
			}
		}
		return untimed, "a net.Dialer with no Timeout or Deadline"
	case *ssa.Phi:
		return r.phi(x.Edges, depth, r.dialer)
	}
	return unknown, ""
}

// request classifies v, an *http.Request, by its context: untimed when it
// has no deadline. The phrase says why ("has no context (http.NewRequest)").
func (r *Result) request(v ssa.Value, depth int) (state, string) {
	if depth > maxDepth || v == nil {
		return unknown, ""
	}
	switch x := v.(type) {
	case *ssa.Extract:
		if x.Index != 0 {
			return unknown, ""
		}
		call, ok := x.Tuple.(*ssa.Call)
		if !ok {
			return unknown, ""
		}
		if cancelSet(x) {
			return unknown, "" // req.Cancel = ctx.Done(): the old way to cancel
		}
		switch calleeName(&call.Call) {
		case "net/http.NewRequest":
			return untimed, "has no context (http.NewRequest)"
		case "net/http.NewRequestWithContext":
			if len(call.Call.Args) == 0 {
				return unknown, ""
			}
			st, why := r.context(call.Call.Args[0], depth+1)
			return st, "context is " + why
		}
	case *ssa.Call:
		switch calleeName(&x.Call) {
		case "net/http.(Request).WithContext", "net/http.(Request).Clone":
			if len(x.Call.Args) < 2 {
				return unknown, ""
			}
			st, why := r.context(x.Call.Args[1], depth+1)
			return st, "context is " + why
		}
	case *ssa.Phi:
		return r.phi(x.Edges, depth, r.request)
	case *ssa.UnOp:
		if x.Op != token.MUL {
			return unknown, ""
		}
		switch a := x.X.(type) {
		case *ssa.Alloc:
			return r.stored(localStores(a), false, depth, r.request, "")
		case *ssa.FreeVar:
			return r.freeVar(a, depth, func(b ssa.Value, d int) (state, string) {
				if al, ok := b.(*ssa.Alloc); ok {
					return r.stored(localStores(al), false, d, r.request, "")
				}
				return unknown, ""
			})
		}
	}
	return unknown, ""
}

// cancelSet reports whether the request's deprecated Cancel channel is set.
func cancelSet(req ssa.Value) bool {
	for _, ref := range *req.Referrers() {
		if fa, ok := ref.(*ssa.FieldAddr); ok && fieldName(fa) == "Cancel" {
			for _, fr := range *fa.Referrers() {
				if st, ok := fr.(*ssa.Store); ok && st.Addr == fa {
					return true
				}
			}
		}
	}
	return false
}

// context classifies v, a context.Context: untimed when it provably has no
// deadline. The phrase names its origin ("context.Background()").
func (r *Result) context(v ssa.Value, depth int) (state, string) {
	if depth > maxDepth || v == nil {
		return unknown, ""
	}
	switch x := v.(type) {
	case *ssa.Call:
		switch n := calleeName(&x.Call); n {
		case "context.Background", "context.TODO":
			return untimed, n + "()"
		case "context.WithoutCancel":
			return untimed, "from context.WithoutCancel, which drops the deadline"
		case "context.WithValue":
			if len(x.Call.Args) > 0 {
				return r.context(x.Call.Args[0], depth+1)
			}
		}
	case *ssa.Extract:
		call, ok := x.Tuple.(*ssa.Call)
		if !ok || x.Index != 0 {
			return unknown, ""
		}
		switch calleeName(&call.Call) {
		case "context.WithTimeout", "context.WithDeadline", "context.WithTimeoutCause", "context.WithDeadlineCause":
			return timed, ""
		case "context.WithCancel", "context.WithCancelCause":
			if len(call.Call.Args) > 0 {
				return r.context(call.Call.Args[0], depth+1)
			}
		}
	case *ssa.MakeInterface:
		return r.context(x.X, depth+1)
	case *ssa.ChangeInterface:
		return r.context(x.X, depth+1)
	case *ssa.Phi:
		return r.phi(x.Edges, depth, r.context)
	case *ssa.UnOp:
		if x.Op != token.MUL {
			return unknown, ""
		}
		switch a := x.X.(type) {
		case *ssa.Alloc:
			return r.stored(localStores(a), false, depth, r.context, "")
		case *ssa.FreeVar:
			return r.freeVar(a, depth, func(b ssa.Value, d int) (state, string) {
				if al, ok := b.(*ssa.Alloc); ok {
					return r.stored(localStores(al), false, d, r.context, "")
				}
				return unknown, ""
			})
		}
	}
	return unknown, ""
}

// timedDefaultClient reports whether this package sets
// http.DefaultClient.Timeout.
func (r *Result) timedDefaultClient() bool {
	for g := range r.timedGlobal {
		if g.Pkg != nil && g.Pkg.Pkg != nil && g.Pkg.Pkg.Path() == "net/http" && g.Name() == "DefaultClient" {
			return true
		}
	}
	return false
}

// streamNetwork reports whether a dial's network argument may be a stream
// network (one that waits for a peer). A non-constant network may be.
func streamNetwork(v ssa.Value) bool {
	c, ok := v.(*ssa.Const)
	if !ok || c.Value == nil || c.Value.Kind() != constant.String {
		return true
	}
	n := constant.StringVal(c.Value)
	return !(strings.HasPrefix(n, "udp") || strings.HasPrefix(n, "ip") || n == "unixgram")
}

func calleeName(c *ssa.CallCommon) string {
	fn := c.StaticCallee()
	if fn == nil {
		return ""
	}
	obj, _ := fn.Object().(*types.Func)
	if obj == nil || obj.Pkg() == nil {
		return ""
	}
	if recv := recvName(obj); recv != "" {
		return obj.Pkg().Path() + ".(" + recv + ")." + obj.Name()
	}
	return obj.Pkg().Path() + "." + obj.Name()
}

// recvName is the name of fn's receiver's named type, or "".
func recvName(fn *types.Func) string {
	sig, ok := fn.Type().(*types.Signature)
	if !ok || sig.Recv() == nil {
		return ""
	}
	if n, ok := typeDeref(sig.Recv().Type()).(*types.Named); ok {
		return n.Obj().Name()
	}
	return ""
}

func isClientMethod(c *ssa.CallCommon) bool {
	return strings.HasPrefix(calleeName(c), "net/http.(Client).")
}

func isDialerMethod(c *ssa.CallCommon) bool {
	return strings.HasPrefix(calleeName(c), "net.(Dialer).")
}

func isClientOrDialerPtr(t types.Type) bool {
	p, ok := t.Underlying().(*types.Pointer)
	if !ok {
		return false
	}
	return isNamed(p.Elem(), "net/http", "Client") || isNamed(p.Elem(), "net", "Dialer")
}

func typeDeref(t types.Type) types.Type {
	if t == nil {
		return nil
	}
	if p, ok := t.Underlying().(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

func isNamed(t types.Type, path, name string) bool {
	if t == nil {
		return false
	}
	n, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return false
	}
	o := n.Obj()
	return o != nil && o.Pkg() != nil && o.Pkg().Path() == path && o.Name() == name
}

// fieldOf returns the struct field a FieldAddr selects.
func fieldOf(fa *ssa.FieldAddr) *types.Var {
	if fa == nil || fa.X == nil {
		return nil
	}
	st, ok := typeDeref(fa.X.Type()).Underlying().(*types.Struct)
	if !ok || fa.Field < 0 || fa.Field >= st.NumFields() {
		return nil
	}
	// Origin: the fields of a generic type's instances are one field.
	return st.Field(fa.Field).Origin()
}

func fieldName(fa *ssa.FieldAddr) string {
	if f := fieldOf(fa); f != nil {
		return f.Name()
	}
	return ""
}

// isTimeoutField reports whether fa is the Timeout field of an http.Client
// or the Timeout or Deadline field of a net.Dialer.
func isTimeoutField(fa *ssa.FieldAddr) bool {
	t := typeDeref(fa.X.Type())
	switch fieldName(fa) {
	case "Timeout":
		return isNamed(t, "net/http", "Client") || isNamed(t, "net", "Dialer")
	case "Deadline":
		return isNamed(t, "net", "Dialer")
	}
	return false
}

// IsCallName reports whether name is one that Call.Name takes: the end of
// a "may block" chain that is untimed network I/O.
func IsCallName(name string) bool {
	for _, p := range []string{"http.", "(*http.Client).", "net.", "tls.", "(*net.Dialer)."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
