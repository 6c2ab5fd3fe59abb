package pglock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/pglock"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var bg = context.Background()

func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// open returns a Driver on its own pool, with the schema created.
func open(t testing.TB, url string, opts *pglock.Options) *pglock.Driver {
	t.Helper()
	d, err := pglock.Open(bg, pool(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func req(key, owner string, ttl time.Duration) driver.Request {
	return driver.Request{Key: key, Owner: owner, TTL: ttl, Meta: "meta-" + owner}
}

// The driver contract, call by call, against a real server: two drivers on
// separate pools stand for two processes.
func TestDriverContract(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	a, b := open(t, url, nil), open(t, url, nil)

	tok1, err := a.TryAcquire(bg, req("k", "A", time.Minute))
	if err != nil || tok1 <= 0 {
		t.Fatalf("TryAcquire of a free key = %d, %v", tok1, err)
	}
	if _, err := b.TryAcquire(bg, req("k", "B", time.Minute)); !errors.Is(err, driver.ErrLocked) {
		t.Fatalf("TryAcquire of a held key = %v, want ErrLocked", err)
	}
	if tok, err := a.TryAcquire(bg, req("k", "A", time.Minute)); err != nil || tok != tok1 {
		t.Fatalf("retried TryAcquire by the holder = %d, %v; want its token %d", tok, err, tok1)
	}
	h, held, err := b.Holder(bg, "k")
	if err != nil || !held || h.Owner != "A" || h.Meta != "meta-A" || h.Token != tok1 {
		t.Fatalf("Holder = %+v, %v, %v", h, held, err)
	}
	if h.TTL <= 50*time.Second || h.TTL > time.Minute {
		t.Errorf("Holder TTL = %v, want just under 1m", h.TTL)
	}
	if err := b.Renew(bg, "k", "B", time.Minute); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("Renew by a non-holder = %v, want ErrNotHeld", err)
	}
	if err := b.Release(bg, "k", "B"); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("Release by a non-holder = %v, want ErrNotHeld", err)
	}
	if err := a.Renew(bg, "k", "A", 2*time.Minute); err != nil {
		t.Fatalf("Renew by the holder: %v", err)
	}
	if h, _, _ := a.Holder(bg, "k"); h.TTL <= time.Minute {
		t.Errorf("TTL after Renew(2m) = %v", h.TTL)
	}
	if err := a.Release(bg, "k", "A"); err != nil {
		t.Fatalf("Release by the holder: %v", err)
	}
	if err := a.Release(bg, "k", "A"); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("second Release = %v, want ErrNotHeld", err)
	}
	if _, held, err := a.Holder(bg, "k"); held || err != nil {
		t.Errorf("Holder after Release: held=%v err=%v", held, err)
	}
	tok2, err := b.TryAcquire(bg, req("k", "B", time.Minute))
	if err != nil || tok2 <= tok1 {
		t.Fatalf("TryAcquire after release = %d, %v; want a token above %d", tok2, err, tok1)
	}
	if _, err := a.TryAcquire(bg, req("other", "A", time.Minute)); err != nil {
		t.Errorf("a different key is independent: %v", err)
	}
}

