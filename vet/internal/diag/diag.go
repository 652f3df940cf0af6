// Package diag is the one way sluice's analyzers report a finding. Every
// finding names its rule, states the hazard in one line, gives the evidence
// and the fix, and is dropped when a //sluice:ignore directive covers it.
//
// A directive has the form
//
//	//sluice:ignore RULE[,RULE...] reason
//
// and covers a finding of one of its rules on the directive's own line, on
// the line just below it, or anywhere in the function whose declaration it
// stands above (in or directly after the doc comment). The reason, the
// text after the rules up to any trailing "//" comment, is required; the
// analyzer in package vet/ignore reports directives with an unknown rule
// or no reason.
package diag

import (
	"go/ast"
	"go/token"
	"slices"
	"strings"
	"sync"

	"golang.org/x/tools/go/analysis"
)

// Rules are the rule IDs users may name in a //sluice:ignore directive, one
// per analyzer. They are fixed: users write them in suppressions.
var Rules = []string{"lockheld", "guardedby", "checkact", "fanout", "notimeout", "loopblock"}

// KnownRule reports whether name is one of Rules.
func KnownRule(name string) bool { return slices.Contains(Rules, name) }

// Finding is one report of a hazard.
type Finding struct {
	Pos, End token.Pos // End may be token.NoPos
	// Hazard is what is wrong, in one line: "http.Post may block forever
	// while mu is held".
	Hazard string
	// Evidence is why the analyzer believes it: the call chain, where the
	// guarded accesses are, which loop. Optional.
	Evidence string
	// Fix names the sluice primitive or the standard-library change that
	// removes the hazard.
	Fix string
	// Related points at other places that make the case (the guarded
	// accesses, where the lock is taken, the loop).
	Related []analysis.RelatedInformation
}

// Message renders f as the single line every output format shows:
// "hazard (evidence); fix: fix".
func (f Finding) Message() string {
	var b strings.Builder
	b.WriteString(f.Hazard)
	if f.Evidence != "" {
		b.WriteString(" (")
		b.WriteString(f.Evidence)
		b.WriteString(")")
	}
	if f.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(f.Fix)
	}
	return b.String()
}

// Report reports f under the analyzer's name (its rule ID) unless a
// //sluice:ignore directive for that rule covers f.Pos.
func Report(pass *analysis.Pass, f Finding) {
	rule := pass.Analyzer.Name
	if Suppressed(pass, rule, f.Pos) {
		return
	}
	pass.Report(analysis.Diagnostic{
		Pos:      f.Pos,
		End:      f.End,
		Category: rule,
		Message:  f.Message(),
		Related:  f.Related,
	})
}

// Directive is one parsed //sluice:ignore comment.
type Directive struct {
	Pos    token.Pos
	Line   int
	Rules  []string
	Reason string
}

const prefix = "//sluice:ignore"

// Directives returns the //sluice:ignore directives of file, in source order.
// Results are cached per file, since every analyzer asks for them.
func Directives(fset *token.FileSet, file *ast.File) []Directive {
	if v, ok := cache.Load(file); ok {
		return v.([]Directive)
	}
	var ds []Directive
	for _, cg := range file.Comments {
		for _, c := range cg.List {
			if !strings.HasPrefix(c.Text, prefix) {
				continue
			}
			rest := c.Text[len(prefix):]
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				continue // "//sluice:ignorefoo" is some other directive
			}
			// A trailing "// ..." is a comment on the directive, not its reason.
			if i := strings.Index(rest, "//"); i >= 0 {
				rest = rest[:i]
			}
			fields := strings.Fields(rest)
			d := Directive{Pos: c.Pos(), Line: fset.Position(c.Pos()).Line}
			if len(fields) > 0 {
				d.Rules = strings.Split(fields[0], ",")
				d.Reason = strings.Join(fields[1:], " ")
			}
			ds = append(ds, d)
		}
	}
	cache.Store(file, ds)
	return ds
}

// cache maps *ast.File to its []Directive. Files are immutable once parsed,
// and each loaded file is one *ast.File, so the pointer is a sound key.
var cache sync.Map

// Suppressed reports whether a directive for rule covers pos.
func Suppressed(pass *analysis.Pass, rule string, pos token.Pos) bool {
	file := fileOf(pass, pos)
	if file == nil {
		return false
	}
	ds := Directives(pass.Fset, file)
	if len(ds) == 0 {
		return false
	}
	line := pass.Fset.Position(pos).Line
	covers := func(d Directive) bool { return slices.Contains(d.Rules, rule) && d.Reason != "" }
	for _, d := range ds {
		if covers(d) && (d.Line == line || d.Line == line-1) {
			return true
		}
	}
	// A directive above the enclosing function declaration covers the body.
	for _, decl := range file.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || pos < fd.Pos() || pos >= fd.End() {
			continue
		}
		declLine := pass.Fset.Position(fd.Type.Func).Line
		first := declLine - 1
		if fd.Doc != nil {
			first = pass.Fset.Position(fd.Doc.Pos()).Line - 1
		}
		for _, d := range ds {
			if covers(d) && d.Line >= first && d.Line < declLine {
				return true
			}
		}
	}
	return false
}

// Generated reports whether file is generated code, which analyzers skip.
// It is ast.IsGenerated, except for the files cmd/cgo writes for a package
// that imports "C" (name.cgo1.go): they are the package's own code,
// translated, and //line directives keep its positions, so they are checked.
func Generated(fset *token.FileSet, file *ast.File) bool {
	if !ast.IsGenerated(file) {
		return false
	}
	tf := fset.File(file.Pos())
	return tf == nil || !strings.HasSuffix(tf.Name(), ".cgo1.go")
}

func fileOf(pass *analysis.Pass, pos token.Pos) *ast.File {
	for _, f := range pass.Files {
		if f.FileStart <= pos && pos <= f.FileEnd {
			return f
		}
	}
	return nil
}
