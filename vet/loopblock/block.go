package loopblock

import (
	"go/types"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// calleeObj returns the function or method a call statically invokes, or
// the interface method it invokes dynamically; nil for function values.
func calleeObj(c *ssa.CallCommon) *types.Func {
	if c.IsInvoke() {
		return c.Method
	}
	if f := c.StaticCallee(); f != nil {
		if o, ok := origin(f).Object().(*types.Func); ok {
			return o
		}
	}
	return nil
}

// funcID names a function "pkgpath.Name" or "pkgpath.Recv.Name" (pointer
// receivers drop the star), so it can be matched against known APIs.
func funcID(f *types.Func) (pkg, recv, name string) {
	if f == nil || f.Pkg() == nil {
		return "", "", ""
	}
	pkg, name = f.Pkg().Path(), f.Name()
	sig, ok := f.Type().(*types.Signature)
	if !ok || sig.Recv() == nil {
		return pkg, "", name
	}
	t := sig.Recv().Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	if n, ok := types.Unalias(t).(*types.Named); ok {
		recv = n.Obj().Name()
	}
	return pkg, recv, name
}

// shortName renders a known callee for messages: "http.Get",
// "http.Client.Do".
func shortName(f *types.Func) string {
	pkg, recv, name := funcID(f)
	p := pkg[strings.LastIndexByte(pkg, '/')+1:]
	if recv != "" {
		return p + "." + recv + "." + name
	}
	return p + "." + name
}

// acquireCall reports whether c waits for capacity: a semaphore Acquire
// (x/sync semaphore.Weighted, sluice sem.Semaphore Acquire or Permit),
// whatever ctx it is given (a ctx bounds the wait for the caller, but the
// loop is parked for as long as it lasts).
func acquireCall(c *ssa.CallCommon) (string, bool) {
	f := calleeObj(c)
	pkg, recv, name := funcID(f)
	switch {
	case pkg == "golang.org/x/sync/semaphore" && recv == "Weighted" && name == "Acquire",
		pkg == "github.com/sluice-go/sluice/sem" && recv == "Semaphore" && (name == "Acquire" || name == "Permit"):
		return shortName(f), true
	}
	return "", false
}

// netCall reports whether c does network I/O, timed or not: HTTP client
// calls, dials, database queries. Used only for loop.Loop handlers, whose
// contract is that they never block at all.
func netCall(c *ssa.CallCommon) (string, bool) {
	f := calleeObj(c)
	pkg, recv, name := funcID(f)
	switch pkg {
	case "net/http":
		switch recv {
		case "":
			switch name {
			case "Get", "Post", "Head", "PostForm":
				return shortName(f), true
			}
		case "Client":
			switch name {
			case "Do", "Get", "Post", "Head", "PostForm":
				return shortName(f), true
			}
		case "RoundTripper", "Transport":
			if name == "RoundTrip" {
				return shortName(f), true
			}
		}
	case "net":
		if recv == "" && strings.HasPrefix(name, "Dial") || recv == "Dialer" && strings.HasPrefix(name, "Dial") {
			return shortName(f), true
		}
	case "database/sql":
		if (recv == "DB" || recv == "Conn" || recv == "Tx") && (strings.HasPrefix(name, "Query") || strings.HasPrefix(name, "Exec")) {
			return shortName(f), true
		}
	case "os/exec":
		if recv == "Cmd" && (name == "Run" || name == "Output" || name == "CombinedOutput" || name == "Wait") {
			return shortName(f), true
		}
	}
	return "", false
}

// netChain finds, through this package's static calls from fn, a call
// that does network I/O; it returns the chain of names down to it.
type netWalker struct {
	pkg  *types.Package
	memo map[*ssa.Function][]string
	busy map[*ssa.Function]bool
}

func (w *netWalker) call(c *ssa.CallCommon) ([]string, bool) {
	if what, ok := netCall(c); ok {
		return []string{what}, true
	}
	callee := c.StaticCallee()
	if callee == nil || c.IsInvoke() {
		return nil, false
	}
	if ch := w.fn(callee); ch != nil {
		return append([]string{funcName(callee)}, ch...), true
	}
	return nil, false
}

func (w *netWalker) fn(fn *ssa.Function) []string {
	if ch, ok := w.memo[fn]; ok {
		return ch
	}
	if w.busy[fn] || fn.Blocks == nil || fn.Pkg == nil || fn.Pkg.Pkg != w.pkg {
		return nil
	}
	w.busy[fn] = true
	defer delete(w.busy, fn)
	var found []string
	for _, b := range fn.Blocks {
		for _, in := range b.Instrs {
			c, ok := in.(*ssa.Call)
			if !ok {
				continue
			}
			if ch, ok := w.call(c.Common()); ok {
				found = ch
				break
			}
		}
		if found != nil {
			break
		}
	}
	if found != nil || len(w.busy) == 1 { // see checker.bcastFn
		w.memo[fn] = found
	}
	return found
}

// funcName renders an SSA function for a chain: "fetch", "api.get",
// "func literal in RunNaive".
func funcName(fn *ssa.Function) string {
	fn = origin(fn)
	if fn.Parent() != nil {
		top := fn
		for top.Parent() != nil {
			top = top.Parent()
		}
		return "func literal in " + funcName(top)
	}
	if recv := fn.Signature.Recv(); recv != nil {
		t := recv.Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok {
			return n.Obj().Name() + "." + fn.Name()
		}
	}
	return fn.Name()
}

// origin returns the generic function fn instantiates, or fn itself.
func origin(fn *ssa.Function) *ssa.Function {
	if o := fn.Origin(); o != nil {
		return o
	}
	return fn
}
