// Package facts computes, for every function of a package, whether a call to
// it may block with no deadline, and whether it is a lease: a function that
// holds something (a lock, a permit, an owner goroutine's attention) while it
// calls one of its function-typed parameters. Both are exported as analysis
// facts on the function's generic origin (fn.Origin()), so callers in other
// packages, and callers of generic instances, see them.
//
// "May block with no deadline" is decided per SSA instruction and then
// propagated over the package's static call graph to a fixpoint, with facts
// imported for callees in other packages. The blocking operations are:
//
//   - network I/O with no timeout and no ctx deadline, as vet/internal/netcall
//     classifies it (http.Get/Post/Head/PostForm, an http.Client with no
//     Timeout, net.Dial without a timeout);
//   - a channel receive outside a select; a send on a channel known to be
//     unbuffered, or that is shaped as a channel semaphore (struct{} element,
//     buffered), or on a locally made buffered channel sent to more times than
//     it has room for, or in a loop;
//   - a select with no default case and no escape case (a receive from a
//     Done() channel, a timer or ticker channel, time.After/Tick, or a chan
//     struct{} that serves as a close signal); select{} always blocks;
//   - sync.WaitGroup.Wait, sync.Cond.Wait, time.Sleep;
//   - x/sync semaphore.Weighted.Acquire and sluice sem Acquire/Permit when the
//     ctx is context.Background or context.TODO (a ctx parameter is unknown
//     and counts as not blocking).
//
// Mutex.Lock is not counted: a lock is held for short critical sections and
// counting it would flag most of any real codebase.
//
// Facts imported from another module count only waits on the outside world
// (network, sleeps and polls, semaphores with no deadline, select{}): a
// dependency's internal coordination (WaitGroup, Cond, channels among its
// own goroutines) is taken to be bounded. Within the analysed module every
// kind counts. A receive or WaitGroup.Wait dominated by a close() or a
// context.CancelFunc call is a shutdown join and does not count; nor does a
// receive from a future (a channel returned by a call, or made here and
// fed only by goroutines started here, unless such a goroutine may block),
// nor a receive, or a select with a receive, from an owned producer: an
// unexported channel field of a type T, made by T's code, sent to only by
// goroutines that T's methods or constructors start (at least one send in
// a loop), and never handed to other code (etcd's WAL filePipeline, whose
// goroutine allocates the next file forever). Such a wait counts only if
// the producer itself may block; waiting on it under a lock is deliberate
// serialization.
//
// Precision is preferred to recall: a send on a channel whose buffer is
// unknown (a struct field made elsewhere with a non-struct{} element) does
// not count, nor do dynamic calls (interface methods, function values), nor
// calls into the standard library other than the operations above. Deferred
// calls are not counted as blocking at the defer site.
package facts

import (
	"go/types"
	"reflect"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/netcall"
)

// Analyzer computes the facts of a package. It reports nothing itself.
var Analyzer = &analysis.Analyzer{
	Name:       "sluicefacts",
	Doc:        "computes which functions may block with no deadline and which hold something while calling a callback (leases)",
	URL:        "https://github.com/sluice-go/sluice/tree/main/vet/internal/facts",
	Requires:   []*analysis.Analyzer{ssapass.Analyzer},
	Run:        run,
	ResultType: reflect.TypeFor[*Result](),
	FactTypes:  []analysis.Fact{(*BlockFact)(nil), (*LeaseFact)(nil)},
}

// BlockFact marks a function a call to which may block with no deadline.
// Chain is the qualified names from the function down to the blocking
// operation, e.g. ["recovery.validate", "recovery.fetch", "http.Post"].
type BlockFact struct{ Chain []string }

func (*BlockFact) AFact()           {}
func (f *BlockFact) String() string { return "blocks(" + join(f.Chain) + ")" }

// LeaseFact marks a function that holds Held while it calls the
// function-typed parameters at Params (indices into the SSA function's
// Params, receiver first for methods, which match a static call's Args).
type LeaseFact struct {
	Held   string
	Params []int
}

func (*LeaseFact) AFact()           {}
func (f *LeaseFact) String() string { return "lease(" + f.Held + ")" }

// Result is what the analyzer hands to the analyzers that require it.
type Result struct {
	// SSA is the package's SSA form (the same value buildssa returns).
	SSA *buildssa.SSA

	pkg    *types.Package
	pass   *analysis.Pass
	blocks map[*ssa.Function][]string // functions of this package (origins and closures)
	leases map[*ssa.Function]*LeaseFact
	ops    map[ssa.Instruction][]string // blocking operations found directly in this package's bodies

	fieldStores map[*types.Var][]ssa.Value // values stored into each struct field, by field origin
	net         *netcall.Result
	feeds       map[*types.Var]*feed // channel fields fed only by their type's own goroutines (nil: not one)
}

// Blocking reports whether instr (a call, a channel send or receive, a
// select) may block with no deadline, and the chain of names down to the
// blocking operation: for a call to fetch that reaches http.Post,
// ["fetch", "http.Post"]; for a bare receive, ["<-ch"]. Names of this
// package's functions are unqualified.
func (r *Result) Blocking(instr ssa.Instruction) (chain []string, ok bool) {
	if r == nil || instr == nil {
		return nil, false
	}
	return r.trim(r.blocking(instr))
}

// FuncBlocking reports whether a call to fn may block with no deadline, and
// the chain from fn's name down to the blocking operation.
func (r *Result) FuncBlocking(fn *ssa.Function) (chain []string, ok bool) {
	if r == nil || fn == nil {
		return nil, false
	}
	return r.trim(r.funcBlocking(fn))
}

// Lease reports whether fn holds something while calling some of its
// function-typed parameters: held names it ("g.mu", "semaphore permit"),
// params are indices into fn.Params (receiver first for methods, matching a
// static call's Args).
func (r *Result) Lease(fn *ssa.Function) (held string, params []int, ok bool) {
	if r == nil || fn == nil {
		return "", nil, false
	}
	f := r.lease(fn)
	if f == nil {
		return "", nil, false
	}
	return f.Held, f.Params, true
}

// Untimed reports whether call is network I/O with no deadline (http.Get on
// the default client, net.Dial), naming it. A go statement's call counts:
// go http.Get(u) starts a goroutine that may never end.
func (r *Result) Untimed(call ssa.CallInstruction) (string, bool) {
	if r == nil || r.net == nil || call == nil {
		return "", false
	}
	return r.net.Untimed(call)
}
