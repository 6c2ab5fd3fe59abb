package doccheck

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// knownImports maps the package names that snippets use to import paths,
// for packages outside scalekit. scalekit's own packages are found by
// scanning the tree (see scanModules).
var knownImports = map[string]string{
	// standard library
	"bufio":    "bufio",
	"bytes":    "bytes",
	"context":  "context",
	"errors":   "errors",
	"fmt":      "fmt",
	"http":     "net/http",
	"httptest": "net/http/httptest",
	"io":       "io",
	"json":     "encoding/json",
	"log":      "log",
	"math":     "math",
	"net":      "net",
	"netip":    "net/netip",
	"os":       "os",
	"rand":     "math/rand/v2",
	"signal":   "os/signal",
	"slog":     "log/slog",
	"sql":      "database/sql",
	"strconv":  "strconv",
	"strings":  "strings",
	"sync":     "sync",
	"syscall":  "syscall",
	"testing":  "testing",
	"time":     "time",
	"url":      "net/url",
	// third-party packages the snippets use
	"redis":     "github.com/redis/go-redis/v9",
	"pgx":       "github.com/jackc/pgx/v5",
	"pgxpool":   "github.com/jackc/pgx/v5/pgxpool",
	"pgconn":    "github.com/jackc/pgx/v5/pgconn",
	"gobreaker": "github.com/sony/gobreaker/v2",
	"clientv3":  "go.etcd.io/etcd/client/v3",
	"otel":      "go.opentelemetry.io/otel",
	"attribute": "go.opentelemetry.io/otel/attribute",
	"otelhttp":  "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
}

// module is one Go module of the repository.
type module struct {
	path, dir string
}

// tree describes the repository: its modules and the public packages each
// name resolves to.
type tree struct {
	root     string
	modules  []module          // longest directory first
	packages map[string]string // package name -> import path (unique names only)
	inModule map[string]string // import path prefix -> module dir, for scalekit packages
}

// scanTree finds the modules under root and the public scalekit packages
// (not internal, not main, not under testdata or hidden directories). A
// package name used by more than one package (driver) is left out, so a
// snippet must import it explicitly.
func scanTree(root string) (*tree, error) {
	t := &tree{root: root, packages: map[string]string{}, inModule: map[string]string{}}
	pkgs := map[string]string{} // dir -> package name
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.Name() == "go.mod":
			mp, err := modulePath(path)
			if err != nil {
				return err
			}
			t.modules = append(t.modules, module{path: mp, dir: filepath.Dir(path)})
		case strings.HasSuffix(d.Name(), ".go") && !strings.HasSuffix(d.Name(), "_test.go"):
			if _, seen := pkgs[filepath.Dir(path)]; seen {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly)
			if err != nil {
				return nil // not our business here; go vet reports it
			}
			pkgs[filepath.Dir(path)] = f.Name.Name
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Longest directory first, so that the innermost module wins.
	for i := 1; i < len(t.modules); i++ {
		for j := i; j > 0 && len(t.modules[j].dir) > len(t.modules[j-1].dir); j-- {
			t.modules[j], t.modules[j-1] = t.modules[j-1], t.modules[j]
		}
	}
	count := map[string]int{}
	for dir, name := range pkgs {
		rel, _ := filepath.Rel(root, dir)
		rel = filepath.ToSlash(rel)
		if name == "main" || rel == "internal" || strings.HasPrefix(rel, "internal/") || strings.Contains(rel, "/internal/") {
			continue
		}
		m := t.moduleOf(dir)
		sub, _ := filepath.Rel(m.dir, dir)
		ip := m.path
		if sub != "." {
			ip += "/" + filepath.ToSlash(sub)
		}
		count[name]++
		t.packages[name] = ip
		t.inModule[ip] = m.dir
	}
	for name, n := range count {
		if n > 1 {
			delete(t.packages, name)
		}
	}
	return t, nil
}

// moduleOf returns the innermost module containing dir.
func (t *tree) moduleOf(dir string) module {
	for _, m := range t.modules {
		if dir == m.dir || strings.HasPrefix(dir, m.dir+string(filepath.Separator)) {
			return m
		}
	}
	return module{dir: t.root}
}

// importPath returns the import path a snippet means by the package name.
func (t *tree) importPath(name string) (string, bool) {
	if p, ok := t.packages[name]; ok {
		return p, true
	}
	p, ok := knownImports[name]
	return p, ok
}

func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", sc.Err()
}
