package facts

import (
	"fmt"
	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"go/constant"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ssa"
)

// fieldIndex records, for every struct field, the values this package
// stores into it (assignments and composite literals alike).
func (r *Result) fieldIndex(funcs []*ssa.Function) {
	r.fieldStores = map[*types.Var][]ssa.Value{}
	add := func(addr ssa.Value, val ssa.Value) {
		fa, ok := addr.(*ssa.FieldAddr)
		if !ok {
			return
		}
		if f := fieldOf(fa.X.Type(), fa.Field); f != nil {
			f = f.Origin()
			r.fieldStores[f] = append(r.fieldStores[f], val)
		}
	}
	for _, fn := range funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				if st, ok := instr.(*ssa.Store); ok {
					add(st.Addr, st.Val)
				}
			}
		}
	}
	// Package-level initialisers live in init, which SrcFuncs may omit.
	if r.SSA.Pkg != nil {
		if init := r.SSA.Pkg.Func("init"); init != nil {
			for _, b := range init.Blocks {
				for _, instr := range b.Instrs {
					if st, ok := instr.(*ssa.Store); ok {
						add(st.Addr, st.Val)
					}
				}
			}
		}
	}
}

// chanKind is what is known of a channel's buffer.
type chanKind int

const (
	chanUnknown  chanKind = iota
	chanUnbuf             // surely unbuffered
	chanBuffered          // surely buffered (capacity unknown or > 0)
)

// chanOrigin follows v back to where the channel was made.
func (r *Result) chanOrigin(v ssa.Value, depth int) (kind chanKind, mk *ssa.MakeChan) {
	if depth > 8 {
		return chanUnknown, nil
	}
	switch v := v.(type) {
	case *ssa.MakeChan:
		if c, ok := v.Size.(*ssa.Const); ok && c.Value != nil && c.Value.Kind() == constant.Int {
			if n, ok := constant.Int64Val(c.Value); ok && n == 0 {
				return chanUnbuf, v
			}
		}
		return chanBuffered, v
	case *ssa.ChangeType:
		return r.chanOrigin(v.X, depth+1)
	case *ssa.UnOp:
		if v.Op == token.MUL {
			if fa, ok := v.X.(*ssa.FieldAddr); ok {
				return r.fieldChan(fieldOf(fa.X.Type(), fa.Field), depth), nil
			}
			if g, ok := v.X.(*ssa.Global); ok {
				return r.globalChan(g, depth), nil
			}
		}
	case *ssa.Field:
		return r.fieldChan(fieldOf(v.X.Type(), v.Field), depth), nil
	}
	return chanUnknown, nil
}

func (r *Result) fieldChan(f *types.Var, depth int) chanKind {
	if f == nil {
		return chanUnknown
	}
	return r.merge(r.fieldStores[f.Origin()], depth)
}

func (r *Result) globalChan(g *ssa.Global, depth int) chanKind {
	if g.Pkg == nil || g.Pkg != r.SSA.Pkg {
		return chanUnknown
	}
	var vals []ssa.Value
	if refs := g.Referrers(); refs != nil {
		for _, ref := range *refs {
			if st, ok := ref.(*ssa.Store); ok && st.Addr == g {
				vals = append(vals, st.Val)
			}
		}
	}
	return r.merge(vals, depth)
}

// merge is the common kind of all stored values, or unknown.
func (r *Result) merge(vals []ssa.Value, depth int) chanKind {
	kind := chanUnknown
	for i, v := range vals {
		k, _ := r.chanOrigin(v, depth+1)
		if k == chanUnknown || i > 0 && k != kind {
			return chanUnknown
		}
		kind = k
	}
	return kind
}

func isStructEmpty(t types.Type) bool {
	s, ok := t.Underlying().(*types.Struct)
	return ok && s.NumFields() == 0
}

func chanElem(t types.Type) types.Type {
	if c, ok := t.Underlying().(*types.Chan); ok {
		return c.Elem()
	}
	return nil
}

