package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	etcdOnce   sync.Once
	etcdShared *Server
	etcdErr    error
)

// EtcdEndpoints returns the client endpoints of the shared etcd server of
// this test binary (SCALEKIT_ETCD_ENDPOINTS, comma-separated, when set),
// starting it on first use. Tests sharing it keep their keys apart with
// Prefix(t).
func EtcdEndpoints(t testing.TB) []string {
	t.Helper()
	if e := os.Getenv(EnvEtcdEndpoints); e != "" {
		return strings.Split(e, ",")
	}
	bin := etcdBinary(t)
	etcdOnce.Do(func() {
		etcdShared, etcdErr = startEtcd(bin)
		if etcdErr == nil {
			registerShared(etcdShared)
		}
	})
	if etcdErr != nil {
		t.Fatalf("testenv: %v", etcdErr)
	}
	return []string{etcdShared.URL}
}

// NewEtcd starts an etcd server for t alone, stopped when t ends. Use it for
// tests that stop, kill or pause the engine.
func NewEtcd(t testing.TB) *Server {
	t.Helper()
	bin := etcdBinary(t)
	s, err := startEtcd(bin)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = s.stop(); _ = os.RemoveAll(s.dir) })
	return s
}

func etcdBinary(t testing.TB) string {
	t.Helper()
	bin := lookBinary("etcd")
	if bin == "" {
		missing(t, "etcd", "etcd-server")
	}
	return bin
}

func startEtcd(bin string) (*Server, error) {
	s, err := newServer("etcd")
	if err != nil {
		return nil, err
	}
	var peerPort, forPort int
	s.argv = func(port int) []string {
		if port != forPort { // new client port: the peer port may clash too
			peerPort, _ = freePort()
			forPort = port
		}
		client := fmt.Sprintf("http://127.0.0.1:%d", port)
		peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
		return []string{bin,
			"--name", "scalekit-test",
			"--data-dir", filepath.Join(s.dir, "data"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "scalekit-test=" + peer,
			"--initial-cluster-state", "new",
			"--log-level", "warn",
		}
	}
	s.ready = func(ctx context.Context, s *Server) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"health":"true"`) {
			return fmt.Errorf("etcd health: %s", b)
		}
		return nil
	}
	if err := s.start(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	s.URL = "http://" + s.Addr
	return s, nil
}
