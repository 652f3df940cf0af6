// Package lockheld finds calls that may block with no deadline while
// something is held: a sync.Mutex or RWMutex (write or read lock), a
// semaphore permit (golang.org/x/sync/semaphore, sluice sem, or a channel
// semaphore's token), or the thing a lease function holds while it runs
// the callback it was given.
//
// Why it is a hazard: everything else that needs the held thing waits for
// the blocked call. An http.Post with no timeout under a model lock pinned
// the lock for good when the ML node hung (seed 002); a stream's setup held
// a read permit across an unbounded wait and wedged the writer's drain
// (seed 004).
//
// What "may block with no deadline" means is decided by vet/internal/facts:
// network I/O with no client timeout and no ctx deadline, channel receives
// and unbuffered sends outside a select with ctx.Done/timer/default,
// select{}, WaitGroup.Wait, Cond.Wait, time.Sleep, and semaphore acquires
// with context.Background; directly or through calls, across packages.
// The message gives the chain: "validate -> fetch -> http.Post".
//
// A direct Cond.Wait is not reported: it releases the lock it is called
// under (c.L), which is the lock held in the idiomatic shape.
//
// A lock and its unlock pair by path, not by SSA value: gws[0].mu,
// s.a.b.mu, m["k"].mu and a local copy of a pointer (p := s.p; p.mu) name
// the same lock at every mention (see vet/internal/facts.Held).
//
// In _test.go files only untimed network I/O under a lock is reported: a
// test holding a lock across its own servers' shutdown, a sleep or a poll
// is a harness, and the worst it can do is hang that test.
//
// What it does not find (known limits): a lock taken on only some paths to
// the call (the Lock must dominate it); locks released in another function;
// blocking through dynamic calls (interfaces, function values) except a
// lease's callback; deferred calls; a ctx parameter is assumed to carry a
// deadline; a send on a channel whose buffer is unknown. A goroutine started
// while the lock is held does not hold it, and is not reported.
//
// The fix: release the lock before the call, or give the call a deadline
// (a ctx from context.WithTimeout, http.Client.Timeout); to bound the wait
// for the shared thing itself use guard.Access or gate, which take a ctx,
// and sem.Semaphore.Acquire with a ctx instead of a bare channel semaphore.
package lockheld

import (
	"go/token"
	"strings"

	"github.com/sluice-go/sluice/vet/internal/ssapass"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"

	"github.com/sluice-go/sluice/vet/internal/diag"
	"github.com/sluice-go/sluice/vet/internal/facts"
	"github.com/sluice-go/sluice/vet/internal/netcall"
)

// Analyzer is the lockheld rule.
var Analyzer = &analysis.Analyzer{
	Name:     "lockheld",
	Doc:      "report calls that may block with no deadline while a lock, a semaphore permit or a lease is held",
	URL:      "https://github.com/sluice-go/sluice/tree/main/vet/lockheld",
	Requires: []*analysis.Analyzer{facts.Analyzer, ssapass.Analyzer},
	Run:      run,
}

func run(pass *analysis.Pass) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, nil // never stop the run on odd code
		}
	}()
	fr, _ := pass.ResultOf[facts.Analyzer].(*facts.Result)
	if fr == nil || fr.SSA == nil {
		return nil, nil
	}
	generated := map[*token.File]bool{}
	for _, f := range pass.Files {
		if diag.Generated(pass.Fset, f) {
			generated[pass.Fset.File(f.Package)] = true
		}
	}
	skip := func(p token.Pos) bool { return !p.IsValid() || generated[pass.Fset.File(p)] }
	reported := map[ssa.Instruction]bool{}
	for _, fn := range fr.SSA.SrcFuncs {
		checkHeld(pass, fr, fn, skip, reported)
	}
	for _, fn := range fr.SSA.SrcFuncs {
		checkLeases(pass, fr, fn, skip, reported)
	}
	return nil, nil
}

func fnName(fn *ssa.Function) string {
	name := fn.Name()
	if p := fn.Parent(); p != nil {
		if i := strings.LastIndex(name, "$"); i >= 0 {
			return fnName(p) + ".func" + name[i+1:]
		}
	}
	if recv := fn.Signature.Recv(); recv != nil {
		t := recv.Type().String()
		if i := strings.LastIndexAny(t, "./"); i >= 0 {
			t = t[i+1:]
		}
		if i := strings.Index(t, "["); i >= 0 {
			t = t[:i]
		}
		return t + "." + name
	}
	return name
}

