package pgshard_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/pgshard"
)

func preload(t testing.TB, c *cluster, n int) map[int64]int {
	ctx := context.Background()
	r, _ := shard.NewRouter(c.ctl, "items", nil)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	w, _ := pgshard.NewWriter(r, c.nodes(), nil)
	wl := &workload{w: w, acked: map[int64]int{}}
	for i := 0; i < n; i++ {
		if err := wl.insert(ctx, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	return wl.acked
}

// TestStaleExecutorIsFenced: executor A loses its lease while paused
// mid-move; executor B takes the move over and finishes it; when A wakes
// up, the fencing token stops it before it can write anything.
func TestStaleExecutorIsFenced(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	newMigrator(t, c, nil)
	acked := preload(t, c, 200)
	fk := clock.NewFake(time.Unix(0, 0))
	ml := memlock.New(&memlock.Options{Clock: fk})
	lk, err := lock.New(ml, &lock.Options{Clock: fk, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	atReads, release := make(chan struct{}), make(chan struct{})
	a, _ := pgshard.NewMigrator(c.ctl, "items", c.nodes(), lk, []string{"items"}, &pgshard.MigratorOptions{Hook: func(step string) {
		if step == "reads" {
			close(atReads)
			<-release
		}
	}})
	errA := make(chan error, 1)
	go func() { _, err := a.Move(ctx, 0, "n1"); errA <- err }()
	<-atReads
	if !ml.Expire("scalekit_shard:move:items:0") {
		t.Fatal("no lease to expire")
	}
	b, _ := pgshard.NewMigrator(c.ctl, "items", c.nodes(), lk, []string{"items"}, nil)
	st, err := b.Move(ctx, 0, "n1")
	if err != nil {
		t.Fatalf("executor B: %v", err)
	}
	if st.From != "n0" {
		t.Fatalf("B stats %+v", st)
	}
	close(release)
	if err := <-errA; !errors.Is(err, pgshard.ErrFenced) {
		t.Fatalf("stale executor A returned %v, want ErrFenced", err)
	}
	c.check(t, acked)
	if st, err := b.Move(ctx, 0, "n1"); err != nil || !st.AlreadyThere {
		t.Fatalf("repeat move: %+v %v", st, err)
	}
}

func TestMigratorRefusesTablesWithoutPrimaryKey(t *testing.T) {
	c := newCluster(t)
	for _, n := range []string{"n0", "n1"} {
		if _, err := c.pools[n].Exec(context.Background(), `CREATE TABLE nopk (lshard int, v int)`); err != nil {
			t.Fatal(err)
		}
	}
	lk, _ := lock.New(memlock.New(nil), nil)
	m, err := pgshard.NewMigrator(c.ctl, "items", c.nodes(), lk, []string{"items", "nopk"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Install(context.Background()); !errors.Is(err, pgshard.ErrNoPrimaryKey) {
		t.Fatalf("Install = %v, want ErrNoPrimaryKey", err)
	}
	if _, err := m.Move(context.Background(), 0, "n1"); !errors.Is(err, pgshard.ErrNoPrimaryKey) {
		t.Fatalf("Move = %v, want ErrNoPrimaryKey", err)
	}
	if _, err := pgshard.NewMigrator(nil, "items", c.nodes(), lk, []string{"items"}, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
}

// TestGuardRefusesWritesToUnownedShard: a write that bypasses the Writer
// and reaches a node that does not own the row's shard fails with SK001,
// and a row cannot change logical shard.
func TestGuardRefusesWritesToUnownedShard(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	newMigrator(t, c, nil)
	// Spread(4, [n0 n1]): shard 1 lives on n1, not n0.
	_, err := c.pools["n0"].Exec(ctx, `INSERT INTO items (id, lshard, v) VALUES (1, 1, 0)`)
	if pe := new(pgconnError); err == nil || !errors.As(err, &pe) || pe.Code != "SK001" {
		t.Fatalf("insert into unowned shard: %v", err)
	}
	if _, err := c.pools["n0"].Exec(ctx, `INSERT INTO items (id, lshard, v) VALUES (1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.pools["n0"].Exec(ctx, `UPDATE items SET lshard = 2 WHERE id = 1`); err == nil {
		t.Fatal("row changed logical shard")
	}
	err = pgx.BeginFunc(ctx, c.pools["n0"], func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM items WHERE id = 1`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

type pgconnError = pgconn.PgError

// TestRollbackAfterReadsSwitched stops a move right after its reads were
// switched, rolls it back, and checks that reads and data are back on the
// source only; a later Move still works.
func TestRollbackAfterReadsSwitched(t *testing.T) {
	c := newCluster(t)
	newMigrator(t, c, nil)
	acked := preload(t, c, 200)
	ctx, cancel := context.WithCancel(context.Background())
	m := migratorNoInstall(t, c, &pgshard.MigratorOptions{Hook: func(step string) {
		if step == "reads" {
			cancel() // the executor stops here
		}
	}})
	if _, err := m.Move(ctx, 0, "n1"); err == nil {
		t.Fatal("move was not interrupted")
	}
	tb, _ := c.ctl.Load(context.Background(), "items")
	if tb.Nodes[0] != "n0" || tb.ReadNodes[0] != "n1" {
		t.Fatalf("expected reads switched, writes not: %+v", tb)
	}
	r := migratorNoInstall(t, c, nil)
	if err := r.Rollback(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	c.check(t, acked) // every row on the node of the map, reads == writes
	var left int
	_ = c.pools["n1"].QueryRow(context.Background(), `SELECT count(*) FROM items WHERE lshard = 0`).Scan(&left)
	if left != 0 {
		t.Fatalf("%d copied rows left on the target", left)
	}
	if err := r.Rollback(context.Background(), 0); err != nil {
		t.Fatalf("second rollback: %v", err)
	}
	if _, err := r.Move(context.Background(), 0, "n1"); err != nil {
		t.Fatal(err)
	}
	c.check(t, acked)
	if err := r.Rollback(context.Background(), 0); err != nil {
		t.Fatalf("rollback of a finished move is a no-op: %v", err)
	}
}

// TestApplyPlan swaps two logical shards between the nodes through a
// planned set of moves.
func TestApplyPlan(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	m := newMigrator(t, c, nil)
	acked := preload(t, c, 120)
	tb, _ := c.ctl.Load(ctx, "items")
	cur, _ := shard.FromTable(tb)
	target, _ := cur.Repoint(map[int]string{0: "n1", 3: "n0"})
	plan, err := shard.PlanMoves(cur, target)
	if err != nil || len(plan.Moves) != 2 || plan.Fraction != 0.5 {
		t.Fatalf("plan %+v %v", plan, err)
	}
	stats, err := m.ApplyPlan(ctx, plan)
	if err != nil || len(stats) != 2 {
		t.Fatalf("%+v %v", stats, err)
	}
	final := c.check(t, acked)
	if final.NodeOf(0) != "n1" || final.NodeOf(3) != "n0" {
		t.Fatalf("map after plan: %v", final.Table())
	}
}

// TestWriterGivesUpAfterMaxWait: a shard no node owns (a cut-over that
// never finishes) makes Exec retry on the Writer's clock, not forever and
// not on real time: it fails with ErrNotOwned once MaxWait has passed on
// a fake clock, and writes nothing.
func TestWriterGivesUpAfterMaxWait(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	newMigrator(t, c, nil)
	r, _ := shard.NewRouter(c.ctl, "items", nil)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n0", "n1"} {
		if _, err := c.pools[n].Exec(ctx, `UPDATE scalekit_shard_owner SET owned = false`); err != nil {
			t.Fatal(err)
		}
	}
	fk := clock.NewFake(time.Unix(0, 0))
	w, err := pgshard.NewWriter(r, c.nodes(), &pgshard.WriterOptions{MaxWait: time.Minute, RetryEvery: time.Second, Clock: fk})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	calls := 0
	go func() {
		done <- w.Exec(ctx, "k", func(context.Context, pgx.Tx, int) error { calls++; return nil })
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			if !errors.Is(err, pgshard.ErrNotOwned) {
				t.Fatalf("Exec on an unowned shard = %v, want ErrNotOwned", err)
			}
			if passed := fk.Since(time.Unix(0, 0)); passed < time.Minute {
				t.Fatalf("Exec gave up after %v of the Writer's clock, want MaxWait 1m", passed)
			}
			if calls != 0 {
				t.Fatalf("fn ran %d times on a node that does not own the shard", calls)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Exec still retrying after 30s real time at fake %v: MaxWait is not on the Writer's clock", fk.Since(time.Unix(0, 0)))
		}
		bctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		if fk.BlockUntil(bctx, 1) == nil {
			fk.Advance(time.Second)
		}
		cancel()
	}
}
