package pgshard_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/pglock"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/pgshard"
)

const itemsDDL = `CREATE TABLE items (id bigint PRIMARY KEY, lshard int NOT NULL, v int NOT NULL, note text)`

// cluster is a control database and two node databases.
type cluster struct {
	urls  map[string]string // "ctl", "n0", "n1"
	pools map[string]*pgxpool.Pool
	ctl   *pgshard.Driver
}

func (c *cluster) nodes() map[string]*pgxpool.Pool {
	return map[string]*pgxpool.Pool{"n0": c.pools["n0"], "n1": c.pools["n1"]}
}

func openCluster(t testing.TB, urls map[string]string) *cluster {
	c := &cluster{urls: urls, pools: map[string]*pgxpool.Pool{}}
	for k, u := range urls {
		c.pools[k] = newPool(t, u)
	}
	d, err := pgshard.Open(context.Background(), c.pools["ctl"], nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ctl = d
	return c
}

func newMigrator(t testing.TB, c *cluster, opts *pgshard.MigratorOptions) *pgshard.Migrator {
	m := migratorNoInstall(t, c, opts)
	if err := m.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func migratorNoInstall(t testing.TB, c *cluster, opts *pgshard.MigratorOptions) *pgshard.Migrator {
	ld, err := pglock.Open(context.Background(), c.pools["ctl"], nil)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lock.New(ld, &lock.Options{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := pgshard.NewMigrator(c.ctl, "items", c.nodes(), lk, []string{"items"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newCluster(t *testing.T) *cluster {
	urls := map[string]string{"ctl": testenv.PostgresURL(t), "n0": testenv.PostgresURL(t), "n1": testenv.PostgresURL(t)}
	c := openCluster(t, urls)
	for _, n := range []string{"n0", "n1"} {
		if _, err := c.pools[n].Exec(context.Background(), itemsDDL); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := shard.Spread(4, []string{"n0", "n1"})
	r, _ := shard.NewRouter(c.ctl, "items", nil)
	if err := r.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return c
}

// workload writes through a pgshard.Writer and remembers every
// acknowledged row's value.
type workload struct {
	w     *pgshard.Writer
	next  atomic.Int64
	mu    sync.Mutex
	acked map[int64]int
	errs  chan error
	stop  chan struct{}
	wg    sync.WaitGroup
	ops   atomic.Int64
}

func (wl *workload) insert(ctx context.Context, id int64) error {
	err := wl.w.Exec(ctx, strconv.FormatInt(id, 10), func(ctx context.Context, tx pgx.Tx, l int) error {
		_, err := tx.Exec(ctx, `INSERT INTO items (id, lshard, v) VALUES ($1, $2, 0)`, id, l)
		return err
	})
	if err == nil {
		wl.mu.Lock()
		wl.acked[id] = 0
		wl.mu.Unlock()
	}
	return err
}

func (wl *workload) update(ctx context.Context, id int64) error {
	err := wl.w.Exec(ctx, strconv.FormatInt(id, 10), func(ctx context.Context, tx pgx.Tx, l int) error {
		ct, err := tx.Exec(ctx, `UPDATE items SET v = v + 1 WHERE id = $1`, id)
		if err == nil && ct.RowsAffected() != 1 {
			return fmt.Errorf("update of acknowledged row %d hit %d rows (lost row)", id, ct.RowsAffected())
		}
		return err
	})
	if err == nil {
		wl.mu.Lock()
		wl.acked[id]++
		wl.mu.Unlock()
	}
	return err
}

func (wl *workload) start(ctx context.Context, writers int) {
	for g := 0; g < writers; g++ {
		wl.wg.Add(1)
		go func(g int) {
			defer wl.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var mine []int64
			pace := time.NewTicker(3 * time.Millisecond) // a steady load, not a flood
			defer pace.Stop()
			for {
				select {
				case <-wl.stop:
					return
				case <-pace.C:
				}
				var err error
				if len(mine) > 0 && rng.IntN(2) == 0 {
					err = wl.update(ctx, mine[rng.IntN(len(mine))])
				} else {
					id := wl.next.Add(1)
					if err = wl.insert(ctx, id); err == nil {
						mine = append(mine, id)
					}
				}
				if err != nil {
					wl.errs <- err
					return
				}
				wl.ops.Add(1)
			}
		}(g)
	}
}

// check verifies that every acknowledged row exists exactly once, on the
// node that owns its logical shard, with its acknowledged value.
func (c *cluster) check(t *testing.T, acked map[int64]int) *shard.Map {
	ctx := context.Background()
	tb, err := c.ctl.Load(ctx, "items")
	if err != nil {
		t.Fatal(err)
	}
	m, err := shard.FromTable(tb)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]string{}
	for _, n := range []string{"n0", "n1"} {
		rows, err := c.pools[n].Query(ctx, `SELECT id, lshard, v FROM items`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var l, v int
			if err := rows.Scan(&id, &l, &v); err != nil {
				t.Fatal(err)
			}
			if prev, dup := seen[id]; dup {
				t.Fatalf("row %d on both %s and %s (duplicated)", id, prev, n)
			}
			seen[id] = n
			if m.NodeOf(l) != n {
				t.Fatalf("row %d of shard %d on %s, map says %s", id, l, n, m.NodeOf(l))
			}
			want, ok := acked[id]
			if !ok {
				t.Fatalf("row %d was never acknowledged", id)
			}
			if v != want {
				t.Fatalf("row %d has v=%d, acknowledged %d (lost update)", id, v, want)
			}
		}
		rows.Close()
	}
	for id := range acked {
		if _, ok := seen[id]; !ok {
			t.Fatalf("acknowledged row %d is lost", id)
		}
	}
	for l := 0; l < m.Logical(); l++ {
		if m.ReadNodeOf(l) != m.NodeOf(l) {
			t.Fatalf("map v%d left shard %d half-switched (reads %s, writes %s)", m.Version(), l, m.ReadNodeOf(l), m.NodeOf(l))
		}
	}
	return m
}

func runChild(t *testing.T, c *cluster, unit int, dst, crashAt string) (killed bool) {
	cmd := testenv.Child(t, "TestMigrationCrashAtEveryStep", "migrate",
		"SK_CTL="+c.urls["ctl"], "SK_N0="+c.urls["n0"], "SK_N1="+c.urls["n1"],
		"SK_UNIT="+strconv.Itoa(unit), "SK_DST="+dst, "SK_CRASH="+crashAt)
	out := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	testenv.StartChild(t, cmd)
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("executor (crash at %q) failed: %v\n%s", crashAt, err, out.String())
	}
	if runChildVerbose {
		t.Log(out.String())
	}
	return false
}

var runChildVerbose bool

type lockedBuf struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return string(l.b) }

var childStart = time.Now()

func migrateChild(t *testing.T) {
	c := openCluster(t, map[string]string{"ctl": os.Getenv("SK_CTL"), "n0": os.Getenv("SK_N0"), "n1": os.Getenv("SK_N1")})
	crash := os.Getenv("SK_CRASH")
	m := migratorNoInstall(t, c, &pgshard.MigratorOptions{BatchSize: 100, LeaseTTL: 2 * time.Second, Hook: func(step string) {
		fmt.Fprintf(os.Stderr, "%v step %s\n", time.Since(childStart).Round(time.Millisecond), step)
		if step == crash {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never continue past the crash point
		}
	}})
	unit, _ := strconv.Atoi(os.Getenv("SK_UNIT"))
	t0 := time.Now()
	st, err := m.Move(context.Background(), unit, os.Getenv("SK_DST"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "moved in %v (setup %v): %+v\n", time.Since(t0), t0.Sub(childStart), st)
}

// TestMigrationCrashAtEveryStep moves logical shard 0 back and forth
// between two nodes under concurrent writers, killing the executor process
// (SIGKILL) at each step and resuming with a fresh process, and checks
// that no acknowledged row is lost or duplicated, no update is lost, and
// the map ends at one consistent version.
func TestMigrationCrashAtEveryStep(t *testing.T) {
	if testenv.ChildRole() == "migrate" {
		migrateChild(t)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t)
	newMigrator(t, c, nil) // install
	router, _ := shard.NewRouter(c.ctl, "items", &shard.RouterOptions{PollInterval: 200 * time.Millisecond})
	go func() { _ = router.Run(ctx) }()
	w, _ := pgshard.NewWriter(router, c.nodes(), nil)
	wl := &workload{w: w, acked: map[int64]int{}, errs: make(chan error, 16), stop: make(chan struct{})}
	for i := 0; i < 300; i++ {
		if err := wl.insert(ctx, wl.next.Add(1)); err != nil {
			t.Fatal(err)
		}
	}
	wl.start(ctx, 3)
	steps := []string{"lease", "capture", "copy", "catchup", "reads", "pause", "cutover", "flip", "cleanup"}
	dst := "n1" // shard 0 starts on n0
	for _, step := range steps {
		t0 := time.Now()
		if !runChild(t, c, 0, dst, step) {
			t.Fatalf("executor did not reach step %q", step)
		}
		t1 := time.Now()
		if os.Getenv("SK_VERBOSE") != "" {
			runChildVerbose = true
		}
		runChild(t, c, 0, dst, "") // resume after the crash
		t.Logf("crash at %-8s: crashed run %v, resume %v", step, t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		select {
		case err := <-wl.errs:
			t.Fatalf("a writer failed during the move (crash at %s): %v", step, err)
		default:
		}
		tb, _ := c.ctl.Load(ctx, "items")
		if tb.Nodes[0] != dst {
			t.Fatalf("after crash at %s and resume, shard 0 on %s, want %s", step, tb.Nodes[0], dst)
		}
		if dst == "n1" {
			dst = "n0"
		} else {
			dst = "n1"
		}
	}
	close(wl.stop)
	wl.wg.Wait()
	close(wl.errs)
	for err := range wl.errs {
		t.Fatalf("writer: %v", err)
	}
	m := c.check(t, wl.acked)
	t.Logf("%d writes during %d moves; map v%d; longest write latency %v", wl.ops.Load(), len(steps), m.Version(), w.MaxLatency())
	fresh, _ := shard.NewRouter(c.ctl, "items", nil)
	_ = fresh.Sync(ctx)
	if fresh.Version() != m.Version() || router.Version() > m.Version() {
		t.Fatalf("routers at v%d / v%d, store at v%d", fresh.Version(), router.Version(), m.Version())
	}
}