func posOf(instr ssa.Instruction) token.Pos {
	switch in := instr.(type) {
	case *ssa.Call:
		return in.Pos()
	case *ssa.Send:
		return in.Pos()
	case *ssa.UnOp:
		return in.Pos()
	case *ssa.Select:
		return in.Pos()
	}
	return instr.Pos()
}

func checkHeld(pass *analysis.Pass, fr *facts.Result, fn *ssa.Function, skip func(token.Pos) bool, reported map[ssa.Instruction]bool) {
	held := facts.Held(fn)
	if len(held) == 0 {
		return
	}
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			hs := held[instr]
			if len(hs) == 0 || reported[instr] {
				continue
			}
			chain, ok := fr.Blocking(instr)
			if !ok {
				continue
			}
			if len(chain) == 1 && chain[0] == "Cond.Wait" {
				// Cond.Wait releases its own lock, which is what the caller
				// holds in the idiomatic shape; a Cond.Wait reached through
				// a call, under another lock, is still reported.
				continue
			}
			p := posOf(instr)
			if skip(p) || harness(pass, p, chain) {
				continue
			}
			a := hs[0]
			reported[instr] = true
			diag.Report(pass, diag.Finding{
				Pos:      p,
				Hazard:   chain[len(chain)-1] + " may block with no deadline while " + a.What() + " is held",
				Evidence: strings.Join(append([]string{fnName(fn)}, chain...), " -> "),
				Fix:      fixFor(a.Kind),
				Related:  []analysis.RelatedInformation{{Pos: a.Instr.Pos(), Message: a.What() + " taken here"}},
			})
		}
	}
}

func checkLeases(pass *analysis.Pass, fr *facts.Result, fn *ssa.Function, skip func(token.Pos) bool, reported map[ssa.Instruction]bool) {
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			call, ok := instr.(*ssa.Call)
			if !ok {
				continue
			}
			callee := call.Call.StaticCallee()
			if callee == nil {
				continue
			}
			heldName, params, ok := fr.Lease(callee)
			if !ok {
				continue
			}
			for _, i := range params {
				if i >= len(call.Call.Args) {
					continue
				}
				cb := ssapass.StaticFunc(call.Call.Args[i])
				if cb == nil || cb.Pkg != fn.Pkg {
					continue
				}
				for _, cbb := range cb.Blocks {
					for _, in := range cbb.Instrs {
						if reported[in] {
							continue
						}
						chain, ok := fr.Blocking(in)
						if !ok {
							continue
						}
						p := posOf(in)
						if skip(p) || harness(pass, p, chain) {
							continue
						}
						reported[in] = true
						diag.Report(pass, diag.Finding{
							Pos:      p,
							Hazard:   chain[len(chain)-1] + " may block with no deadline inside the callback of " + fnName(callee) + ", which holds " + heldName,
							Evidence: strings.Join(append([]string{fnName(callee), fnName(cb)}, chain...), " -> "),
							Fix:      "do the blocking work outside the callback, or give it a deadline (a ctx from context.WithTimeout, http.Client.Timeout)",
							Related:  []analysis.RelatedInformation{{Pos: call.Pos(), Message: fnName(callee) + " holds " + heldName + " while it runs this callback"}},
						})
					}
				}
			}
		}
	}
}

// harness reports whether a finding at p belongs to test code waiting on
// itself: in a _test.go file, everything but untimed network I/O (a
// test that holds a lock across its own servers' shutdown, a sleep or a
// poll is a harness, and the worst it does is hang that test).
func harness(pass *analysis.Pass, p token.Pos, chain []string) bool {
	if !strings.HasSuffix(pass.Fset.Position(p).Filename, "_test.go") {
		return false
	}
	return len(chain) == 0 || !netcall.IsCallName(chain[len(chain)-1])
}

func fixFor(kind string) string {
	switch kind {
	case "semaphore permit", "channel semaphore":
		return "release the permit before the call, or give the call a deadline (a ctx from context.WithTimeout, http.Client.Timeout); take permits with sem.Semaphore.Acquire(ctx, n) so the wait is bounded too"
	}
	return "release the lock before the call, or give the call a deadline (a ctx from context.WithTimeout, http.Client.Timeout); if the lock guards a slow resource, use guard.Access or gate, which wait with a ctx"
}