// A lease expires by the database clock: the key becomes free without a
// release, the old holder can neither renew nor release, and the next
// holder's token is larger.
func TestExpiry(t *testing.T) {
	d := open(t, testenv.PostgresURL(t), nil)
	tok1, err := d.TryAcquire(bg, req("k", "A", 150*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, held, err := d.Holder(bg, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lease of 150ms still held after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Renew(bg, "k", "A", time.Minute); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("Renew after expiry = %v, want ErrNotHeld", err)
	}
	if err := d.Release(bg, "k", "A"); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("Release after expiry = %v, want ErrNotHeld", err)
	}
	tok2, err := d.TryAcquire(bg, req("k", "B", time.Minute))
	if err != nil || tok2 <= tok1 {
		t.Fatalf("TryAcquire after expiry = %d, %v; want a token above %d", tok2, err, tok1)
	}
}

// Fencing tokens keep increasing across a restart of the server; calls
// made while it is down fail with errors the driver calls retryable.
func TestTokensSurviveRestart(t *testing.T) {
	srv := testenv.NewPostgres(t)
	p := pool(t, srv.URL)
	d, err := pglock.Open(bg, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := range 3 {
		tok, err := d.TryAcquire(bg, req("k", fmt.Sprint("A", i), time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if tok <= last {
			t.Fatalf("token %d after %d", tok, last)
		}
		last = tok
		if err := d.Release(bg, "k", fmt.Sprint("A", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Another key advances the sequence without touching k.
	if _, err := d.TryAcquire(bg, req("other", "X", time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Close idle connections first: a graceful stop waits for clients.
	p.Reset()
	srv.Stop(t)
	_, err = d.TryAcquire(bg, req("k", "down", time.Minute))
	if err == nil {
		t.Fatal("TryAcquire succeeded while the server was down")
	}
	if !d.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = false for a stopped server", err)
	}
	srv.Start(t)

	var tok int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		tok, err = d.TryAcquire(bg, req("k", "B", time.Minute))
		if err == nil {
			break
		}
		if !d.IsRetryable(err) || time.Now().After(deadline) {
			t.Fatalf("TryAcquire after restart: %v (retryable %v)", err, d.IsRetryable(err))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tok <= last {
		t.Fatalf("token after restart = %d, want above %d", tok, last)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	if _, err := pglock.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	p := pool(t, "postgres://127.0.0.1:1/none")
	for _, table := range []string{".", "a.", ".b", "a..b", "a.b.c", "bad\x00name", "\xff"} {
		if _, err := pglock.New(p, &pglock.Options{Table: table}); err == nil {
			t.Errorf("New with table %q succeeded", table)
		}
	}
	if _, err := pglock.New(p, &pglock.Options{ListenIdle: -1}); err == nil {
		t.Error("New with negative ListenIdle succeeded")
	}
	if _, err := pglock.New(p, &pglock.Options{Table: strings.Repeat("t", 60)}); err == nil {
		t.Error("New whose default channel name is over 63 bytes succeeded")
	}
	if _, err := pglock.New(p, &pglock.Options{Table: strings.Repeat("t", 60), Channel: "short"}); err != nil {
		t.Errorf("New with a long table and a short channel: %v", err)
	}

	d := open(t, testenv.PostgresURL(t), nil)
	long := strings.Repeat("x", pglock.MaxKeyLen+1)
	for name, r := range map[string]driver.Request{
		"empty key":    req("", "A", time.Minute),
		"long key":     req(long, "A", time.Minute),
		"invalid utf8": req("\xff\xfe", "A", time.Minute),
		"NUL in key":   req("a\x00b", "A", time.Minute),
		"empty owner":  req("k", "", time.Minute),
		"zero TTL":     req("k", "A", 0),
	} {
		if _, err := d.TryAcquire(bg, r); err == nil || errors.Is(err, driver.ErrLocked) {
			t.Errorf("TryAcquire with %s = %v, want a clear error", name, err)
		}
	}
	if _, err := d.TryAcquire(bg, req(strings.Repeat("x", pglock.MaxKeyLen), "A", time.Minute)); err != nil {
		t.Errorf("key of MaxKeyLen bytes: %v", err)
	}

	// Through package lock: the limit is advertised and checked there.
	lk, err := lock.New(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.TryAcquire(bg, long, nil); !errors.Is(err, lock.ErrInvalidKey) {
		t.Errorf("lock.TryAcquire with a long key = %v, want ErrInvalidKey", err)
	}
	if _, err := lk.TryAcquire(bg, "", nil); !errors.Is(err, lock.ErrInvalidKey) {
		t.Errorf("lock.TryAcquire with an empty key = %v, want ErrInvalidKey", err)
	}
	if _, err := lk.TryAcquire(bg, "k", &lock.AcquireOptions{TTL: time.Millisecond}); !errors.Is(err, lock.ErrInvalidTTL) {
		t.Errorf("lock.TryAcquire with TTL 1ms = %v, want ErrInvalidTTL", err)
	}
}

// A table name is quoted, never spliced into SQL, and schema-qualified
// names work; the sequence lives next to the table.
func TestTableNames(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	p := pool(t, url)
	if _, err := p.Exec(bg, "CREATE SCHEMA locks"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"locks.leases", `odd"; DROP TABLE x; --`, "it's"} {
		d, err := pglock.Open(bg, p, &pglock.Options{Table: table})
		if err != nil {
			t.Fatalf("Open(%q): %v", table, err)
		}
		if _, err := d.TryAcquire(bg, req("k", "A", time.Minute)); err != nil {
			t.Fatalf("TryAcquire on %q: %v", table, err)
		}
		if err := d.Release(bg, "k", "A"); err != nil {
			t.Fatalf("Release on %q: %v", table, err)
		}
	}
	var n int
	if err := p.QueryRow(bg, "SELECT count(*) FROM pg_sequences WHERE schemaname = 'locks' AND sequencename = 'leases_token'").Scan(&n); err != nil || n != 1 {
		t.Errorf("sequence locks.leases_token: n=%d err=%v", n, err)
	}
	// Several processes creating the schema at once do not fail.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := pglock.Open(bg, p, &pglock.Options{Table: "concurrent"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	d, err := pglock.New(pool(t, "postgres://127.0.0.1:1/none"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), false},
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "53300"}, true},
		{&pgconn.PgError{Code: "42P01"}, false}, // undefined_table
		{&pgconn.PgError{Code: "23505"}, false}, // unique_violation
		{pgx.ErrNoRows, false},
		{errors.New("something else"), false},
	} {
		if got := d.IsRetryable(c.err); got != c.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	// A real connection failure.
	_, err = d.TryAcquire(bg, req("k", "A", time.Minute))
	if err == nil || !d.IsRetryable(err) {
		t.Errorf("connection refused: err=%v retryable=%v", err, d.IsRetryable(err))
	}
	// A real SQL error: the table was never created.
	d2, _ := pglock.New(pool(t, testenv.PostgresURL(t)), nil)
	_, err = d2.TryAcquire(bg, req("k", "A", time.Minute))
	if err == nil || d2.IsRetryable(err) {
		t.Errorf("missing table: err=%v retryable=%v", err, d2.IsRetryable(err))
	}
}
