package pgqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/pgqueue"
)

// vacuumChurn is how many messages each phase of
// TestLongTransactionDegradesThenRecovers publishes, receives and acks.
const vacuumChurn = 4000

// phase holds what one phase of the vacuum test measured.
type phase struct {
	name      string
	churn     time.Duration // publish+receive+ack of vacuumChurn messages
	deadStat  int64         // n_dead_tup after the churn, stats flushed
	removed   int64         // VACUUM VERBOSE: tuples removed
	kept      int64         // VACUUM VERBOSE: dead but not yet removable
	deadAfter int64         // n_dead_tup after that VACUUM
	probe     int64         // buffers touched by one receive of 100 after the VACUUM
}

func (p phase) String() string {
	return fmt.Sprintf("%-9s churn %4d msgs in %v (%.0f msgs/s); n_dead_tup %d; VACUUM removed %d, kept %d (dead, not removable); n_dead_tup after %d; receive of 100 touched %d buffers",
		p.name, vacuumChurn, p.churn.Round(time.Millisecond), float64(vacuumChurn)/p.churn.Seconds(),
		p.deadStat, p.removed, p.kept, p.deadAfter, p.probe)
}

// vacuumEnv is the state of the vacuum test: a one-connection pool for the
// driver (so its statistics can be flushed on demand) and a separate
// connection for VACUUM, statistics and EXPLAIN.
type vacuumEnv struct {
	t     *testing.T
	ctx   context.Context
	d     *pgqueue.Driver
	pool  *pgxpool.Pool
	admin *pgx.Conn
	sid   int32

	mu      sync.Mutex
	notices []string
}

var vacuumTuples = regexp.MustCompile(`tuples: (\d+) removed, \d+ remain, (\d+) are dead but not yet removable`)

// vacuum runs VACUUM (VERBOSE) on the message table and returns the tuples
// it removed and those it had to keep because a snapshot may still see them.
func (e *vacuumEnv) vacuum() (removed, kept int64) {
	e.t.Helper()
	e.mu.Lock()
	e.notices = nil
	e.mu.Unlock()
	if _, err := e.admin.Exec(e.ctx, "VACUUM (VERBOSE) scalekit_queue_msgs"); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.notices {
		if m := vacuumTuples.FindStringSubmatch(n); m != nil {
			removed, _ = strconv.ParseInt(m[1], 10, 64)
			kept, _ = strconv.ParseInt(m[2], 10, 64)
			return removed, kept
		}
	}
	e.t.Fatalf("VACUUM VERBOSE: no tuple counts in %q", e.notices)
	return 0, 0
}

