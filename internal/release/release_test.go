package release_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	rootPath = "github.com/scalekit-go/scalekit"
	version  = "v0.1.0"
)

// run runs name args in dir with env added, and returns its output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

var gitEnv = []string{"GIT_AUTHOR_NAME=release-test", "GIT_AUTHOR_EMAIL=release@test",
	"GIT_COMMITTER_NAME=release-test", "GIT_COMMITTER_EMAIL=release@test",
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}

// copyTree copies the files git knows in the repository (tracked, and
// untracked but not ignored) into a fresh repository at dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	files := run(t, src, nil, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			if os.IsNotExist(err) { // deleted in the working tree
				continue
			}
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	run(t, dst, gitEnv, "git", "init", "-q")
	run(t, dst, gitEnv, "git", "add", "-A")
	run(t, dst, gitEnv, "git", "commit", "-q", "-m", "tree under test")
}

// publish writes module path@version, whose files are dir (minus nested
// modules), into the file proxy at proxy, in the GOPROXY protocol layout.
func publish(t *testing.T, proxy, path, dir string) {
	t.Helper()
	at := filepath.Join(proxy, escapePath(path), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var err error
	prefix := path + "@" + version + "/"
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." && d.Name() == ".git" {
				return filepath.SkipDir
			}
			if rel != "." {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // a nested module is not part of this one
				}
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(prefix + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, data := range map[string][]byte{
		version + ".zip": buf.Bytes(), version + ".mod": mod, version + ".info": info, "list": []byte(version + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReleaseInstallable runs scripts/release.sh on a copy of the tree,
// publishes every tagged module into a file GOPROXY, and checks that a
// fresh module can go get the root and a nested module and build a program
// importing both. Third-party modules come from the local module cache
// (a second file:// proxy), so the test runs offline.
func TestReleaseInstallable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module from a file proxy (-short)")
	}
	for _, tool := range []string{"git", "bash", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: %v", tool, err)
		}
	}
	src := strings.TrimSpace(run(t, ".", nil, "git", "rev-parse", "--show-toplevel"))
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	copyTree(t, src, repo)
	out := run(t, repo, gitEnv, "bash", "scripts/release.sh", version)
	t.Log(out)

	// The tags, and the nested modules' require of the root at them.
	tags := strings.Fields(run(t, repo, nil, "git", "tag", "--points-at", "HEAD"))
	want := map[string]bool{version: true, "lock/etcdlock/" + version: true, "lb/etcdlb/" + version: true, "bench/" + version: true}
	for _, tag := range tags {
		delete(want, tag)
	}
	if len(want) != 0 {
		t.Fatalf("tags at HEAD %v; missing %v", tags, want)
	}
	gomod, err := os.ReadFile(filepath.Join(repo, "lock/etcdlock/go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(gomod), rootPath+" "+version) {
		t.Fatalf("lock/etcdlock/go.mod does not require %s %s:\n%s", rootPath, version, gomod)
	}
	if out := run(t, repo, nil, "git", "status", "--porcelain"); out != "" {
		t.Fatalf("release left the tree dirty:\n%s", out)
	}

	// Publish the tagged commit's modules.
	proxy := filepath.Join(tmp, "proxy")
	publish(t, proxy, rootPath, repo)
	for _, dir := range []string{"lock/etcdlock", "lb/etcdlb", "bench"} {
		publish(t, proxy, rootPath+"/"+dir, filepath.Join(repo, dir))
	}

	// A fresh module, outside the tree.
	app := filepath.Join(tmp, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.24.0\n",
		"main.go": `package main

import (
	"fmt"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock/etcdlock"
)

func main() {
	fmt.Println(clock.Real() != nil, etcdlock.DefaultPrefix != "")
}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(app, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gomodcache := strings.TrimSpace(run(t, ".", nil, "go", "env", "GOMODCACHE"))
	srv := httptest.NewServer(&localProxy{t: t, dirs: []string{proxy, filepath.Join(gomodcache, "cache", "download")}})
	defer srv.Close()
	env := []string{
		"GOPROXY=" + srv.URL,
		"GOMODCACHE=" + filepath.Join(tmp, "modcache"),
		"GOFLAGS=-mod=mod -modcacherw -buildvcs=false",
		"GOSUMDB=off", "GONOSUMDB=github.com/scalekit-go/*", "GOPRIVATE=", "GONOPROXY=",
		"GOWORK=off", "GOTOOLCHAIN=local",
	}
	run(t, app, env, "go", "get", rootPath+"@"+version, rootPath+"/lock/etcdlock@"+version)
	got := run(t, app, env, "go", "list", "-m", rootPath, rootPath+"/lock/etcdlock")
	if strings.Count(got, " "+version) != 2 {
		t.Fatalf("resolved versions:\n%s", got)
	}
	// -trimpath keeps the temporary module cache's path out of the build
	// cache keys, so third-party packages compiled once stay cached.
	run(t, app, env, "go", "build", "-trimpath", "-o", filepath.Join(tmp, "app.bin"), ".")
	if out := run(t, app, nil, filepath.Join(tmp, "app.bin")); strings.TrimSpace(out) != "true true" {
		t.Fatalf("program printed %q", out)
	}
}

// escapePath is the GOPROXY protocol's case encoding of a module path:
// each upper-case letter becomes '!' and its lower-case form.
func escapePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return filepath.FromSlash(b.String())
}

// localProxy is a GOPROXY on the loopback interface over directories in
// the proxy layout: the file proxy of the released modules first, then the
// local module cache's download directory (third-party modules), so the
// test never reaches another host.
//
// go get loads the whole module graph, including the go.mod files of
// dependencies of modules that predate graph pruning (go < 1.17), which
// the build never uses and a module cache filled by builds lacks. For such
// a .mod file found in no directory it serves a stub ("module <path>"),
// and logs it; the stubbed modules' code is never needed, and anything
// else missing (.info, .zip) is a 404, which fails the test.
type localProxy struct {
	t     *testing.T
	dirs  []string
	mu    sync.Mutex
	stubs []string
}

func (p *localProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel := filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))
	if strings.Contains(rel, "..") {
		http.NotFound(w, r)
		return
	}
	for _, d := range p.dirs {
		if data, err := os.ReadFile(filepath.Join(d, rel)); err == nil {
			_, _ = w.Write(data)
			return
		}
	}
	if i := strings.Index(r.URL.Path, "/@v/"); i > 0 && strings.HasSuffix(r.URL.Path, ".mod") {
		path := unescapePath(strings.TrimPrefix(r.URL.Path[:i], "/"))
		p.mu.Lock()
		p.stubs = append(p.stubs, strings.TrimPrefix(r.URL.Path, "/"))
		p.t.Logf("stub go.mod for %s (not in the local module cache)", r.URL.Path)
		p.mu.Unlock()
		_, _ = io.WriteString(w, "module "+path+"\n")
		return
	}
	http.NotFound(w, r)
}

// unescapePath undoes escapePath.
func unescapePath(esc string) string {
	var b strings.Builder
	up := false
	for _, r := range esc {
		switch {
		case r == '!':
			up = true
			continue
		case up:
			r -= 'a' - 'A'
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
