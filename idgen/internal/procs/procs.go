package procs

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
)

const (
	role     = "idgen-procs"
	envOut   = "SCALEKIT_IDGEN_OUT"
	envCount = "SCALEKIT_IDGEN_COUNT"
)

// IsChild reports whether this process is a child started by Run.
func IsChild() bool { return testenv.ChildRole() == role }

// Run starts procs children running the test function named test, each
// asked for each IDs, with env passed through ("KEY=value"), waits for all
// of them and returns every ID they wrote, in no particular order.
func Run(t *testing.T, test string, procs, each int, env ...string) []int64 {
	t.Helper()
	dir := t.TempDir()
	errs := make(chan error, procs)
	for i := range procs {
		out := filepath.Join(dir, fmt.Sprintf("ids-%d", i))
		cmd := testenv.Child(t, test, role, append(env, envOut+"="+out, envCount+"="+strconv.Itoa(each))...)
		var stderr limitedBuffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		testenv.StartChild(t, cmd)
		go func() {
			if err := cmd.Wait(); err != nil {
				errs <- fmt.Errorf("child %d: %v\n%s", i, err, stderr.b)
				return
			}
			errs <- nil
		}()
	}
	for range procs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	all := make([]int64, 0, procs*each)
	for i := range procs {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("ids-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 8*each {
			t.Fatalf("child %d wrote %d IDs, want %d", i, len(b)/8, each)
		}
		for j := 0; j < len(b); j += 8 {
			all = append(all, int64(binary.LittleEndian.Uint64(b[j:])))
		}
	}
	return all
}

// Child plays a child's part: it calls next as many times as the parent
// asked and writes the IDs to the parent's file. It checks that the IDs of
// this process increase.
func Child(t *testing.T, next func(context.Context) (int64, error)) {
	t.Helper()
	n, err := strconv.Atoi(os.Getenv(envCount))
	if err != nil {
		t.Fatalf("procs: bad %s: %v", envCount, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	buf := make([]byte, 0, 8*n)
	prev := int64(-1)
	for i := range n {
		id, err := next(ctx)
		if err != nil {
			t.Fatalf("id %d: %v", i, err)
		}
		if id <= prev {
			t.Fatalf("id %d = %d after %d: not increasing", i, id, prev)
		}
		prev = id
		buf = binary.LittleEndian.AppendUint64(buf, uint64(id))
	}
	if err := os.WriteFile(os.Getenv(envOut), buf, 0o600); err != nil {
		t.Fatal(err)
	}
}

// limitedBuffer keeps the first 64 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
