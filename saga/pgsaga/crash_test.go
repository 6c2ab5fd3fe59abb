package pgsaga_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/pglock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// Environment of the crash children.
const (
	envURL   = "SAGA_CRASH_URL"
	envURL2  = "SAGA_CRASH_URL2"
	envDie   = "SAGA_CRASH_DIE_AT"
	envFail  = "SAGA_CRASH_FAIL"
	leaseTTL = time.Second
)

// dieAt kills this process with SIGKILL if it was told to die at point:
// no deferred function, no flush, no goodbye to PostgreSQL.
func dieAt(point string) {
	if os.Getenv(envDie) == point {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// transfer moves Amount from account "a"+Acct to "b"+Acct, with a fee of
// one to "c"+Acct.
type transfer struct {
	Amount int
	Acct   string
}

// setupBank creates accounts a=100, b=0, c=0 (money is conserved when
// their sum stays 100).
func setupBank(t testing.TB, p *pgxpool.Pool) {
	t.Helper()
	if _, err := p.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS acct (id text PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO acct VALUES ('a', 100), ('b', 0), ('c', 0) ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
}

func add(ctx context.Context, tx pgx.Tx, id string, delta int) error {
	_, err := tx.Exec(ctx, `UPDATE acct SET balance = balance + $2 WHERE id = $1`, id, delta)
	return err
}

// transferSteps is a three-step saga: debit a, credit b, move a fee from
// b to c. Each step is a local transaction behind the barrier. With fail
// set, the fee step is refused (permanently) and the saga compensates.
// hook, when non-nil, is called before and after each call.
func transferSteps(b *pgsaga.Barrier, p *pgxpool.Pool, fail bool, hook func(string)) []saga.Step[transfer] {
	if hook == nil {
		hook = func(string) {}
	}
	wrap := func(name string, f saga.Func[transfer]) saga.Func[transfer] {
		return func(ctx context.Context, c saga.Call, d transfer) error {
			hook("before:" + name)
			err := f(ctx, c, d)
			if err == nil {
				hook("after:" + name)
			}
			return err
		}
	}
	mk := func(name string, do, undo func(ctx context.Context, tx pgx.Tx, d transfer) error) saga.Step[transfer] {
		return saga.Step[transfer]{
			Name: name,
			Action: wrap(name, pgsaga.Action(b, p, func(ctx context.Context, tx pgx.Tx, c saga.Call, d transfer) error {
				return do(ctx, tx, d)
			})),
			Compensate: wrap("-"+name, pgsaga.Compensation(b, p, func(ctx context.Context, tx pgx.Tx, c saga.Call, d transfer) error {
				return undo(ctx, tx, d)
			})),
			Retry:           saga.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond},
			CompensateRetry: saga.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		}
	}
	return []saga.Step[transfer]{
		mk("debit", func(ctx context.Context, tx pgx.Tx, d transfer) error { return add(ctx, tx, "a"+d.Acct, -d.Amount) },
			func(ctx context.Context, tx pgx.Tx, d transfer) error { return add(ctx, tx, "a"+d.Acct, d.Amount) }),
		mk("credit", func(ctx context.Context, tx pgx.Tx, d transfer) error { return add(ctx, tx, "b"+d.Acct, d.Amount) },
			func(ctx context.Context, tx pgx.Tx, d transfer) error { return add(ctx, tx, "b"+d.Acct, -d.Amount) }),
		mk("fee", func(ctx context.Context, tx pgx.Tx, d transfer) error {
			if fail {
				return saga.Permanent(errors.New("fee: account c is closed"))
			}
			if err := add(ctx, tx, "b"+d.Acct, -1); err != nil {
				return err
			}
			return add(ctx, tx, "c"+d.Acct, 1)
		}, func(ctx context.Context, tx pgx.Tx, d transfer) error {
			if err := add(ctx, tx, "c"+d.Acct, -1); err != nil {
				return err
			}
			return add(ctx, tx, "b"+d.Acct, 1)
		}),
	}
}

// sagaInstance opens an orchestrator (one "service instance") on url.
func sagaInstance(t testing.TB, p *pgxpool.Pool, fail bool, hook func(string)) (*saga.Orchestrator, *saga.Saga[transfer]) {
	t.Helper()
	log, err := pgsaga.Open(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sagaInstanceOn(t, p, log, fail, hook)
}

// sagaInstanceOn is sagaInstance with the given log.
func sagaInstanceOn(t testing.TB, p *pgxpool.Pool, log driver.Log, fail bool, hook func(string)) (*saga.Orchestrator, *saga.Saga[transfer]) {
	t.Helper()
	ctx := context.Background()
	ld, err := pglock.Open(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lock.New(ld, &lock.Options{TTL: leaseTTL})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgsaga.OpenBarrier(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	setupBank(t, p)
	o, err := saga.New(log, lk, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := saga.Register(o, "transfer", transferSteps(b, p, fail, hook))
	if err != nil {
		t.Fatal(err)
	}
	return o, s
}

// runChild runs the test's child role and checks that it was killed by
// SIGKILL (it must reach its kill point).
func runChild(t *testing.T, test, role string, env ...string) {
	t.Helper()
	cmd := testenv.Child(t, test, role, env...)
	out, _ := os.CreateTemp(t.TempDir(), "child")
	cmd.Stdout, cmd.Stderr = out, out
	testenv.StartChild(t, cmd)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("child %s: %v, want death by SIGKILL; output:\n%s", role, err, b)
	}
}

// TestCrashSaga kills the coordinator process at every step boundary of
// a three-step saga — before and after each action's local transaction,
// and, for a saga whose last step fails, before and after each
// compensation — then lets another instance take over. Every time the
// saga ends completed or fully compensated and money is conserved.
func TestCrashSaga(t *testing.T) {
	if testenv.ChildRole() == "saga" {
		p := pool(t, os.Getenv(envURL))
		_, s := sagaInstance(t, p, os.Getenv(envFail) == "1", dieAt)
		err := s.Run(context.Background(), "s1", transfer{Amount: 10})
		t.Fatalf("child survived its kill point %q: Run = %v", os.Getenv(envDie), err)
		return
	}
	forward := []string{"before:debit", "after:debit", "before:credit", "after:credit", "before:fee", "after:fee"}
	backward := []string{"before:fee", "before:-fee", "after:-fee", "before:-credit", "after:-credit", "before:-debit", "after:-debit"}
	var cases []struct {
		point string
		fail  bool
	}
	for _, p := range forward {
		cases = append(cases, struct {
			point string
			fail  bool
		}{p, false})
	}
	for _, p := range backward {
		cases = append(cases, struct {
			point string
			fail  bool
		}{p, true})
	}
	for _, c := range cases {
		name := c.point
		if c.fail {
			name = "failing/" + name
		}
		t.Run(name, func(t *testing.T) {
			url := testenv.PostgresURL(t)
			fail := "0"
			if c.fail {
				fail = "1"
			}
			runChild(t, "TestCrashSaga", "saga", envURL+"="+url, envDie+"="+c.point, envFail+"="+fail)
			p := pool(t, url)
			o, _ := sagaInstance(t, p, c.fail, nil)
			st := recoverSaga(t, o, "s1")
			want := saga.Completed
			if c.fail {
				want = saga.Compensated
			}
			if st.State != want {
				t.Fatalf("saga %s after takeover, want %s (%+v)", st.State, want, st)
			}
			bal := balances(t, p)
			if bal["a"]+bal["b"]+bal["c"] != 100 {
				t.Fatalf("money not conserved: %v", bal)
			}
			wantBal := map[string]int64{"a": 90, "b": 9, "c": 1}
			if c.fail {
				wantBal = map[string]int64{"a": 100, "b": 0, "c": 0}
			}
			if fmt.Sprint(bal) != fmt.Sprint(wantBal) {
				t.Fatalf("balances %v, want %v", bal, wantBal)
			}
		})
	}
}

// recoverSaga runs recovery passes until saga id is at rest (the dead
// owner's lease must expire first).
func recoverSaga(t *testing.T, o *saga.Orchestrator, id string) saga.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := o.Recover(context.Background()); err != nil {
			t.Fatalf("Recover: %v", err)
		}
		st, err := o.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State.Terminal() || st.State == saga.Stuck {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("saga still %s after 20s of recovery", st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func balances(t *testing.T, p *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := p.Query(context.Background(), `SELECT id, balance FROM acct`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var b int64
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		out[id] = b
	}
	return out
}

// dyingLog wraps a decision log and dies at its boundaries.
type dyingLog struct{ driver.TxLog }

func (l dyingLog) Begin(ctx context.Context, tx driver.Tx) error {
	err := l.TxLog.Begin(ctx, tx)
	dieAt("begun")
	return err
}

func (l dyingLog) Decide(ctx context.Context, id string, d driver.Decision) (driver.Decision, error) {
	got, err := l.TxLog.Decide(ctx, id, d)
	dieAt("decided")
	return got, err
}

func (l dyingLog) Finish(ctx context.Context, id string) error {
	dieAt("before-finish")
	return l.TxLog.Finish(ctx, id)
}

// dyingParticipant dies after its prepare or commit.
type dyingParticipant struct{ saga.Participant }

func (p dyingParticipant) Prepare(ctx context.Context, txid string) error {
	err := p.Participant.Prepare(ctx, txid)
	dieAt("prepared:" + p.Name())
	return err
}

func (p dyingParticipant) Commit(ctx context.Context, txid string) error {
	err := p.Participant.Commit(ctx, txid)
	dieAt("committed:" + p.Name())
	return err
}

// TestCrash2PC kills the coordinator of a transfer between two
// PostgreSQL databases at every phase, then recovers with another
// coordinator and the sweeper: money is conserved, the transfer is all
// or nothing, and no prepared transaction is left.
func TestCrash2PC(t *testing.T) {
	if testenv.ChildRole() == "2pc" {
		p1, p2 := pool(t, os.Getenv(envURL)), pool(t, os.Getenv(envURL2))
		log, err := pgsaga.New(p1, nil)
		if err != nil {
			t.Fatal(err)
		}
		r1, _ := pgsaga.NewResource("bank1", p1, nil)
		r2, _ := pgsaga.NewResource("bank2", p2, nil)
		c, _ := saga.NewCoordinator(dyingLog{log}, nil)
		err = c.Do(context.Background(), "t1", dyingParticipant{r1.Branch(move(-30))}, dyingParticipant{r2.Branch(move(30))})
		t.Fatalf("child survived its kill point %q: Do = %v", os.Getenv(envDie), err)
		return
	}
	for _, point := range []string{"begun", "prepared:bank1", "prepared:bank2", "decided", "committed:bank1", "committed:bank2", "before-finish"} {
		t.Run(point, func(t *testing.T) {
			tb := newTwoBanks(t)
			url1, url2 := tb.p1.Config().ConnConfig.ConnString(), tb.p2.Config().ConnConfig.ConnString()
			runChild(t, "TestCrash2PC", "2pc", envURL+"="+url1, envURL2+"="+url2, envDie+"="+point)
			c, err := saga.NewCoordinator(tb.log, &saga.CoordinatorOptions{RecoverAfter: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Register("bank1", tb.r1)
			_ = c.Register("bank2", tb.r2)
			ctx := context.Background()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := c.Recover(ctx); err != nil {
					t.Fatalf("Recover: %v", err)
				}
				for _, r := range []*pgsaga.Resource{tb.r1, tb.r2} {
					if _, err := r.Sweep(ctx, tb.log, 0); err != nil {
						t.Fatalf("Sweep: %v", err)
					}
				}
				if tb.prepared(t) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d prepared transactions left", tb.prepared(t))
				}
				time.Sleep(20 * time.Millisecond)
			}
			a, b := tb.balances(t)
			if a+b != 200 {
				t.Fatalf("money not conserved: %d + %d", a, b)
			}
			tx, err := tb.log.GetTx(ctx, "t1")
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tx.Decision == driver.Commit && (a != 70 || b != 130):
				t.Fatalf("decision commit but balances %d, %d", a, b)
			case tx.Decision != driver.Commit && (a != 100 || b != 100):
				t.Fatalf("decision %q but balances %d, %d", tx.Decision, a, b)
			}
			if !tx.Finished && tx.Decision == driver.Commit {
				t.Fatalf("transaction not finished after recovery: %+v", tx)
			}
			t.Logf("decision %q: balances %d, %d", tx.Decision, a, b)
		})
	}
}
