package testenv

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// EnvChild names the role of a child process started with Child.
const EnvChild = "SCALEKIT_TESTENV_CHILD"

// Child returns a command that runs the test binary itself again, restricted
// to the test function named test, with SCALEKIT_TESTENV_CHILD=role and the
// extra environment variables env ("KEY=value"). The test function checks
// ChildRole() and plays the child's part. The child dies with the test
// binary (parent-death signal). Tests use it for multi-process scenarios:
// several processes sharing one engine, or a process paused with SIGSTOP.
// Start it with StartChild so that the parent-death signal is reliable.
func Child(t testing.TB, test, role string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("testenv: executable: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(append(os.Environ(), EnvChild+"="+role), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// StartChild starts cmd (from Child) on a locked OS thread so its
// parent-death signal is tied to a thread that outlives it, and kills it when
// t ends if it is still running.
func StartChild(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	runtime.LockOSThread()
	err := cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("testenv: start child: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// ChildRole returns the role this process was started with by Child, or ""
// in the parent test binary.
func ChildRole() string { return os.Getenv(EnvChild) }
