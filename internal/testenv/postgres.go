package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

var (
	pgOnce   sync.Once
	pgShared *Server
	pgErr    error
)

var pgGlobs = []string{"/usr/lib/postgresql/*/bin/postgres"}

// PostgresURL returns the URL of a fresh, empty database on the shared
// PostgreSQL server of this test binary (on SCALEKIT_POSTGRES_URL's server
// when set), starting the server on first use. The database is dropped when
// t ends, so tests never see each other's tables.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		bins := postgresBinaries(t)
		pgOnce.Do(func() {
			pgShared, pgErr = startPostgres(bins)
			if pgErr == nil {
				registerShared(pgShared)
			}
		})
		if pgErr != nil {
			t.Fatalf("testenv: %v", pgErr)
		}
		base = pgShared.URL
	}
	return freshDatabase(t, base)
}

// NewPostgres starts a PostgreSQL server for t alone, stopped when t ends.
// Its URL names the "postgres" database; use it for tests that restart or
// kill the engine.
func NewPostgres(t testing.TB) *Server {
	t.Helper()
	bins := postgresBinaries(t)
	s, err := startPostgres(bins)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = s.stop(); _ = os.RemoveAll(s.dir) })
	return s
}

func freshDatabase(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testenv: connect %s: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("sk_%d_%d", os.Getpid(), nextSeq())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", redact(base), err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable url>"
	}
	return u.Redacted()
}

type pgBins struct{ initdb, postgres string }

func postgresBinaries(t testing.TB) pgBins {
	t.Helper()
	pg := lookBinary("postgres", pgGlobs...)
	if pg == "" {
		missing(t, "postgres", "postgresql")
	}
	initdb := filepath.Join(filepath.Dir(pg), "initdb")
	if _, err := os.Stat(initdb); err != nil {
		if p, err := exec.LookPath("initdb"); err == nil {
			initdb = p
		} else {
			missing(t, "initdb", "postgresql")
		}
	}
	return pgBins{initdb: initdb, postgres: pg}
}

// pgCredential returns the postgres user's credentials when running as root
// (PostgreSQL refuses to run as root), or nil.
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user (apt-get install -y postgresql creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func startPostgres(bins pgBins) (*Server, error) {
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	s, err := newServer("postgres")
	if err != nil {
		return nil, err
	}
	s.cred = cred
	data := filepath.Join(s.dir, "data")
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(bins.initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"--no-sync", "-E", "UTF8", "--locale=C")
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	s.argv = func(port int) []string { return postgresArgv(bins.postgres, data, s.dir, port) }
	s.ready = func(ctx context.Context, s *Server) error {
		c, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	}
	// URL is needed by ready; the port is known only inside start, so build
	// it lazily there through the Addr field.
	ready := s.ready
	s.ready = func(ctx context.Context, s *Server) error {
		s.URL = "postgres://postgres@" + s.Addr + "/postgres?sslmode=disable"
		return ready(ctx, s)
	}
	if err := s.start(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

// postgresArgv is the command line of a throwaway server in data,
// listening on 127.0.0.1:port and a socket in dir, tuned for tests
// (no fsync) and for the suites' needs (connections, prepared
// transactions), plus extra.
func postgresArgv(postgres, data, dir string, port int, extra ...string) []string {
	return append([]string{postgres, "-D", data,
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning", "-c", "max_prepared_transactions=64",
	}, extra...)
}