// sendBlocks: a send blocks when the channel is surely unbuffered, when it
// is a channel semaphore (buffered chan struct{} released by a receive),
// or when it is a buffered channel made in this function that is sent to
// in a loop or more times than its capacity. A send on a channel whose
// buffer is unknown is not counted: most such sends feed a queue sized for
// them, and counting them would drown the real findings.
func (r *Result) sendBlocks(s *ssa.Send) (string, bool) {
	if replyChan(s.X) != nil {
		// A request that carries its own reply channel goes to an owner
		// goroutine's loop (a stop or flush handshake); the exchange is as
		// long as the owner's current step, which its own code bounds.
		return "", false
	}
	name := "send on " + display(s.Chan)
	kind, mk := r.chanOrigin(s.Chan, 0)
	switch kind {
	case chanUnbuf:
		return name + " (unbuffered)", true
	case chanBuffered:
		if mk != nil && mk.Parent() == s.Parent() {
			if roomFor(mk) {
				return "", false
			}
			return name + " (buffer may be full)", true
		}
		// A channel semaphore: a token sent and later taken back by the
		// same function (or a literal it defers). A buffered chan struct{}
		// sent to by one party and drained by another is a wake signal,
		// sized for its sends, and is not counted.
		if elem := chanElem(s.Chan.Type()); elem != nil && isStructEmpty(elem) && receivesKey(outerFunc(s.Parent()), keyOf(s.Chan, closureSubst(s.Parent()))) {
			return name + " (channel semaphore)", true
		}
	}
	return "", false
}

// roomFor reports whether every send on the locally made channel mk fits in
// its buffer: a constant capacity N, at most N sends, none in a loop, and
// the channel not handed to anything that could send more.
func roomFor(mk *ssa.MakeChan) bool {
	c, ok := mk.Size.(*ssa.Const)
	if !ok || c.Value == nil || c.Value.Kind() != constant.Int {
		return false
	}
	n, ok := constant.Int64Val(c.Value)
	if !ok || n <= 0 {
		return false
	}
	sends := int64(0)
	refs := mk.Referrers()
	if refs == nil {
		return false
	}
	for _, ref := range *refs {
		switch ref := ref.(type) {
		case *ssa.Send:
			if ssapass.InLoop(ref.Block()) {
				return false
			}
			sends++
		case *ssa.UnOp, *ssa.Select, *ssa.ChangeType:
		case *ssa.MakeClosure:
			// A closure that receives does not add sends; one that sends is
			// handled where it runs. Either way the sends counted here fit.
		case *ssa.Call:
			// close(ch), len(ch), cap(ch) add no sends; any other call may.
			if b, ok := ref.Call.Value.(*ssa.Builtin); !ok || b.Name() == "append" {
				return false
			}
		default:
			return false
		}
	}
	return sends <= n
}

// recvBlocks: a receive outside a select blocks, except from a Done()
// channel (whose context is unknown here), and except the release of a
// channel semaphore this function acquired.
func (r *Result) recvBlocks(u *ssa.UnOp) (string, bool) {
	if isDoneChan(u.X) {
		return "", false
	}
	if isTimerChan(u.X) {
		if timerDrain(u) {
			return "", false
		}
		return "<-" + display(u.X) + " (timer)", true
	}
	if r.releasesSem(u) || afterStop(u) || sentAsReply(u.X) {
		return "", false
	}
	if _, ok := r.future(u.X, false); ok {
		return "", false // a future's producer is judged in blocking, after the fixpoint
	}
	if _, ok := r.ownedFeed(u.X); ok {
		return "", false // so is an owned producer's (see ownedFeed)
	}
	return "<-" + display(u.X), true
}