// deadTuples flushes the driver connection's pending statistics and
// returns n_dead_tup of the message table.
func (e *vacuumEnv) deadTuples() int64 {
	e.t.Helper()
	// The driver's pool has one connection; a forced flush happens when it
	// goes idle, before it answers, so the count below includes its work.
	if _, err := e.pool.Exec(e.ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.admin.Exec(e.ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		e.t.Fatal(err)
	}
	var n int64
	if err := e.admin.QueryRow(e.ctx, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'scalekit_queue_msgs'").Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// churn publishes n messages in batches of 500 and receives and acks them
// in batches of 100 until none is left.
func (e *vacuumEnv) churn(n int) time.Duration {
	e.t.Helper()
	t0 := time.Now()
	e.publish(n)
	for left := n; left > 0; {
		ds, err := e.d.Receive(e.ctx, "vac", "s", 100, time.Minute)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ds) == 0 {
			e.t.Fatalf("churn: %d messages left but none received", left)
		}
		hs := make([]string, len(ds))
		for i := range ds {
			hs[i] = ds[i].Handle
		}
		if err := e.d.Ack(e.ctx, "vac", "s", hs); err != nil {
			e.t.Fatal(err)
		}
		left -= len(ds)
	}
	return time.Since(t0)
}

var vacuumSeq int

func (e *vacuumEnv) publish(n int) {
	e.t.Helper()
	for n > 0 {
		k := min(n, 500)
		msgs := make([]driver.Message, k)
		for i := range msgs {
			vacuumSeq++
			msgs[i] = driver.Message{ID: strconv.Itoa(vacuumSeq), Body: []byte("0123456789abcdef0123456789abcdef")}
		}
		if err := e.d.Publish(e.ctx, "vac", msgs); err != nil {
			e.t.Fatal(err)
		}
		n -= k
	}
}

// probe publishes 100 messages behind the churned ones and returns the
// buffers (shared hit + read) that the driver's receive statement touches
// to lease them, from EXPLAIN (ANALYZE, BUFFERS) run the way Receive runs
// it and rolled back; then it drains the 100.
func (e *vacuumEnv) probe() int64 {
	e.t.Helper()
	e.publish(100)
	tx, err := e.admin.Begin(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(e.ctx) }()
	if _, err := tx.Exec(e.ctx, pgqueue.ReceiveSettingsForTest); err != nil {
		e.t.Fatal(err)
	}
	var js []byte
	if err := tx.QueryRow(e.ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+pgqueue.ReceiveSQLForTest,
		e.sid, 100, time.Minute.Microseconds()).Scan(&js); err != nil {
		e.t.Fatal(err)
	}
	_ = tx.Rollback(e.ctx)
	var plan []struct {
		Plan struct {
			Hit  int64 `json:"Shared Hit Blocks"`
			Read int64 `json:"Shared Read Blocks"`
			Rows int64 `json:"Actual Rows"`
		}
	}
	if err := json.Unmarshal(js, &plan); err != nil || len(plan) != 1 {
		e.t.Fatalf("EXPLAIN output %s: %v", js, err)
	}
	if plan[0].Plan.Rows != 100 {
		e.t.Fatalf("probe leased %d rows, want 100", plan[0].Plan.Rows)
	}
	// Drain the probe messages so that the next phase starts empty.
	e.churnReceiveOnly(100)
	return plan[0].Plan.Hit + plan[0].Plan.Read
}

func (e *vacuumEnv) churnReceiveOnly(n int) {
	e.t.Helper()
	for n > 0 {
		ds, err := e.d.Receive(e.ctx, "vac", "s", 100, time.Minute)
		if err != nil || len(ds) == 0 {
			e.t.Fatalf("drain: %d left, got %d, %v", n, len(ds), err)
		}
		hs := make([]string, len(ds))
		for i := range ds {
			hs[i] = ds[i].Handle
		}
		if err := e.d.Ack(e.ctx, "vac", "s", hs); err != nil {
			e.t.Fatal(err)
		}
		n -= len(ds)
	}
}

// run measures one phase: churn, statistics, VACUUM, statistics, probe.
func (e *vacuumEnv) run(name string) phase {
	e.t.Helper()
	p := phase{name: name}
	p.churn = e.churn(vacuumChurn)
	p.deadStat = e.deadTuples()
	p.removed, p.kept = e.vacuum()
	p.deadAfter = e.deadTuples()
	p.probe = e.probe()
	e.t.Log(p)
	return p
}

// TestLongTransactionDegradesThenRecovers shows what a long-running
// transaction does to the queue: while a REPEATABLE READ transaction keeps
// its snapshot open on another connection, the rows that acks delete (and
// the versions that leases leave behind) cannot be removed, not even by an
// explicit VACUUM, so n_dead_tup grows and every receive walks past them
// in the index and the heap; once the transaction ends, VACUUM removes
// them and the receive cost falls back to the baseline.
//
// It measures counts, not time: the dead tuples VACUUM VERBOSE removes or
// keeps, n_dead_tup (the driver's statistics flushed on demand), and the
// buffers that the receive statement touches (EXPLAIN ANALYZE BUFFERS).
// Churn throughput is logged, not asserted.
func TestLongTransactionDegradesThenRecovers(t *testing.T) {
	ctx := context.Background()
	url := dbURL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	d, err := pgqueue.Open(ctx, p, &pgqueue.Options{PollOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Subscribe(ctx, "vac", "s"); err != nil {
		t.Fatal(err)
	}
	e := &vacuumEnv{t: t, ctx: ctx, d: d, pool: p}
	acfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	acfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		e.mu.Lock()
		e.notices = append(e.notices, n.Message)
		e.mu.Unlock()
	}
	if e.admin, err = pgx.ConnectConfig(ctx, acfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.admin.Close(context.Background()) })
	// Only the explicit VACUUMs clean the table, so each phase sees the
	// state it made.
	if _, err := e.admin.Exec(ctx, "ALTER TABLE scalekit_queue_msgs SET (autovacuum_enabled = off)"); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.QueryRow(ctx, "SELECT id FROM scalekit_queue_subs WHERE topic = 'vac' AND name = 's'").Scan(&e.sid); err != nil {
		t.Fatal(err)
	}

	e.vacuum()
	base := e.run("baseline")

	// The long transaction: a snapshot taken and kept open.
	long, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = long.Close(context.Background()) })
	tx, err := long.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	var xminHeld bool
	if err := e.admin.QueryRow(ctx, "SELECT backend_xmin IS NOT NULL FROM pg_stat_activity WHERE pid = $1",
		long.PgConn().PID()).Scan(&xminHeld); err != nil || !xminHeld {
		t.Fatalf("long transaction holds no xmin (%v, %v)", xminHeld, err)
	}
	held := e.run("held")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The first VACUUM after the commit removes what the snapshot kept.
	cleanup, _ := e.vacuum()
	t.Logf("VACUUM after the transaction ended removed %d tuples", cleanup)
	after := e.run("recovered")

	// Dead tuples: removable at once without the snapshot (some already
	// pruned within their pages before VACUUM gets there), kept with it.
	const n = vacuumChurn
	if base.removed < n/2 || base.kept > n/10 {
		t.Errorf("baseline VACUUM removed %d, kept %d; want ≥ %d removed, ≤ %d kept", base.removed, base.kept, n/2, n/10)
	}
	if held.kept < n || held.removed > n/10 {
		t.Errorf("VACUUM under the long transaction removed %d, kept %d; want ≤ %d removed, ≥ %d kept", held.removed, held.kept, n/10, n)
	}
	if cleanup < n {
		t.Errorf("VACUUM after the transaction ended removed %d, want ≥ %d", cleanup, n)
	}
	if after.removed < n/2 || after.kept > n/10 {
		t.Errorf("recovered VACUUM removed %d, kept %d; want ≥ %d removed, ≤ %d kept", after.removed, after.kept, n/2, n/10)
	}
	// n_dead_tup: grows under the long transaction and stays after VACUUM;
	// falls back once VACUUM can remove.
	for _, p := range []phase{base, held, after} {
		if p.deadStat < n {
			t.Errorf("%s: n_dead_tup %d after churning %d messages, want ≥ %d", p.name, p.deadStat, n, n)
		}
	}
	if base.deadAfter > n/10 || after.deadAfter > n/10 {
		t.Errorf("n_dead_tup after VACUUM: baseline %d, recovered %d; want ≤ %d", base.deadAfter, after.deadAfter, n/10)
	}
	if held.deadAfter < n {
		t.Errorf("n_dead_tup after VACUUM under the long transaction %d, want ≥ %d", held.deadAfter, n)
	}
	// Receive cost: several times the baseline while the snapshot is held,
	// back near the baseline after.
	if held.probe < 4*base.probe {
		t.Errorf("receive touched %d buffers under the long transaction, baseline %d; want ≥ 4×", held.probe, base.probe)
	}
	if after.probe > 2*base.probe+10 {
		t.Errorf("receive touched %d buffers after recovery, baseline %d; want ≤ 2× + 10", after.probe, base.probe)
	}
}
