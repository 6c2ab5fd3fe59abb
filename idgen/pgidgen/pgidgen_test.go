package pgidgen_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/idgen/idgentest"
	"github.com/scalekit-go/scalekit/idgen/internal/procs"
	"github.com/scalekit-go/scalekit/idgen/pgidgen"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func newSource(t testing.TB, url string) *pgidgen.Source {
	t.Helper()
	src, err := pgidgen.Open(context.Background(), pool(t, url), nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestConformance(t *testing.T) {
	url := testenv.PostgresURL(t)
	idgentest.RunSegmentSource(t, func(t *testing.T) driver.SegmentSource { return newSource(t, url) })
}

func TestBadInput(t *testing.T) {
	if _, err := pgidgen.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	for _, table := range []string{".", "a.", ".b", "a..b", "a.b.c"} {
		if _, err := pgidgen.New(pool(t, "postgres://localhost:1/x"), &pgidgen.Options{Table: table}); err == nil {
			t.Errorf("New with table %q succeeded", table)
		}
	}
	src := newSource(t, testenv.PostgresURL(t))
	for _, size := range []int64{0, -1} {
		if _, err := src.NextBlock(context.Background(), "x", size); err == nil {
			t.Errorf("NextBlock(size %d) succeeded", size)
		}
	}
}

// A table name is quoted, never spliced into SQL: a hostile name creates an
// oddly named table and nothing else.
func TestTableNameIsQuoted(t *testing.T) {
	p := pool(t, testenv.PostgresURL(t))
	ctx := context.Background()
	if _, err := p.Exec(ctx, "CREATE SCHEMA ids"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"ids.tickets", `odd"; DROP TABLE x; --`} {
		src, err := pgidgen.New(p, &pgidgen.Options{Table: table})
		if err != nil {
			t.Fatalf("New(%q): %v", table, err)
		}
		if err := src.CreateTable(ctx); err != nil {
			t.Fatalf("CreateTable(%q): %v", table, err)
		}
		if start, err := src.NextBlock(ctx, "s", 5); err != nil || start != 1 {
			t.Fatalf("NextBlock on %q = %d, %v; want 1", table, start, err)
		}
	}
	var n int
	if err := p.QueryRow(ctx, `SELECT count(*) FROM "odd""; DROP TABLE x; --"`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("hostile table name: count = %d, %v", n, err)
	}
}

// A block handed out before the server crashes is never handed out again:
// the counter row is committed before NextBlock returns.
func TestNoBlockReusedAfterServerKill(t *testing.T) {
	srv := testenv.NewPostgres(t)
	ctx := context.Background()
	src := newSource(t, srv.URL)
	var last int64
	for range 50 {
		start, err := src.NextBlock(ctx, "crash", 100)
		if err != nil {
			t.Fatal(err)
		}
		last = start
	}
	srv.Kill(t)
	if _, err := src.NextBlock(ctx, "crash", 100); err == nil {
		t.Fatal("NextBlock on a killed server succeeded")
	}
	srv.Start(t)
	src2 := newSource(t, srv.URL)
	start, err := src2.NextBlock(ctx, "crash", 100)
	if err != nil {
		t.Fatal(err)
	}
	if start <= last {
		t.Fatalf("after a crash the next block starts at %d, at or before the last acknowledged block %d", start, last)
	}
}

// Four processes, each with its own Segment on one table, draw 1M IDs in
// all; no ID is handed out twice.
func TestFourProcessesShareOneSource(t *testing.T) {
	const urlEnv = "SCALEKIT_IDGEN_PG_URL"
	if procs.IsChild() {
		seg, err := idgen.NewSegment(newSource(t, os.Getenv(urlEnv)), "shared", &idgen.SegmentOptions{BlockSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		procs.Child(t, seg.Next)
		return
	}
	url := testenv.PostgresURL(t)
	newSource(t, url) // create the table before the children race to
	ids := procs.Run(t, t.Name(), 4, 250_000, urlEnv+"="+url)
	if dup, ok := idgentest.FindDuplicate(ids); ok {
		t.Fatalf("ID %d handed out twice across processes", dup)
	}
	if len(ids) != 1_000_000 {
		t.Fatalf("got %d IDs, want 1000000", len(ids))
	}
}

func TestCancelledContext(t *testing.T) {
	src := newSource(t, testenv.PostgresURL(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := src.NextBlock(ctx, "x", 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("NextBlock with a cancelled context = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "pgidgen") {
		t.Errorf("error %q does not name the package", err)
	}
}

// BenchmarkSegmentRefillAt1M draws 1M IDs/s from blocks of 1,000 fetched
// with UPDATE … RETURNING from a real PostgreSQL on loopback (see
// idgentest.BenchRefill).
func BenchmarkSegmentRefillAt1M(b *testing.B) {
	idgentest.BenchRefill(b, newSource(b, testenv.PostgresURL(b)), "bench", 1000)
}