// afterStop reports whether instr is dominated, in its function, by a
// close(...) or a call of a context.CancelFunc: the shape of a shutdown
// join ("close(stopc); <-donec", "cancel(); wg.Wait()"), which waits for
// goroutines that were just told to stop. Such joins are deliberate and
// bounded by the stopped goroutine's reaction, so they are not counted.
// timerDrain reports whether the timer receive u follows a call to the
// timer's Stop on every path: "if !t.Stop() { <-t.C }" drains a timer that
// already fired, a value that is there.
func timerDrain(u *ssa.UnOp) bool {
	ib := u.Block()
	if ib == nil {
		return false
	}
	for _, b := range u.Parent().Blocks {
		if !b.Dominates(ib) {
			continue
		}
		for _, in := range b.Instrs {
			if in == ssa.Instruction(u) {
				break
			}
			c, ok := in.(*ssa.Call)
			if !ok {
				continue
			}
			if fn := c.Call.StaticCallee(); fn != nil && fn.Name() == "Stop" && fn.Pkg != nil && fn.Pkg.Pkg.Path() == "time" {
				return true
			}
		}
	}
	return false
}

func afterStop(instr ssa.Instruction) bool {
	ib := instr.Block()
	if ib == nil {
		return false
	}
	for _, b := range instr.Parent().Blocks {
		if !b.Dominates(ib) {
			continue
		}
		for _, in := range b.Instrs {
			if in == instr {
				break
			}
			c, ok := in.(*ssa.Call)
			if !ok {
				continue
			}
			if bi, ok := c.Call.Value.(*ssa.Builtin); ok && bi.Name() == "close" {
				return true
			}
			if n, ok := types.Unalias(c.Call.Value.Type()).(*types.Named); ok && n.Obj().Pkg() != nil &&
				n.Obj().Pkg().Path() == "context" && (n.Obj().Name() == "CancelFunc" || n.Obj().Name() == "CancelCauseFunc") {
				return true
			}
		}
	}
	return false
}

// future classifies a channel that is the result of work started for it:
// returned by a call (a future whose producer this package cannot see,
// assumed to finish), or made here and sent to only by goroutines started
// here, which may block only if such a goroutine may. ok is false for any
// other channel; chain is nil when the future is assumed to finish.
func (r *Result) future(v ssa.Value, judge bool) (chain []string, ok bool) {
	switch x := v.(type) {
	case *ssa.Extract:
		if _, isCall := x.Tuple.(*ssa.Call); isCall {
			return nil, true
		}
	case *ssa.Call:
		if _, isBuiltin := x.Call.Value.(*ssa.Builtin); !isBuiltin {
			return nil, true
		}
	case *ssa.MakeChan:
		return r.localFuture([]ssa.Value{x}, judge)
	case *ssa.UnOp:
		// A captured local: the closure shares the variable's cell.
		alloc, ok := x.X.(*ssa.Alloc)
		if !ok || x.Op != token.MUL {
			return nil, false
		}
		refs := alloc.Referrers()
		if refs == nil {
			return nil, false
		}
		uses := []ssa.Value{alloc}
		stores := 0
		for _, ref := range *refs {
			switch ref := ref.(type) {
			case *ssa.Store:
				if _, ok := ref.Val.(*ssa.MakeChan); !ok || ref.Addr != alloc {
					return nil, false
				}
				stores++
			case *ssa.UnOp:
				uses = append(uses, ref)
			}
		}
		if stores != 1 {
			return nil, false
		}
		return r.localFuture(uses, judge)
	}
	return nil, false
}

// localFuture judges a channel made in this function, given the values
// that denote it (the channel itself, or its variable's cell and loads):
// a future when nothing here sends to it and the only closures that see it
// are started as goroutines.
func (r *Result) localFuture(uses []ssa.Value, judge bool) (chain []string, ok bool) {
	var producers []*ssa.Function
	for _, u := range uses {
		refs := u.Referrers()
		if refs == nil {
			continue
		}
		for _, ref := range *refs {
			switch ref := ref.(type) {
			case *ssa.Send:
				if ref.Chan == u {
					return nil, false // sent to here too: not a pure future
				}
			case *ssa.MakeClosure:
				fn, _ := ref.Fn.(*ssa.Function)
				if fn == nil || !onlyGo(ref) {
					return nil, false
				}
				producers = append(producers, fn)
			}
		}
	}
	if len(producers) == 0 {
		return nil, false
	}
	if judge {
		for _, p := range producers {
			if c, ok := r.funcBlocking(p); ok {
				return c, true
			}
		}
	}
	return nil, true
}

