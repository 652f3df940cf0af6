// Package ssapass builds a package's SSA form for sluice's analyzers. It is
// x/tools' buildssa with one difference: for a standard-library package it
// builds no function bodies. The go command asks for facts of every
// dependency, the standard library included, and sluice describes the
// standard library by its intrinsic operations (http.Post, time.Sleep, ...)
// rather than by its bodies, so building them is pure cost: the most of a
// cold run's time and memory.
package ssapass

import (
	"go/ast"
	"go/build"
	"go/types"
	"path/filepath"
	"reflect"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
	"golang.org/x/tools/go/analysis/passes/ctrlflow"
	"golang.org/x/tools/go/ssa"
)

// Analyzer returns a *buildssa.SSA, as buildssa does. For a standard-library
// package its Pkg has members but no bodies and SrcFuncs is empty.
var Analyzer = &analysis.Analyzer{
	Name:       "sluicessa",
	Doc:        "build SSA for sluice's analyzers, skipping standard-library bodies",
	URL:        "https://github.com/sluice-go/sluice/tree/main/vet/internal/ssapass",
	Run:        run,
	Requires:   []*analysis.Analyzer{ctrlflow.Analyzer},
	ResultType: reflect.TypeFor[*buildssa.SSA](),
}

func run(pass *analysis.Pass) (any, error) {
	prog := ssa.NewProgram(pass.Fset, 0)
	// Calls to functions that never return (log.Fatal, t.Fatal...) end
	// their block, as the compiler sees them.
	prog.SetNoReturn(pass.ResultOf[ctrlflow.Analyzer].(*ctrlflow.CFGs).NoReturn)
	for _, imp := range pass.Pkg.Imports() {
		prog.CreatePackage(imp, nil, nil, true)
	}
	if IsStd(pass) {
		return &buildssa.SSA{Pkg: prog.CreatePackage(pass.Pkg, nil, nil, true)}, nil
	}
	pkg := prog.CreatePackage(pass.Pkg, pass.Files, pass.TypesInfo, false)
	pkg.Build()

	// Source functions in source order, each followed by its literals.
	var funcs []*ssa.Function
	var add func(f *ssa.Function)
	add = func(f *ssa.Function) {
		funcs = append(funcs, f)
		for _, lit := range f.AnonFuncs {
			add(lit)
		}
	}
	for _, file := range pass.Files {
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			obj, ok := pass.TypesInfo.Defs[fd.Name].(*types.Func)
			if !ok {
				continue
			}
			if f := prog.FuncValue(obj); f != nil {
				add(f)
			}
		}
	}
	return &buildssa.SSA{Pkg: pkg, SrcFuncs: funcs}, nil
}

// IsStd reports whether pass analyses a standard-library package: a path
// whose first element has no dot, with its files under GOROOT (testdata
// packages have dotless paths too, but live elsewhere).
func IsStd(pass *analysis.Pass) bool {
	first, _, _ := strings.Cut(pass.Pkg.Path(), "/")
	if strings.Contains(first, ".") {
		return false
	}
	if len(pass.Files) == 0 {
		return true
	}
	root := filepath.Clean(build.Default.GOROOT) + string(filepath.Separator)
	for _, f := range pass.Files {
		if tf := pass.Fset.File(f.Package); tf != nil && strings.HasPrefix(filepath.Clean(tf.Name()), root) {
			return true
		}
	}
	return false
}

// InLoop reports whether b lies on a cycle of its function's control-flow
// graph.
func InLoop(b *ssa.BasicBlock) bool {
	seen := map[*ssa.BasicBlock]bool{}
	stack := append([]*ssa.BasicBlock(nil), b.Succs...)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x == b {
			return true
		}
		if seen[x] {
			continue
		}
		seen[x] = true
		stack = append(stack, x.Succs...)
	}
	return false
}

// StaticFunc is the function a function value v denotes (a function, a
// closure over one, or a conversion of either), or nil when it is dynamic.
func StaticFunc(v ssa.Value) *ssa.Function {
	switch v := v.(type) {
	case *ssa.Function:
		return v
	case *ssa.MakeClosure:
		fn, _ := v.Fn.(*ssa.Function)
		return fn
	case *ssa.ChangeType:
		return StaticFunc(v.X)
	}
	return nil
}
