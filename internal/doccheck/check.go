package doccheck

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// snippet is a Go block turned into a file to type-check.
type snippet struct {
	block   Block
	src     string
	imports []string
	modDir  string
	err     error // a syntax error, reported instead of type-checking
}

// Check type-checks the Go blocks among blocks against the repository at
// root (the directory of the root go.mod) and returns one error per broken
// snippet, each starting with the Markdown file:line of the problem. Blocks
// that are not Go, and skipped blocks, are not checked.
func Check(root string, blocks []Block) []error {
	t, err := scanTree(root)
	if err != nil {
		return []error{err}
	}
	var snips []*snippet
	for _, b := range blocks {
		if !b.IsGo() || b.Skip != "" {
			continue
		}
		snips = append(snips, t.prepare(b))
	}
	// One `go list -export` per module for every import its snippets need.
	need := map[string]map[string]bool{}
	for _, s := range snips {
		if s.err != nil {
			continue
		}
		if need[s.modDir] == nil {
			need[s.modDir] = map[string]bool{}
		}
		for _, ip := range s.imports {
			need[s.modDir][ip] = true
		}
	}
	exports := map[string]map[string]string{}
	var errs []error
	for dir, set := range need {
		paths := make([]string, 0, len(set))
		for p := range set {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		ex, err := listExports(dir, paths)
		if err != nil {
			errs = append(errs, err)
		}
		exports[dir] = ex
	}
	importers := map[string]types.Importer{}
	fset := token.NewFileSet()
	for _, s := range snips {
		if s.err != nil {
			errs = append(errs, s.err)
			continue
		}
		imp := importers[s.modDir]
		if imp == nil {
			ex := exports[s.modDir]
			imp = importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
				f, ok := ex[path]
				if !ok {
					return nil, fmt.Errorf("no export data for %s (is it required by %s/go.mod?)", path, relTo(root, s.modDir))
				}
				return os.Open(f)
			})
			importers[s.modDir] = imp
		}
		errs = append(errs, typeCheck(fset, s, imp)...)
	}
	return errs
}

// prepare wraps a block into a Go file and resolves its imports.
func (t *tree) prepare(b Block) *snippet {
	s := &snippet{block: b, modDir: t.root}
	name := filepath.ToSlash(b.File)
	codeAt := fmt.Sprintf("//line %s:%d\n", name, b.Line)
	prelude := ""
	if strings.TrimSpace(b.Prelude) != "" {
		prelude = fmt.Sprintf("//line %s:%d\n%s\n", name, b.PreludeLine, b.Prelude)
	}
	fset := token.NewFileSet()
	if f, err := parser.ParseFile(fset, "snippet.go", b.Code, parser.PackageClauseOnly); err == nil && f.Name != nil {
		// A whole file: imports as written, no prelude.
		s.src = codeAt + b.Code
		full, err := parser.ParseFile(fset, "snippet.go", s.src, parser.ImportsOnly)
		if err != nil {
			s.err = fmt.Errorf("%s:%d: snippet does not compile:\n\t%v", b.File, b.Line, err)
			return s
		}
		for _, is := range full.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			s.imports = append(s.imports, p)
		}
		s.pickModule(t)
		return s
	}
	compose := func(imports string) (string, bool) {
		decl := "package main\n" + imports + codeAt + b.Code + "\n" + prelude
		if _, err := parser.ParseFile(token.NewFileSet(), "snippet.go", decl, parser.SkipObjectResolution); err == nil {
			return decl, true
		}
		return "package main\n" + imports + prelude + "func _() error {\n" + codeAt + b.Code + "\n\treturn nil\n}\n", false
	}
	src, _ := compose("")
	f, err := parser.ParseFile(fset, "snippet.go", src, 0)
	if err != nil {
		s.err = fmt.Errorf("%s:%d: snippet does not compile:\n\t%v", b.File, b.Line, err)
		return s
	}
	have := map[string]bool{}
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		s.imports = append(s.imports, p)
		n := p[strings.LastIndex(p, "/")+1:]
		if is.Name != nil {
			n = is.Name.Name
		}
		have[n] = true
	}
	var added []string
	for _, id := range f.Unresolved {
		if have[id.Name] {
			continue
		}
		if p, ok := t.importPath(id.Name); ok {
			have[id.Name] = true
			added = append(added, fmt.Sprintf("%s %q", id.Name, p))
			s.imports = append(s.imports, p)
		}
	}
	imports := ""
	if len(added) > 0 {
		sort.Strings(added)
		imports = "import (\n\t" + strings.Join(added, "\n\t") + "\n)\n"
	}
	s.src, _ = compose(imports)
	s.pickModule(t)
	return s
}

