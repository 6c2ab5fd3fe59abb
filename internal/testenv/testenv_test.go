package testenv

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"net/http"
)

func TestMain(m *testing.M) { Main(m) }

func TestSharedRedis(t *testing.T) {
	c := RedisClient(t)
	ctx := context.Background()
	key := Prefix(t) + "k"
	if err := c.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, key).Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	first, second := RedisURL(t), RedisURL(t)
	if first != second {
		t.Fatalf("shared URL changed: %s then %s", first, second)
	}
}

func TestDedicatedRedisRestartKeepsDurableData(t *testing.T) {
	s := NewRedis(t, &RedisOptions{Durable: true})
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Incr(ctx, "counter").Err(); err != nil {
		t.Fatal(err)
	}
	pid := s.Pid()
	s.Kill(t)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("redis pid %d still alive after Kill", pid)
	}
	s.Start(t)
	if n, err := c.Get(ctx, "counter").Int(); err != nil || n != 1 {
		t.Fatalf("after restart counter = %d, %v", n, err)
	}
	s.Pause(t)
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := c.Ping(pctx).Err()
	cancel()
	if err == nil {
		t.Fatal("ping of a paused redis succeeded")
	}
	s.Resume(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after resume: %v", err)
	}
}

func TestPostgresFreshDatabases(t *testing.T) {
	ctx := context.Background()
	u1, u2 := PostgresURL(t), PostgresURL(t)
	if u1 == u2 {
		t.Fatal("two calls returned the same database")
	}
	c, err := pgx.Connect(ctx, u1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	c2, err := pgx.Connect(ctx, u2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	if _, err := c2.Exec(ctx, "SELECT * FROM t"); err == nil {
		t.Fatal("table visible from another test database")
	}
}

func TestDedicatedPostgresRestart(t *testing.T) {
	s := NewPostgres(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE SEQUENCE s; SELECT nextval('s')"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	s.Restart(t)
	c, err = pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int64
	if err := c.QueryRow(ctx, "SELECT nextval('s')").Scan(&n); err != nil || n < 2 {
		t.Fatalf("nextval after restart = %d, %v", n, err)
	}
}

func TestEtcd(t *testing.T) {
	eps := EtcdEndpoints(t)
	resp, err := http.Get(eps[0] + "/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("etcd /version: %s", resp.Status)
	}
}

func TestChildProcess(t *testing.T) {
	if ChildRole() == "echo" {
		os.Stdout.WriteString("child-ok\n")
		return
	}
	cmd := Child(t, "TestChildProcess", "echo")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "child-ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestPrefixUnique(t *testing.T) {
	a, b := Prefix(t), Prefix(t)
	if a == b {
		t.Fatalf("Prefix repeated: %s", a)
	}
}
