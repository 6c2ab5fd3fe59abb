package saga_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

// account is a TCC resource: Try reserves, Confirm applies, Cancel
// releases; it records what happened per transaction.
type account struct {
	name     string
	mu       sync.Mutex
	state    map[string]string // txid -> tried, confirmed, cancelled
	failTry  error
	blockTry chan struct{}
}

func newAccount(name string) *account { return &account{name: name, state: map[string]string{}} }

func (a *account) get(tx string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state[tx]
}

func (a *account) tcc() saga.TCC {
	return saga.TCC{
		Resource: a.name,
		Try: func(ctx context.Context, tx string) error {
			if a.blockTry != nil {
				select {
				case <-a.blockTry:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if a.failTry != nil {
				return a.failTry
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			a.state[tx] = "tried"
			return nil
		},
		Confirm: func(ctx context.Context, tx string) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.state[tx] = "confirmed"
			return nil
		},
		Cancel: func(ctx context.Context, tx string) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.state[tx] = "cancelled"
			return nil
		},
	}
}

func newCoord(t *testing.T, log driver.TxLog, clk clock.Clock, prepare time.Duration) *saga.Coordinator {
	t.Helper()
	c, err := saga.NewCoordinator(log, &saga.CoordinatorOptions{PrepareTimeout: prepare, Clock: clk,
		Retry: saga.Retry{Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTCCCommit(t *testing.T) {
	log := memsaga.New(nil)
	c := newCoord(t, log, nil, time.Second)
	a, b := newAccount("a"), newAccount("b")
	before := log.Writes()
	if err := c.Do(context.Background(), "t1", a.tcc(), b.tcc()); err != nil {
		t.Fatal(err)
	}
	if a.get("t1") != "confirmed" || b.get("t1") != "confirmed" {
		t.Fatalf("a %s, b %s", a.get("t1"), b.get("t1"))
	}
	if w := log.Writes() - before; w != 3 {
		t.Fatalf("log writes per committed transaction = %d, want 3", w)
	}
	tx, err := c.Transaction(context.Background(), "t1")
	if err != nil || tx.Decision != driver.Commit || !tx.Finished {
		t.Fatalf("Transaction = %+v, %v", tx, err)
	}
	if err := c.Do(context.Background(), "t1", a.tcc()); !errors.Is(err, saga.ErrExists) {
		t.Fatalf("reused txid: %v", err)
	}
}

func TestTCCPrepareFailureAbortsAll(t *testing.T) {
	c := newCoord(t, memsaga.New(nil), nil, time.Second)
	a, b := newAccount("a"), newAccount("b")
	boom := errors.New("insufficient funds")
	b.failTry = boom
	err := c.Do(context.Background(), "t1", a.tcc(), b.tcc())
	if !errors.Is(err, saga.ErrAborted) || !errors.Is(err, boom) {
		t.Fatalf("Do = %v", err)
	}
	if a.get("t1") != "cancelled" || b.get("t1") != "cancelled" {
		t.Fatalf("a %s, b %s: every participant is cancelled, also the one whose try failed", a.get("t1"), b.get("t1"))
	}
}

func TestTCCPrepareTimeoutAborts(t *testing.T) {
	c := newCoord(t, memsaga.New(nil), nil, 30*time.Millisecond)
	a, b := newAccount("a"), newAccount("b")
	b.blockTry = make(chan struct{}) // never answers
	err := c.Do(context.Background(), "t1", a.tcc(), b.tcc())
	if !errors.Is(err, saga.ErrAborted) {
		t.Fatalf("Do = %v, want ErrAborted", err)
	}
	if a.get("t1") != "cancelled" || b.get("t1") != "cancelled" {
		t.Fatalf("a %s, b %s", a.get("t1"), b.get("t1"))
	}
}

func TestCoordinatorRecovery(t *testing.T) {
	fc := clock.NewFake(time.Unix(1e9, 0))
	log := memsaga.New(&memsaga.Options{Clock: fc})
	ctx := context.Background()
	a, b := newAccount("a"), newAccount("b")
	// A coordinator crashed after prepare (no decision) and another
	// after deciding commit.
	for _, id := range []string{"undecided", "committed"} {
		if err := log.Begin(ctx, driver.Tx{ID: id, Participants: []string{"a", "b"}}); err != nil {
			t.Fatal(err)
		}
		_ = a.tcc().Prepare(ctx, id)
		_ = b.tcc().Prepare(ctx, id)
	}
	if _, err := log.Decide(ctx, "committed", driver.Commit); err != nil {
		t.Fatal(err)
	}
	c := newCoord(t, log, fc, time.Second)
	_ = c.Register("a", a.tcc())
	_ = c.Register("b", b.tcc())
	if n, err := c.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("Recover before RecoverAfter = %d, %v; young transactions are left to their coordinator", n, err)
	}
	fc.Advance(3 * time.Second)
	if n, err := c.Recover(ctx); err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if a.get("undecided") != "cancelled" || b.get("undecided") != "cancelled" {
		t.Fatal("undecided transaction not aborted (presumed abort)")
	}
	if a.get("committed") != "confirmed" || b.get("committed") != "confirmed" {
		t.Fatal("committed transaction not re-driven to commit")
	}
	if n, err := c.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("second Recover = %d, %v", n, err)
	}
}

// TestPresumedAbortWinsOverLateCommit: a recovery presumes abort while
// the coordinator is still preparing; the coordinator must then abort.
func TestPresumedAbortWinsOverLateCommit(t *testing.T) {
	log := memsaga.New(nil)
	c := newCoord(t, log, nil, 5*time.Second)
	a, b := newAccount("a"), newAccount("b")
	b.blockTry = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- c.Do(context.Background(), "t1", a.tcc(), b.tcc()) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := log.GetTx(context.Background(), "t1"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("transaction never began")
		}
		time.Sleep(time.Millisecond)
	}
	if d, err := log.Decide(context.Background(), "t1", driver.Abort); err != nil || d != driver.Abort {
		t.Fatal(d, err)
	}
	close(b.blockTry)
	if err := <-done; !errors.Is(err, saga.ErrAborted) {
		t.Fatalf("Do = %v, want ErrAborted", err)
	}
	if a.get("t1") != "cancelled" || b.get("t1") != "cancelled" {
		t.Fatalf("a %s, b %s", a.get("t1"), b.get("t1"))
	}
}

func TestCoordinatorBadInput(t *testing.T) {
	if _, err := saga.NewCoordinator(nil, nil); !errors.Is(err, saga.ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := saga.NewCoordinator(memsaga.New(nil), &saga.CoordinatorOptions{PrepareTimeout: -1}); !errors.Is(err, saga.ErrInvalid) {
		t.Fatal(err)
	}
	c := newCoord(t, memsaga.New(nil), nil, time.Second)
	a := newAccount("a")
	ctx := context.Background()
	for name, err := range map[string]error{
		"empty id":        c.Do(ctx, "", a.tcc()),
		"no participants": c.Do(ctx, "t"),
		"nil participant": c.Do(ctx, "t", nil),
		"duplicate":       c.Do(ctx, "t", a.tcc(), a.tcc()),
		"unnamed":         c.Do(ctx, "t", saga.TCC{}),
		"register":        c.Register("", nil),
	} {
		if !errors.Is(err, saga.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