// onlyGo reports whether the closure mc is only started as a goroutine.
func onlyGo(mc *ssa.MakeClosure) bool {
	refs := mc.Referrers()
	if refs == nil || len(*refs) == 0 {
		return false
	}
	for _, ref := range *refs {
		g, ok := ref.(*ssa.Go)
		if !ok || g.Call.Value != mc {
			return false
		}
	}
	return true
}

// releasesSem reports whether the receive u takes back a token the same
// function (or the function whose defer it runs in) sent: a channel
// semaphore's release never waits.
func (r *Result) releasesSem(u *ssa.UnOp) bool {
	elem := chanElem(u.X.Type())
	if elem == nil || !isStructEmpty(elem) {
		return false
	}
	fn := u.Parent()
	key := keyOf(u.X, closureSubst(fn))
	outer := fn
	for outer.Parent() != nil {
		outer = outer.Parent()
	}
	found := false
	for _, f := range append([]*ssa.Function{outer}, outer.AnonFuncs...) {
		sub := closureSubst(f)
		for _, b := range f.Blocks {
			for _, instr := range b.Instrs {
				if s, ok := instr.(*ssa.Send); ok && keyOf(s.Chan, sub) == key {
					found = true
				}
			}
		}
	}
	return found
}

// selectBlocks: a select with a default case never blocks; one with a
// receive from a Done() channel, a timer, or a chan struct{} (a close
// signal, by convention) has an escape; anything else may block.
func (r *Result) selectBlocks(s *ssa.Select) (string, bool) {
	if !s.Blocking {
		return "", false
	}
	if len(s.States) == 0 {
		return "select {}", true
	}
	for _, st := range s.States {
		if st.Dir != types.RecvOnly {
			continue
		}
		if isDoneChan(st.Chan) || isTimerChan(st.Chan) {
			return "", false
		}
		if _, ok := r.ownedFeed(st.Chan); ok {
			return "", false // judged in blocking, with its producers
		}
		if elem := chanElem(st.Chan.Type()); elem != nil && isStructEmpty(elem) {
			return "", false
		}
	}
	return "select with no ctx.Done, timer or default case", true
}

// selectEscape reports whether s has a receive from a Done() channel, a
// timer, or a chan struct{}: a way out that is not an owned producer.
func selectEscape(s *ssa.Select) bool {
	for _, st := range s.States {
		if st.Dir != types.RecvOnly {
			continue
		}
		if isDoneChan(st.Chan) || isTimerChan(st.Chan) {
			return true
		}
		if elem := chanElem(st.Chan.Type()); elem != nil && isStructEmpty(elem) {
			return true
		}
	}
	return false
}

// isDoneChan reports whether v is the result of a Done() method call.
func isDoneChan(v ssa.Value) bool {
	c, ok := v.(*ssa.Call)
	if !ok {
		return false
	}
	if c.Call.IsInvoke() {
		return c.Call.Method != nil && c.Call.Method.Name() == "Done"
	}
	if fn := c.Call.StaticCallee(); fn != nil {
		return fn.Name() == "Done" && fn.Signature.Recv() != nil
	}
	return false
}

// isTimerChan reports whether v is time.After/Tick or a Timer/Ticker's C.
func isTimerChan(v ssa.Value) bool {
	switch v := v.(type) {
	case *ssa.Call:
		id, _ := calleeID(&v.Call)
		return id == "time.After" || id == "time.Tick"
	case *ssa.UnOp:
		if fa, ok := v.X.(*ssa.FieldAddr); ok && v.Op == token.MUL {
			return isTimeField(fa.X.Type(), fa.Field)
		}
	case *ssa.Field:
		return isTimeField(v.X.Type(), v.Field)
	}
	return false
}

func isTimeField(t types.Type, i int) bool {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() != "time" {
		return false
	}
	f := fieldOf(t, i)
	return f != nil && f.Name() == "C"
}

