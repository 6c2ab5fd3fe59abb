package doccheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot returns the directory of the root go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if mp, err := modulePath(filepath.Join(dir, "go.mod")); err == nil && mp == "github.com/scalekit-go/scalekit" {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("root go.mod of github.com/scalekit-go/scalekit not found")
		}
		dir = parent
	}
}

// markdownFiles returns every Markdown file of the repository (README.md,
// */README.md, docs/**, ARCHITECTURE.md, …), relative to root.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".md") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSnippetsCompile type-checks every ```go block of every Markdown file
// in the repository against the current API.
func TestSnippetsCompile(t *testing.T) {
	root := repoRoot(t)
	var all []Block
	goBlocks := 0
	for _, rel := range markdownFiles(t, root) {
		text, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		blocks, errs := Extract(rel, string(text))
		for _, err := range errs {
			t.Error(err)
		}
		for _, b := range blocks {
			if b.IsGo() {
				goBlocks++
			}
		}
		all = append(all, blocks...)
	}
	if goBlocks < 8 {
		t.Errorf("found %d go blocks; the READMEs hold more, is the extraction broken?", goBlocks)
	}
	for _, err := range Check(root, all) {
		t.Error(err)
	}
	t.Logf("%d go blocks checked", goBlocks)
}
