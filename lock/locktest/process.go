package locktest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
)

// Roles of the child processes the suite starts, and the environment
// variables that carry their parameters.
const (
	roleMutex  = "locktest-mutex"
	rolePaused = "locktest-paused"
	envKey     = "SCALEKIT_LOCKTEST_KEY"
	envRounds  = "SCALEKIT_LOCKTEST_ROUNDS"
	envWorkers = "SCALEKIT_LOCKTEST_WORKERS"
	envTTL     = "SCALEKIT_LOCKTEST_TTL"
)

// Contend runs workers goroutines that each take k rounds times through
// lk.Acquire, hold it briefly and release it, recording every critical
// section in hs under the holder name prefix-<worker>. It also fails t if
// two of its own goroutines are ever inside at once. Tests use it, and
// the multi-process helper runs it in each child.
func Contend(t testing.TB, lk *lock.Locker, k, prefix string, workers, rounds int, hs *History) {
	t.Helper()
	for _, err := range contend(lk, k, prefix, workers, rounds, hs) {
		t.Error(err)
	}
}

// contend is Contend returning its errors.
func contend(lk *lock.Locker, k, prefix string, workers, rounds int, hs *History) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var inside atomic.Int32
	var wg sync.WaitGroup
	errc := make(chan error, workers*(rounds+1))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			name := fmt.Sprintf("%s-%d", prefix, w)
			for r := 0; r < rounds; r++ {
				l, err := lk.Acquire(ctx, k, nil)
				if err != nil {
					errc <- fmt.Errorf("%s round %d: Acquire: %w", name, r, err)
					return
				}
				start := time.Now().UnixNano()
				if n := inside.Add(1); n != 1 {
					errc <- fmt.Errorf("%s: %d goroutines of this process inside the critical section", name, n)
				}
				for i := 0; i < 3; i++ {
					runtime.Gosched()
				}
				inside.Add(-1)
				end := time.Now().UnixNano()
				hs.Add(Hold{Holder: name, Token: l.Token(), Start: start, End: end})
				if err := l.Release(ctx); err != nil {
					errc <- fmt.Errorf("%s round %d: Release: %w", name, r, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errs
}

func (s *suite) testMutexGoroutines(t *testing.T) {
	lk := s.locker(t)
	var hs History
	Contend(t, lk, key(t), "g", 6, 15, &hs)
	if n := len(hs.Holds()); n != 90 {
		t.Errorf("recorded %d critical sections, want 90", n)
	}
	if err := hs.Check(); err != nil {
		t.Fatal(err)
	}
}

// testMutexProcesses starts two child processes that contend for one key
// together with goroutines of this process, and checks the merged history.
func (s *suite) testMutexProcesses(t *testing.T) {
	if s.ChildEnv == nil {
		t.Skip("in-process backend (Harness.ChildEnv unset): nothing to share across processes")
	}
	k := key(t)
	const procs, workers, rounds = 2, 3, 10
	env := append(s.ChildEnv(t), envKey+"="+k, envWorkers+"="+strconv.Itoa(workers), envRounds+"="+strconv.Itoa(rounds))
	outs := make([]*bytes.Buffer, procs)
	var waits []func() error
	for i := range outs {
		cmd := testenv.Child(t, s.top, roleMutex, env...)
		outs[i] = new(bytes.Buffer)
		cmd.Stdout = outs[i]
		cmd.Stderr = outs[i]
		testenv.StartChild(t, cmd)
		waits = append(waits, cmd.Wait)
	}
	var hs History
	Contend(t, s.locker(t), k, "parent", workers, rounds, &hs)
	for i, wait := range waits {
		if err := wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		holds, err := ReadHolds(outs[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(holds) != workers*rounds {
			t.Fatalf("child %d reported %d critical sections, want %d; output:\n%s", i, len(holds), workers*rounds, outs[i])
		}
		for _, h := range holds {
			hs.Add(h)
		}
	}
	if err := hs.Check(); err != nil {
		t.Fatal(err)
	}
}

// childMutex is the child side of testMutexProcesses.
func (s *suite) childMutex(t *testing.T) {
	var hs History
	Contend(t, s.locker(t), os.Getenv(envKey), "pid"+strconv.Itoa(os.Getpid()), envInt(envWorkers, 3), envInt(envRounds, 10), &hs)
	if err := WriteHolds(os.Stdout, hs.Holds()); err != nil {
		t.Fatal(err)
	}
}

// testPausedHolder is the fault test of a holder process stopped (SIGSTOP)
// past its TTL: meanwhile another holder acquires the lock and writes to
// the fenced resource; the stopped process resumes and writes with its old
// token, and the resource must reject that write.
func (s *suite) testPausedHolder(t *testing.T) {
	if s.ChildEnv == nil || s.Resource == nil {
		t.Skip("needs Harness.ChildEnv and Harness.Resource")
	}
	ctx := context.Background()
	k := key(t)
	res := s.Resource(t, k+"/resource")
	env := append(s.ChildEnv(t), envKey+"="+k, envTTL+"="+s.TTL.String())
	cmd := testenv.Child(t, s.top, rolePaused, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer // read while the child may still write to it
	cmd.Stderr = &stderr
	testenv.StartChild(t, cmd)
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return rest
			}
		}
		t.Fatalf("child ended without printing %q: %v\nstderr:\n%s", prefix, lines.Err(), stderr.String())
		return ""
	}
	oldToken, _ := strconv.ParseInt(expect("token "), 10, 64)
	expect("wrote")

	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP child: %v", err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	lk := s.locker(t)
	var l *lock.Lease
	s.eventually(t, 3*s.TTL, "the lock is free while its holder is stopped", func() bool {
		l, err = lk.TryAcquire(ctx, k, nil)
		return err == nil
	})
	if l.Token() <= oldToken {
		t.Fatalf("new holder's token %d, want > the stopped holder's %d", l.Token(), oldToken)
	}
	if err := res.Write(ctx, l.Token(), "new-holder"); err != nil {
		t.Fatalf("the new holder's fenced write: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT child: %v", err)
	}
	stopped = false
	if _, err := io.WriteString(stdin, "write\n"); err != nil {
		t.Fatalf("tell the child to write: %v", err)
	}
	verdict := expect("result ")
	if !strings.HasPrefix(verdict, "fenced") {
		t.Fatalf("the resumed holder's write with its old token %d was not rejected by the fence: %s", oldToken, verdict)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\nstderr:\n%s", err, stderr.String())
	}
	if v, err := res.Read(ctx); err != nil || v != "new-holder" {
		t.Fatalf("resource holds %q (err %v), want the new holder's write", v, err)
	}
	_ = l.Release(ctx)
}

// childPaused is the child side of testPausedHolder: it acquires the lock,
// writes, reports its token, and after the parent resumes it, writes again
// with the same token and reports whether the fence rejected that write.
func (s *suite) childPaused(t *testing.T) {
	ctx := context.Background()
	ttl, err := time.ParseDuration(os.Getenv(envTTL))
	if err != nil {
		t.Fatal(err)
	}
	k := os.Getenv(envKey)
	res := s.Resource(t, k+"/resource")
	l, err := s.locker(t).Acquire(ctx, k, &lock.AcquireOptions{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("token %d\n", l.Token())
	if err := res.Write(ctx, l.Token(), "old-holder"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("wrote")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		t.Fatalf("no go-ahead from the parent: %v", in.Err())
	}
	// A careless holder writes without looking at Done; the fence is what
	// protects the resource.
	err = res.Write(ctx, l.Token(), "old-holder-after-pause")
	switch {
	case errors.Is(err, lock.ErrFenced):
		fmt.Printf("result fenced (lease: %v)\n", l.Err())
	case err != nil:
		fmt.Printf("result error %v\n", err)
	default:
		fmt.Println("result accepted")
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