// closureSubst maps a closure's free variables to the values its parent
// bound them to, so keys computed inside a literal match the parent's.
func closureSubst(fn *ssa.Function) map[*ssa.FreeVar]ssa.Value {
	if fn == nil || fn.Parent() == nil || len(fn.FreeVars) == 0 {
		return nil
	}
	parent := fn.Parent()
	for _, b := range parent.Blocks {
		for _, instr := range b.Instrs {
			mc, ok := instr.(*ssa.MakeClosure)
			if !ok || mc.Fn != fn {
				continue
			}
			m := map[*ssa.FreeVar]ssa.Value{}
			for i, fv := range fn.FreeVars {
				if i < len(mc.Bindings) {
					m[fv] = mc.Bindings[i]
				}
			}
			return m
		}
	}
	return nil
}

// keyOf is an identity for the lock or channel v denotes: the same path of
// fields, indexes (a constant by value) and loads from the same base value,
// the same global, or the same SSA value.
func keyOf(v ssa.Value, subst map[*ssa.FreeVar]ssa.Value) string {
	return key(v, subst, 0)
}

func key(v ssa.Value, subst map[*ssa.FreeVar]ssa.Value, depth int) string {
	if depth > 10 || v == nil {
		return "?"
	}
	switch x := v.(type) {
	case *ssa.FieldAddr:
		return key(x.X, subst, depth+1) + "." + fmt.Sprint(x.Field)
	case *ssa.Field:
		return key(x.X, subst, depth+1) + "." + fmt.Sprint(x.Field)
	case *ssa.UnOp:
		if x.Op == token.MUL {
			return "*" + key(x.X, subst, depth+1)
		}
	case *ssa.ChangeType:
		return key(x.X, subst, depth+1)
	case *ssa.MakeInterface:
		return key(x.X, subst, depth+1)
	case *ssa.Global:
		return "g:" + x.RelString(nil)
	case *ssa.Extract:
		return key(x.Tuple, subst, depth+1) + "#" + fmt.Sprint(x.Index)
	case *ssa.FreeVar:
		if b, ok := subst[x]; ok {
			return key(b, nil, depth+1)
		}
	case *ssa.IndexAddr:
		// xs[0].mu and m[k].mu: every index expression is a new SSA
		// value, so the path (base, then the index's own key) names it.
		return key(x.X, subst, depth+1) + "[" + key(x.Index, subst, depth+1) + "]"
	case *ssa.Index:
		return key(x.X, subst, depth+1) + "[" + key(x.Index, subst, depth+1) + "]"
	case *ssa.Lookup:
		return key(x.X, subst, depth+1) + "[" + key(x.Index, subst, depth+1) + "]"
	case *ssa.Const:
		// Each use of a constant is its own SSA value; its value is the
		// identity (a nil constant has none, and is "nil").
		if x.Value == nil {
			return "c:nil"
		}
		return "c:" + x.Value.ExactString()
	}
	return fmt.Sprintf("%p", v)
}

// display renders v for a message: "g.mu", "s.sem", "ch".
func display(v ssa.Value) string { return disp(v, 0) }

func disp(v ssa.Value, depth int) string {
	if depth > 6 || v == nil {
		return "?"
	}
	switch x := v.(type) {
	case *ssa.FieldAddr:
		if f := fieldOf(x.X.Type(), x.Field); f != nil {
			return disp(x.X, depth+1) + "." + f.Name()
		}
	case *ssa.Field:
		if f := fieldOf(x.X.Type(), x.Field); f != nil {
			return disp(x.X, depth+1) + "." + f.Name()
		}
	case *ssa.UnOp:
		if x.Op == token.MUL {
			return disp(x.X, depth+1)
		}
	case *ssa.ChangeType:
		return disp(x.X, depth+1)
	case *ssa.MakeInterface:
		return disp(x.X, depth+1)
	case *ssa.Parameter:
		return x.Name()
	case *ssa.FreeVar:
		return x.Name()
	case *ssa.Global:
		return x.Name()
	case *ssa.Alloc:
		if x.Comment != "" {
			return x.Comment
		}
	case *ssa.Extract:
		return disp(x.Tuple, depth+1)
	case *ssa.Call:
		if fn := x.Call.StaticCallee(); fn != nil {
			return fn.Name() + "()"
		}
		if x.Call.Method != nil {
			return x.Call.Method.Name() + "()"
		}
	case *ssa.MakeChan:
		return "ch"
	case *ssa.IndexAddr:
		return disp(x.X, depth+1) + "[" + dispIndex(x.Index) + "]"
	case *ssa.Index:
		return disp(x.X, depth+1) + "[" + dispIndex(x.Index) + "]"
	case *ssa.Lookup:
		return disp(x.X, depth+1) + "[" + dispIndex(x.Index) + "]"
	}
	if t := v.Type(); t != nil {
		if _, ok := t.Underlying().(*types.Chan); ok {
			return "ch"
		}
	}
	return "x"
}

