package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// NewPostgresReplica starts, for t alone, a PostgreSQL primary and a hot
// standby streaming from it on loopback. The standby is cloned with
// `pg_basebackup -R` (which writes primary_conninfo and standby.signal);
// the primary runs with wal_level=replica and initdb's trust entry for
// replication connections from 127.0.0.1. Both are stopped when t ends.
// Tests pause replay on the standby with pg_wal_replay_pause() to create
// lag on demand.
func NewPostgresReplica(t testing.TB) (primary, standby *Server) {
	t.Helper()
	bins := postgresBinaries(t)
	basebackup := filepath.Join(filepath.Dir(bins.postgres), "pg_basebackup")
	if _, err := os.Stat(basebackup); err != nil {
		if p, err := exec.LookPath("pg_basebackup"); err == nil {
			basebackup = p
		} else {
			missing(t, "pg_basebackup", "postgresql")
		}
	}
	primary = NewPostgres(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, primary.URL)
	if err != nil {
		t.Fatalf("testenv: connect primary: %v", err)
	}
	var level string
	err = c.QueryRow(ctx, "SHOW wal_level").Scan(&level)
	_ = c.Close(ctx)
	if err != nil || (level != "replica" && level != "logical") {
		t.Fatalf("testenv: primary wal_level=%q (%v); streaming needs replica", level, err)
	}
	s, err := startStandby(bins, basebackup, primary)
	if err != nil {
		t.Fatalf("testenv: standby: %v", err)
	}
	t.Cleanup(func() { _ = s.stop(); _ = os.RemoveAll(s.dir) })
	return primary, s
}

func startStandby(bins pgBins, basebackup string, primary *Server) (*Server, error) {
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	s, err := newServer("postgres")
	if err != nil {
		return nil, err
	}
	s.cred = cred
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(s.dir, "data")
	host, port := "127.0.0.1", strconv.Itoa(primary.port)
	bb := exec.Command(basebackup, "-h", host, "-p", port, "-U", "postgres",
		"-D", data, "-R", "-X", "stream", "--no-sync", "-c", "fast")
	bb.Env = append(os.Environ(), "LC_ALL=C")
	bb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := bb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, fmt.Errorf("pg_basebackup: %v\n%s", err, out)
	}
	s.argv = func(port int) []string {
		return postgresArgv(bins.postgres, data, s.dir, port,
			"-c", "hot_standby=on", "-c", "wal_receiver_status_interval=1s")
	}
	s.ready = func(ctx context.Context, s *Server) error {
		s.URL = "postgres://postgres@" + s.Addr + "/postgres?sslmode=disable"
		c, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		var inRecovery bool
		if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return err
		}
		if !inRecovery {
			return fmt.Errorf("standby is not in recovery")
		}
		return nil
	}
	if err := s.start(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}
