package pgqueue_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/pgqueue"
)

// ackEnv is a driver on a fresh database with topic "t", subscription
// "s", and n messages published at priorities cycling through prios.
func ackEnv(t *testing.T, n int, prios ...int) (*pgqueue.Driver, context.Context) {
	t.Helper()
	return ackEnvAt(t, dbURL(t), n, prios...)
}

func ackEnvAt(t *testing.T, url string, n int, prios ...int) (*pgqueue.Driver, context.Context) {
	t.Helper()
	ctx := context.Background()
	d := open(t, url, &pgqueue.Options{PollOnly: true})
	if err := d.Subscribe(ctx, "t", "s"); err != nil {
		t.Fatal(err)
	}
	msgs := make([]driver.Message, n)
	for i := range msgs {
		msgs[i] = driver.Message{ID: strconv.Itoa(i), Body: []byte{byte(i)}}
		if len(prios) > 0 {
			msgs[i].Priority = prios[i%len(prios)]
		}
	}
	if err := d.Publish(ctx, "t", msgs); err != nil {
		t.Fatal(err)
	}
	return d, ctx
}

func handles(ds []driver.Delivery) []string {
	hs := make([]string, len(ds))
	for i := range ds {
		hs[i] = ds[i].Handle
	}
	return hs
}

func backlog(t *testing.T, d *pgqueue.Driver, ctx context.Context) int64 {
	t.Helper()
	st, err := d.Stats(ctx, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	return st.Backlog
}

// TestAckBatchMixedPriorities acks one batch spanning several priorities
// (the statement probes the key with = ANY on rank and seq) and checks
// that exactly those rows go, and that Receive returned them in delivery
// order.
func TestAckBatchMixedPriorities(t *testing.T) {
	d, ctx := ackEnv(t, 30, 0, 5, -3)
	ds, err := d.Receive(ctx, "t", "s", 20, time.Minute)
	if err != nil || len(ds) != 20 {
		t.Fatalf("Receive: %d, %v", len(ds), err)
	}
	for i := 1; i < len(ds); i++ {
		if ds[i].Priority > ds[i-1].Priority {
			t.Fatalf("delivery %d has priority %d after %d", i, ds[i].Priority, ds[i-1].Priority)
		}
	}
	if err := d.Ack(ctx, "t", "s", handles(ds)); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, d, ctx); n != 10 {
		t.Fatalf("backlog %d after acking 20 of 30, want 10", n)
	}
}

// TestAckStaleHandleAfterRedelivery: a handle from an expired lease must
// not delete the message once it has been delivered again, even in a
// batch with live handles; the live ones go.
func TestAckStaleHandleAfterRedelivery(t *testing.T) {
	d, ctx := ackEnv(t, 4)
	first, err := d.Receive(ctx, "t", "s", 2, 50*time.Millisecond)
	if err != nil || len(first) != 2 {
		t.Fatalf("Receive: %d, %v", len(first), err)
	}
	// Lease the other two for long, then wait (polling, bounded) until
	// the first leases have expired and those two come again, now with
	// delivery count 2.
	if ds, err := d.Receive(ctx, "t", "s", 4, time.Minute); err != nil || len(ds) != 2 {
		t.Fatalf("Receive of the other two: %d, %v", len(ds), err)
	}
	var again []driver.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for len(again) < 2 && time.Now().Before(deadline) {
		ds, err := d.Receive(ctx, "t", "s", 4, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ds {
			if x.ID != first[0].ID && x.ID != first[1].ID || x.Deliveries != 2 {
				t.Fatalf("redelivered %s (delivery %d), want one of the first two", x.ID, x.Deliveries)
			}
			again = append(again, x)
		}
	}
	if len(again) != 2 {
		t.Fatalf("redelivered %d of 2", len(again))
	}
	// Stale handles plus one live one: only the live one is deleted.
	if err := d.Ack(ctx, "t", "s", append(handles(first), again[0].Handle, "garbage", "1.2", "x.y.z")); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, d, ctx); n != 3 {
		t.Fatalf("backlog %d, want 3 (stale handles must not delete)", n)
	}
	if err := d.Extend(ctx, "t", "s", again[1].Handle, time.Minute); err != nil {
		t.Fatalf("the message of a stale handle lost its live lease: %v", err)
	}
}