// pickModule checks a snippet in the nested module of any scalekit package
// it imports from one, otherwise in the root module.
func (s *snippet) pickModule(t *tree) {
	for _, ip := range s.imports {
		if dir, ok := t.inModule[ip]; ok && dir != t.root {
			s.modDir = dir
		}
	}
}

// listExports runs `go list -export -deps` in dir and returns the export
// data file of every package the given imports need.
func listExports(dir string, paths []string) (map[string]string, error) {
	args := append([]string{"list", "-e", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}\t{{with .Error}}{{.Err}}{{end}}"}, paths...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	ex := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) == 3 && f[1] != "" {
			ex[f[0]] = f[1]
		}
	}
	if err != nil && len(ex) == 0 {
		return ex, fmt.Errorf("go list -export in %s: %v\n%s", dir, err, stderr.String())
	}
	return ex, nil
}

// typeCheck type-checks one snippet, ignoring "declared and not used".
func typeCheck(fset *token.FileSet, s *snippet, imp types.Importer) []error {
	b := s.block
	f, err := parser.ParseFile(fset, "snippet.go", s.src, parser.SkipObjectResolution|parser.ParseComments)
	if err != nil {
		return []error{err}
	}
	var errs []error
	conf := types.Config{
		Importer: imp,
		Error: func(err error) {
			if te, ok := err.(types.Error); ok && strings.Contains(te.Msg, "declared and not used") {
				return
			}
			errs = append(errs, err)
		},
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	_, _ = conf.Check("snippet", fset, []*ast.File{f}, info)
	errs = append(errs, droppedErrors(fset, f, info)...)
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = "\t" + e.Error()
	}
	return []error{fmt.Errorf("%s:%d: snippet does not compile:\n%s", b.File, b.Line, strings.Join(msgs, "\n"))}
}

func relTo(root, dir string) string {
	r, err := filepath.Rel(root, dir)
	if err != nil {
		return dir
	}
	return r
}

// droppedErrors reports every error result a snippet assigns to the blank
// identifier without a comment on the same line saying why. Readers copy
// snippets; a dropped error there (an empty key from the environment, a
// failed connection) becomes a silent failure in their service.
func droppedErrors(fset *token.FileSet, f *ast.File, info *types.Info) []error {
	commented := map[int]bool{}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			commented[fset.Position(c.Pos()).Line] = true
		}
	}
	errType := types.Universe.Lookup("error").Type()
	var errs []error
	check := func(lhs []ast.Expr, rhs []ast.Expr) {
		var results []types.Type
		if len(rhs) == 1 && len(lhs) > 1 {
			if tup, ok := info.Types[rhs[0]].Type.(*types.Tuple); ok {
				for i := 0; i < tup.Len(); i++ {
					results = append(results, tup.At(i).Type())
				}
			}
		} else {
			for _, r := range rhs {
				results = append(results, info.Types[r].Type)
			}
		}
		for i, l := range lhs {
			id, ok := l.(*ast.Ident)
			if !ok || id.Name != "_" || i >= len(results) || results[i] == nil || !types.Identical(results[i], errType) {
				continue
			}
			if pos := fset.Position(id.Pos()); !commented[pos.Line] {
				errs = append(errs, fmt.Errorf("%s: error assigned to _ (handle it, or say why on the same line)", pos))
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			check(n.Lhs, n.Rhs)
		case *ast.ValueSpec:
			lhs := make([]ast.Expr, len(n.Names))
			for i, id := range n.Names {
				lhs[i] = id
			}
			check(lhs, n.Values)
		}
		return true
	})
	return errs
}
