package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Environment variables read by this package.
const (
	EnvRequire       = "SCALEKIT_REQUIRE_BACKENDS"
	EnvRedisURL      = "SCALEKIT_REDIS_URL"
	EnvPostgresURL   = "SCALEKIT_POSTGRES_URL"
	EnvEtcdEndpoints = "SCALEKIT_ETCD_ENDPOINTS"
)

// Required reports whether missing engines must fail tests instead of
// skipping them (SCALEKIT_REQUIRE_BACKENDS=1).
func Required() bool { return os.Getenv(EnvRequire) == "1" }

var (
	sharedMu sync.Mutex
	shared   []*Server
)

func registerShared(s *Server) {
	sharedMu.Lock()
	shared = append(shared, s)
	sharedMu.Unlock()
}

// Main runs the tests of m and then stops the shared servers this binary
// started. Use it as the body of TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Main also dispatches to child processes started with Child; it never
// returns.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// StopShared stops every shared server started by this process. Main calls
// it; it is exported for TestMain functions that need their own shape.
func StopShared() {
	sharedMu.Lock()
	list := shared
	shared = nil
	sharedMu.Unlock()
	for _, s := range list {
		_ = s.stop()
		_ = os.RemoveAll(s.dir)
	}
}

// missing skips or fails t because binary name is not installed.
func missing(t testing.TB, name, pkg string) {
	t.Helper()
	msg := fmt.Sprintf("testenv: %s not found in PATH; install it with: apt-get install -y %s (or set the matching SCALEKIT_*_URL)", name, pkg)
	if Required() {
		t.Fatal(msg + " [" + EnvRequire + "=1]")
	}
	t.Skip(msg)
}

// lookBinary finds a server binary in PATH or in extra directories matched
// by the glob patterns (highest match first).
func lookBinary(name string, globs ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, g := range globs {
		matches, _ := filepath.Glob(g)
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && !st.IsDir() {
				return m
			}
		}
	}
	return ""
}

// Prefix returns a key prefix unique to t (and to this process), for tests
// that share one Redis or etcd with others: "sk:<test name>:<random>:".
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", ".", " ", "_", ":", "_").Replace(t.Name())
	return fmt.Sprintf("sk:%s:%d%d:", name, os.Getpid(), nextSeq())
}

var seqMu sync.Mutex
var seq int

func nextSeq() int {
	seqMu.Lock()
	defer seqMu.Unlock()
	seq++
	return seq
}
