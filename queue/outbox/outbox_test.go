package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/outbox"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	url  string
	pool *pgxpool.Pool
	q    *queue.Queue
	sub  *queue.Subscription
}

func setup(t *testing.T) *env {
	t.Helper()
	url := testenv.PostgresURL(t)
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := outbox.Open(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	q, err := queue.NewInMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := q.Subscribe(context.Background(), "orders", "audit", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{url: url, pool: p, q: q, sub: sub}
}

// drain receives everything ready in the subscription, in delivery order.
func (e *env) drain(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		d, err := e.sub.Receive(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, d.Key+":"+string(d.Body))
		_ = d.Ack(context.Background())
	}
}

func (e *env) relay(t *testing.T) *outbox.Relay {
	t.Helper()
	r, err := outbox.NewRelay(e.pool, e.q, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func relayOnce(t *testing.T, r *outbox.Relay) int {
	t.Helper()
	n, err := r.RelayOnce(context.Background())
	if err != nil {
		t.Fatalf("RelayOnce: %v", err)
	}
	return n
}

// TestLateCommitIsNotSkipped is the interleaving a BIGSERIAL poller on
// "id > last" gets wrong: transaction A allocates its row's id first but
// commits after transaction B, whose row (a larger id) has already been
// relayed. A's row must still be relayed.
func TestLateCommitIsNotSkipped(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	r := e.relay(t)

	txA, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Write(ctx, txA, "orders", queue.Message{Key: "a", Body: []byte("A")}); err != nil {
		t.Fatal(err)
	}
	txB, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Write(ctx, txB, "orders", queue.Message{Key: "b", Body: []byte("B")}); err != nil {
		t.Fatal(err)
	}
	// The ids really are interleaved: A's is smaller.
	var idA, idB int64
	if err := txA.QueryRow(ctx, "SELECT max(id) FROM scalekit_outbox").Scan(&idA); err != nil {
		t.Fatal(err)
	}
	if err := txB.QueryRow(ctx, "SELECT max(id) FROM scalekit_outbox").Scan(&idB); err != nil {
		t.Fatal(err)
	}
	if idA >= idB {
		t.Fatalf("setup: id of A %d not below id of B %d", idA, idB)
	}
	if err := txB.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := relayOnce(t, r); n != 1 {
		t.Fatalf("first pass relayed %d rows, want only B's", n)
	}
	if got := e.drain(t); strings.Join(got, ",") != "b:B" {
		t.Fatalf("after the first pass the queue has %q, want [b:B]", got)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := relayOnce(t, r); n != 1 {
		t.Fatalf("second pass relayed %d rows; A's row (id %d, committed after B's id %d was relayed) was skipped", n, idA, idB)
	}
	if got := e.drain(t); strings.Join(got, ",") != "a:A" {
		t.Fatalf("after A committed the queue has %q, want [a:A]", got)
	}
	var left int
	_ = e.pool.QueryRow(ctx, "SELECT count(*) FROM scalekit_outbox").Scan(&left)
	if left != 0 {
		t.Errorf("%d rows left in the outbox after relaying", left)
	}
}

// TestRolledBackIsNeverRelayed: messages of a transaction that rolls back
// never reach the queue.
func TestRolledBackIsNeverRelayed(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Write(ctx, tx, "orders", queue.Message{Body: []byte("ghost")}); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	if n := relayOnce(t, e.relay(t)); n != 0 {
		t.Fatalf("relayed %d rows of a rolled-back transaction", n)
	}
}

// TestSameKeyWritersCommitInOrder: a second transaction writing the same
// key waits for the first, so the key's messages are relayed in commit
// order even when the relay runs between the commits.
func TestSameKeyWritersCommitInOrder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	r := e.relay(t)
	tx1, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := outbox.Write(ctx, tx1, "orders", queue.Message{Key: "k", Body: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	wrote2 := make(chan error, 1)
	go func() {
		tx2, err := e.pool.Begin(ctx)
		if err == nil {
			err = outbox.Write(ctx, tx2, "orders", queue.Message{Key: "k", Body: []byte("2")})
		}
		if err == nil {
			err = tx2.Commit(ctx)
		}
		if tx2 != nil {
			_ = tx2.Rollback(ctx)
		}
		wrote2 <- err
	}()
	select {
	case err := <-wrote2:
		t.Fatalf("a second writer of key k committed (%v) while the first transaction was open", err)
	case <-time.After(200 * time.Millisecond):
	}
	if n := relayOnce(t, r); n != 0 {
		t.Fatalf("relayed %d rows while both writers of k were uncommitted", n)
	}
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote2; err != nil {
		t.Fatal(err)
	}
	for relayOnce(t, r) > 0 {
	}
	if got := e.drain(t); strings.Join(got, ",") != "k:1,k:2" {
		t.Fatalf("relayed %q, want [k:1 k:2]", got)
	}
}

// TestConcurrentWritersPerKeyOrder: many concurrent transactions on a few
// keys, a relay running meanwhile: every message arrives, each key in
// commit order.
func TestConcurrentWritersPerKeyOrder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	r := e.relay(t)
	const writers, per, keys = 6, 15, 3
	var mu sync.Mutex
	committed := map[string][]string{} // key -> bodies in commit order
	var wg sync.WaitGroup
	stop := make(chan struct{})
	relayed := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				relayed <- nil
				return
			default:
			}
			if _, err := r.RelayOnce(ctx); err != nil {
				relayed <- err
				return
			}
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				k := fmt.Sprintf("k%d", (w+i)%keys)
				body := fmt.Sprintf("w%d-%d", w, i)
				tx, err := e.pool.Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if err := outbox.Write(ctx, tx, "orders", queue.Message{Key: k, Body: []byte(body)}); err != nil {
					t.Error(err)
					_ = tx.Rollback(ctx)
					return
				}
				// Record the commit order while still holding the key lock.
				mu.Lock()
				if err := tx.Commit(ctx); err != nil {
					mu.Unlock()
					t.Error(err)
					return
				}
				committed[k] = append(committed[k], body)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	if err := <-relayed; err != nil {
		t.Fatal(err)
	}
	for relayOnce(t, r) > 0 {
	}
	got := map[string][]string{}
	n := 0
	for _, kb := range e.drain(t) {
		k, b, _ := strings.Cut(kb, ":")
		got[k] = append(got[k], b)
		n++
	}
	if n != writers*per {
		t.Fatalf("relayed %d messages, want %d", n, writers*per)
	}
	for k, want := range committed {
		if strings.Join(got[k], ",") != strings.Join(want, ",") {
			t.Errorf("key %s relayed in order %v, committed in order %v", k, got[k], want)
		}
	}
}

// TestWriteSQL writes through database/sql and is relayed the same way.
func TestWriteSQL(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	db, err := sql.Open("pgx", e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.WriteSQL(ctx, tx, "orders", queue.Message{Key: "s", Body: []byte("1"), Headers: map[string]string{"h": "v"}},
		queue.Message{Key: "s", Body: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	relayOnce(t, e.relay(t))
	if got := e.drain(t); strings.Join(got, ",") != "s:1,s:2" {
		t.Fatalf("relayed %q", got)
	}
}

func TestBadInput(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for name, c := range map[string]struct {
		topic string
		m     queue.Message
	}{
		"empty topic":    {"", queue.Message{}},
		"negative delay": {"t", queue.Message{Delay: -time.Second}},
		"NotBefore":      {"t", queue.Message{NotBefore: time.Now()}},
		"priority":       {"t", queue.Message{Priority: 99}},
	} {
		if err := outbox.Write(ctx, tx, c.topic, c.m); !errors.Is(err, outbox.ErrInvalidMessage) {
			t.Errorf("%s: Write = %v, want ErrInvalidMessage", name, err)
		}
	}
	if err := outbox.WriteSQL(ctx, nil, "t"); err == nil {
		t.Error("WriteSQL with a nil transaction did not fail")
	}
	if _, err := outbox.NewRelay(nil, e.q, nil, nil); err == nil {
		t.Error("NewRelay with a nil pool did not fail")
	}
}

// TestRunOneActiveRelay: two relays under one election; only the leader
// relays, and when it stops the other takes over.
func TestRunOneActiveRelay(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	lk, err := lock.New(memlock.New(nil), &lock.Options{TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run := func() (context.CancelFunc, chan error) {
		el, err := lock.NewElection(lk, "outbox-relay", nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := outbox.NewRelay(e.pool, e.q, el, &outbox.RelayOptions{PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(c) }()
		return cancel, done
	}
	stop1, done1 := run()
	stop2, done2 := run()
	defer stop2()
	write := func(body string) {
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Write(ctx, tx, "orders", queue.Message{Key: "r", Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			got = append(got, e.drain(t)...)
			if strings.Join(got, ",") == want {
				return
			}
		}
		t.Fatalf("relayed %q, want %q", got, want)
	}
	write("1")
	waitFor("r:1")
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("Run = %v", err)
	}
	write("2")
	waitFor("r:2")
	stop2()
	if err := <-done2; err != nil {
		t.Fatalf("Run = %v", err)
	}
}