func dispIndex(v ssa.Value) string {
	if c, ok := v.(*ssa.Const); ok && c.Value != nil {
		return c.Value.ExactString()
	}
	return "i"
}

func outerFunc(fn *ssa.Function) *ssa.Function {
	for fn.Parent() != nil {
		fn = fn.Parent()
	}
	return fn
}

// replyChan returns the channel made in this function that v is, if any.
func replyChan(v ssa.Value) *ssa.MakeChan {
	switch x := v.(type) {
	case *ssa.MakeChan:
		return x
	case *ssa.ChangeType:
		return replyChan(x.X)
	}
	return nil
}

// sentAsReply reports whether the channel v, made in this function, was
// sent to someone as the reply channel of a request.
func sentAsReply(v ssa.Value) bool {
	mk := replyChan(v)
	if mk == nil {
		return false
	}
	refs := mk.Referrers()
	if refs == nil {
		return false
	}
	for _, ref := range *refs {
		if s, ok := ref.(*ssa.Send); ok && s.X == ssa.Value(mk) {
			return true
		}
		if ct, ok := ref.(*ssa.ChangeType); ok {
			if crefs := ct.Referrers(); crefs != nil {
				for _, cr := range *crefs {
					if s, ok := cr.(*ssa.Send); ok && s.X == ssa.Value(ct) {
						return true
					}
				}
			}
		}
	}
	return false
}

// ownedFeed reports whether the channel v is an unexported field of a type
// T of this package that is fed only by T's own goroutines: every send on
// the field is in a method of T (or a literal inside one, or inside a
// constructor returning T) that is started with a go statement from a
// method or constructor of T, at least one send is in a loop, every value
// stored into the field is made here, and the field's channel is never
// handed to anything else (only sent to, received from, selected on,
// closed, or measured). Such a producer (etcd's WAL filePipeline: run
// allocates the next file and hands it over, forever) always answers, so
// waiting for it is serialization, not an unbounded wait, unless the
// producer itself may block; producers are returned for that judgement.
func (r *Result) ownedFeed(v ssa.Value) ([]*ssa.Function, bool) {
	var f *types.Var
	var st types.Type
	switch x := v.(type) {
	case *ssa.UnOp:
		fa, ok := x.X.(*ssa.FieldAddr)
		if !ok || x.Op != token.MUL {
			return nil, false
		}
		f, st = fieldOf(fa.X.Type(), fa.Field), fa.X.Type()
	case *ssa.Field:
		f, st = fieldOf(x.X.Type(), x.Field), x.X.Type()
	default:
		return nil, false
	}
	if f == nil || f.Exported() || f.Pkg() != r.pkg {
		return nil, false
	}
	f = f.Origin()
	if r.feeds == nil {
		r.feeds = map[*types.Var]*feed{}
	}
	fd, ok := r.feeds[f]
	if !ok {
		fd = r.findFeed(f, namedOf(st))
		r.feeds[f] = fd
	}
	if fd == nil {
		return nil, false
	}
	return fd.producers, true
}

type feed struct{ producers []*ssa.Function }

func namedOf(t types.Type) *types.Named {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	n, _ := types.Unalias(t).(*types.Named)
	if n != nil {
		n = n.Origin()
	}
	return n
}