// TestAckRacesExtend runs Ack and Extend of the same leases at once: the
// ack's conditions are rechecked on the version Extend wrote, so every
// ack deletes its row whichever commits first.
func TestAckRacesExtend(t *testing.T) {
	const n = 200
	d, ctx := ackEnv(t, n)
	ds, err := d.Receive(ctx, "t", "s", n, time.Minute)
	if err != nil || len(ds) != n {
		t.Fatalf("Receive: %d, %v", len(ds), err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for _, x := range ds {
			err := d.Extend(ctx, "t", "s", x.Handle, time.Minute)
			if err != nil && err != driver.ErrNotLeased {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		hs := handles(ds)
		for len(hs) > 0 {
			k := min(len(hs), 10)
			if err := d.Ack(ctx, "t", "s", hs[:k]); err != nil {
				t.Error(err)
			}
			hs = hs[k:]
		}
	}()
	wg.Wait()
	if b := backlog(t, d, ctx); b != 0 {
		t.Fatalf("backlog %d after acking all %d under concurrent Extend, want 0", b, n)
	}
}

// TestReceivePlanIsBounded checks the shape of the lease statement's plan
// on a table whose statistics say every row is leased: the ordered walk of
// the primary key that stops after the limit, and a TID scan for the
// update; never a scan of the whole table, a sort or a hash join.
func TestReceivePlanIsBounded(t *testing.T) {
	url := dbURL(t)
	_, ctx := ackEnvAt(t, url, 0)
	p := pool(t, url)
	if _, err := p.Exec(ctx, `INSERT INTO scalekit_queue_msgs (sub_id, id, body, not_before, published_at, lease_until)
		SELECT 1, g::text, '\x00', now(), now(), now() + interval '1 hour' FROM generate_series(1, 5000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, "ANALYZE scalekit_queue_msgs"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, "UPDATE scalekit_queue_msgs SET lease_until = NULL"); err != nil {
		t.Fatal(err)
	}
	tx, err := p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, pgqueue.ReceiveSettingsForTest); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF) "+pgqueue.ReceiveSQLForTest, 1, 100, time.Minute.Microseconds())
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	for _, bad := range []string{"Seq Scan on scalekit_queue_msgs", "Sort", "Hash Join", "Bitmap"} {
		if strings.Contains(text, bad) {
			t.Errorf("plan has %q:\n%s", bad, text)
		}
	}
	for _, want := range []string{"Index Scan using scalekit_queue_msgs_pkey", "Tid Scan", "rows=100 loops=1"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
}

// TestConcurrentAcksAreDurableOnReturn acks 400 leases from 40
// goroutines at once; each checks, right after its Ack returns, that its
// rows are gone.
func TestConcurrentAcksAreDurableOnReturn(t *testing.T) {
	const n, callers = 400, 40
	url := dbURL(t)
	d, ctx := ackEnvAt(t, url, n)
	ds, err := d.Receive(ctx, "t", "s", n, time.Minute)
	if err != nil || len(ds) != n {
		t.Fatalf("Receive: %d, %v", len(ds), err)
	}
	p := pool(t, url)
	s0 := pgqueue.AckStatements(d)
	per := n / callers
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := ds[c*per : (c+1)*per]
			if err := d.Ack(ctx, "t", "s", handles(mine)); err != nil {
				t.Error(err)
				return
			}
			seqs := make([]int64, len(mine))
			for i := range mine {
				seqs[i], _ = strconv.ParseInt(strings.SplitN(mine[i].Handle, ".", 2)[0], 10, 64)
			}
			var left int
			if err := p.QueryRow(ctx, "SELECT count(*) FROM scalekit_queue_msgs WHERE seq = ANY($1)", seqs).Scan(&left); err != nil {
				t.Error(err)
			} else if left != 0 {
				t.Errorf("Ack returned with %d of its %d rows still there", left, len(mine))
			}
		}()
	}
	wg.Wait()
	if b := backlog(t, d, ctx); b != 0 {
		t.Fatalf("backlog %d after all acks, want 0", b)
	}
	// How many DELETEs the calls shared depends on the scheduling; it is
	// logged, not asserted.
	t.Logf("%d concurrent Acks took %d DELETE statements", callers, pgqueue.AckStatements(d)-s0)
}

// TestAckCancelledWhileQueued: an Ack whose context has ended returns
// (whether it would have led a DELETE or waited for one), and later Acks
// of the same and other handles still work.
func TestAckCancelledWhileQueued(t *testing.T) {
	d, ctx := ackEnv(t, 10)
	ds, err := d.Receive(ctx, "t", "s", 10, time.Minute)
	if err != nil || len(ds) != 10 {
		t.Fatalf("Receive: %d, %v", len(ds), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_ = d.Ack(cctx, "t", "s", handles(ds[:5]))
	if err := d.Ack(ctx, "t", "s", handles(ds[5:])); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx, "t", "s", handles(ds[:5])); err != nil {
		t.Fatal(err)
	}
	if b := backlog(t, d, ctx); b != 0 {
		t.Fatalf("backlog %d, want 0", b)
	}
}

// TestAckMixedDeliveryCounts acks, in one call, handles of first and of
// second deliveries (one statement per count) and checks that all go.
func TestAckMixedDeliveryCounts(t *testing.T) {
	d, ctx := ackEnv(t, 6)
	ds, err := d.Receive(ctx, "t", "s", 3, time.Minute)
	if err != nil || len(ds) != 3 {
		t.Fatalf("Receive: %d, %v", len(ds), err)
	}
	for _, x := range ds {
		if err := d.Nack(ctx, "t", "s", x.Handle, driver.Nack{Action: driver.ActionRetry}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := d.Receive(ctx, "t", "s", 6, time.Minute)
	if err != nil || len(all) != 6 {
		t.Fatalf("Receive: %d, %v", len(all), err)
	}
	counts := map[int]int{}
	for _, x := range all {
		counts[x.Deliveries]++
	}
	if counts[1] != 3 || counts[2] != 3 {
		t.Fatalf("delivery counts %v, want three of 1 and three of 2", counts)
	}
	if err := d.Ack(ctx, "t", "s", handles(all)); err != nil {
		t.Fatal(err)
	}
	if b := backlog(t, d, ctx); b != 0 {
		t.Fatalf("backlog %d, want 0", b)
	}
}
