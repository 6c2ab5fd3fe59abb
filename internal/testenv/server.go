package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one engine process started by this package. Its methods let fault
// tests stop, restart, kill and pause the engine; the port and data directory
// stay the same across restarts so that clients reconnect to it. A Server is
// safe for concurrent use.
type Server struct {
	// Kind is "redis", "postgres" or "etcd".
	Kind string
	// Addr is the client address, host:port on loopback.
	Addr string
	// URL is the address in the form clients take: redis://…, postgres://…,
	// or http://… for etcd.
	URL string

	dir     string                  // data directory root, removed at cleanup
	argv    func(port int) []string // command line for a given client port
	cred    *syscall.Credential     // run as this user (postgres as root)
	ready   func(ctx context.Context, s *Server) error
	port    int
	logPath string

	mu     sync.Mutex
	proc   *os.Process   // nil when not running
	exited chan struct{} // closed when proc has been reaped
}

// Pid returns the engine's process id, or 0 when it is not running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid
}

// Stop shuts the engine down gracefully (SIGTERM, then SIGKILL after 10s).
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("testenv: stop %s: %v", s.Kind, err)
	}
}

// Kill ends the engine at once with SIGKILL, as a crash would.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	proc, exited := s.take()
	if proc == nil {
		return
	}
	// Freeze the leader so it forks no more workers, then kill it and
	// every descendant: PostgreSQL backends call setsid(), so they are not
	// in the leader's process group, and they keep answering clients on
	// open connections after the postmaster is gone.
	_ = syscall.Kill(-proc.Pid, syscall.SIGSTOP)
	pids := append(descendants(proc.Pid), proc.Pid)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
	<-exited
	waitGone(pids)
}

// take detaches the running process from s.
func (s *Server) take() (*os.Process, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.proc, s.exited
	s.proc, s.exited = nil, nil
	return p, e
}

// Start starts the engine again after Stop or Kill, on the same port and
// data directory, and waits until it accepts clients.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testenv: restart %s: %v", s.Kind, err)
	}
}

// Restart is Stop followed by Start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

// Pause freezes the engine's processes with SIGSTOP; Resume thaws them.
// Clients see timeouts, not errors, while it is paused.
func (s *Server) Pause(t testing.TB) { t.Helper(); s.signal(t, syscall.SIGSTOP) }

// Resume continues a paused engine with SIGCONT.
func (s *Server) Resume(t testing.TB) { t.Helper(); s.signal(t, syscall.SIGCONT) }

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	pid := s.Pid()
	if pid == 0 {
		t.Fatalf("testenv: %s is not running", s.Kind)
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		t.Fatalf("testenv: signal %v to %s: %v", sig, s.Kind, err)
	}
	for _, p := range descendants(pid) { // workers outside the group
		_ = syscall.Kill(p, sig)
	}
}

func (s *Server) stop() error {
	proc, exited := s.take()
	if proc == nil {
		return nil
	}
	pgid := proc.Pid
	_ = syscall.Kill(-pgid, syscall.SIGCONT) // a paused server cannot exit
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Postgres backends may outlive the postmaster for a moment; make sure
	// nothing of the group is left.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// start launches the process. The first start picks a free port and retries
// with another one if the engine cannot bind it (another test binary may
// have taken it in between).
func (s *Server) start() error {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		fixed := s.port != 0
		if !fixed {
			p, err := freePort()
			if err != nil {
				return err
			}
			s.port = p
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		err := s.launch()
		if err == nil {
			return nil
		}
		lastErr = err
		if fixed {
			if attempt >= 1 {
				return err
			}
			time.Sleep(200 * time.Millisecond) // previous instance may still hold the port
			continue
		}
		s.port = 0
	}
	return lastErr
}

func (s *Server) launch() error {
	args := s.argv(s.port)
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	if s.cred != nil {
		_ = os.Chown(s.logPath, int(s.cred.Uid), int(s.cred.Gid))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	// Pdeathsig fires when the forking thread exits; pin the goroutine so the
	// fork happens on a thread that lives as long as the process.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("start %s: %w", args[0], err)
	}
	exited := make(chan struct{})
	go func() {
		_, _ = cmd.Process.Wait()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		err = s.ready(rctx, s)
		rcancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited during start-up: %v\n%s", s.Kind, err, tailFile(s.logPath))
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return fmt.Errorf("%s not ready after 60s: %v\n%s", s.Kind, err, tailFile(s.logPath))
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.mu.Lock()
	s.proc, s.exited = cmd.Process, exited
	s.mu.Unlock()
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "--- server log ---\n" + string(b)
}

func newServer(kind string) (*Server, error) {
	dir, err := os.MkdirTemp("", "scalekit-"+kind+"-")
	if err != nil {
		return nil, err
	}
	return &Server{Kind: kind, dir: dir, logPath: filepath.Join(dir, kind+".log")}, nil
}