// ofType reports whether fn is a method of T, a constructor of T (a
// function of the package with a T or *T result), or a literal inside one.
func ofType(fn *ssa.Function, T *types.Named) bool {
	fn = outerFunc(fn)
	if fn.Signature == nil {
		return false
	}
	if recv := fn.Signature.Recv(); recv != nil {
		return namedOf(recv.Type()) == T
	}
	res := fn.Signature.Results()
	for i := 0; i < res.Len(); i++ {
		if namedOf(res.At(i).Type()) == T {
			return true
		}
	}
	return false
}

func (r *Result) findFeed(f *types.Var, T *types.Named) *feed {
	if T == nil || T.Obj().Pkg() != r.pkg {
		return nil
	}
	stores := r.fieldStores[f]
	if len(stores) == 0 {
		return nil
	}
	for _, s := range stores {
		if _, ok := s.(*ssa.MakeChan); !ok {
			return nil
		}
	}
	// Goroutine entries started from T's own code.
	started := map[*ssa.Function]bool{}
	funcs := r.SSA.SrcFuncs
	for _, fn := range funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				g, ok := instr.(*ssa.Go)
				if !ok || !ofType(fn, T) {
					continue
				}
				if cb := ssapass.StaticFunc(g.Call.Value); cb != nil && g.Call.Method == nil {
					started[cb] = true
				}
			}
		}
	}
	var producers []*ssa.Function
	looped := false
	addSender := func(fn *ssa.Function, b *ssa.BasicBlock) bool {
		if !started[fn] || !ofType(fn, T) {
			return false
		}
		if ssapass.InLoop(b) {
			looped = true
		}
		for _, p := range producers {
			if p == fn {
				return true
			}
		}
		producers = append(producers, fn)
		return true
	}
	for _, fn := range funcs {
		for _, b := range fn.Blocks {
			for _, instr := range b.Instrs {
				fa, ok := instr.(*ssa.FieldAddr)
				if !ok {
					continue
				}
				if ff := fieldOf(fa.X.Type(), fa.Field); ff == nil || ff.Origin() != f {
					continue
				}
				refs := fa.Referrers()
				if refs == nil {
					continue
				}
				for _, ref := range *refs {
					switch ref := ref.(type) {
					case *ssa.Store:
						if ref.Addr != fa {
							return nil // the field's address is stored: escapes
						}
					case *ssa.UnOp:
						if ref.Op != token.MUL || !r.feedUses(ref, addSender) {
							return nil
						}
					default:
						return nil
					}
				}
			}
		}
	}
	if !looped {
		return nil
	}
	return &feed{producers: producers}
}

// feedUses checks every use of a loaded channel: sends must be by owned
// goroutines (addSender), and the channel must not escape.
func (r *Result) feedUses(load ssa.Value, addSender func(*ssa.Function, *ssa.BasicBlock) bool) bool {
	refs := load.Referrers()
	if refs == nil {
		return true
	}
	for _, ref := range *refs {
		switch ref := ref.(type) {
		case *ssa.Send:
			if ref.Chan != load || !addSender(ref.Parent(), ref.Block()) {
				return false
			}
		case *ssa.UnOp:
			if ref.Op != token.ARROW {
				return false
			}
		case *ssa.Select:
			for _, s := range ref.States {
				if s.Chan == load && s.Dir == types.SendOnly && !addSender(ref.Parent(), ref.Block()) {
					return false
				}
				if s.Send == load {
					return false // the channel itself is sent somewhere
				}
			}
		case *ssa.Call:
			if !harmlessBuiltin(ref.Call.Value) {
				return false
			}
		case *ssa.Defer:
			if !harmlessBuiltin(ref.Call.Value) {
				return false
			}
		case *ssa.ChangeType:
			// A receive-only view (a getter returning <-chan T) cannot send.
			c, ok := ref.Type().Underlying().(*types.Chan)
			if !ok || c.Dir() != types.RecvOnly {
				return false
			}
		case *ssa.DebugRef:
		default:
			return false
		}
	}
	return true
}

// harmlessBuiltin: close, len and cap add no sends.
func harmlessBuiltin(v ssa.Value) bool {
	b, ok := v.(*ssa.Builtin)
	return ok && (b.Name() == "close" || b.Name() == "len" || b.Name() == "cap")
}
