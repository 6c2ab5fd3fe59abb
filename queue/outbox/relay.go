package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/queue"
)

// RelayOptions configures a Relay. A nil *RelayOptions means the defaults.
type RelayOptions struct {
	// Batch is the most rows relayed per pass (default 500).
	Batch int
	// PollInterval is the wait between passes that found nothing
	// (default 100ms).
	PollInterval time.Duration
	// Value is what the relay announces through the election while it
	// leads (default "outbox-relay").
	Value string
}

// Relay publishes the rows of the outbox to a queue, in id order, and
// deletes them once published. Only one relay in a fleet is active at a
// time: Run campaigns through a lock.Election and relays while it leads.
//
// Rows are never skipped: a pass reads the oldest rows still in the table
// rather than rows after the last id relayed, so a row whose id was
// allocated before, but whose transaction committed after, rows already
// relayed is simply relayed by a later pass. Rows of one ordering key are
// committed in id order (Write locks the key), so they are published in
// order. Delivery is at least once: a relay that dies between publishing
// and deleting publishes those rows again, with the same message ids as
// DedupIDs, so backends with deduplication store them once.
//
// A Relay is safe for concurrent use, but one Run per Relay is enough.
type Relay struct {
	pool *pgxpool.Pool
	q    *queue.Queue
	el   *lock.Election
	o    RelayOptions
}

// NewRelay returns a relay from the outbox in pool to q, led through el
// (which may be nil for RelayOnce-only use). It does no I/O.
func NewRelay(pool *pgxpool.Pool, q *queue.Queue, el *lock.Election, opts *RelayOptions) (*Relay, error) {
	if pool == nil || q == nil {
		return nil, errors.New("outbox: NewRelay with a nil pool or queue")
	}
	var o RelayOptions
	if opts != nil {
		o = *opts
	}
	if o.Batch < 0 || o.PollInterval < 0 {
		return nil, errors.New("outbox: negative value in RelayOptions")
	}
	if o.Batch == 0 {
		o.Batch = 500
	}
	if o.PollInterval == 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.Value == "" {
		o.Value = "outbox-relay"
	}
	return &Relay{pool: pool, q: q, el: el, o: o}, nil
}

// Run campaigns for leadership and relays while it leads, until ctx ends
// (it then returns nil after resigning). When the lease is lost it stops
// relaying and campaigns again.
func (r *Relay) Run(ctx context.Context) error {
	if r.el == nil {
		return errors.New("outbox: Run needs an election (NewRelay with a nil election)")
	}
	for ctx.Err() == nil {
		lease, err := r.el.Campaign(ctx, r.o.Value)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !sleep(ctx, r.o.PollInterval) {
				return nil
			}
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lease.Done():
				cancel()
			case <-lctx.Done():
			}
		}()
		r.lead(lctx)
		cancel()
		_ = r.el.Resign(context.WithoutCancel(ctx))
	}
	return nil
}

func (r *Relay) lead(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := r.RelayOnce(ctx)
		if (err != nil || n == 0) && !sleep(ctx, r.o.PollInterval) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// RelayOnce relays up to Batch of the oldest committed rows, publishing
// consecutive rows of one topic as one batch, and reports how many it
// relayed. Run calls it while leading; call it directly only where a
// single caller is guaranteed.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	rs, err := r.pool.Query(ctx, `SELECT id, topic, msg_id, key, body, headers, priority, delay_us
FROM scalekit_outbox ORDER BY id LIMIT $1`, r.o.Batch)
	if err != nil {
		return 0, err
	}
	type item struct {
		id    int64
		topic string
		m     queue.Message
	}
	var items []item
	for rs.Next() {
		var it item
		var hdr []byte
		var prio int16
		var delay int64
		if err := rs.Scan(&it.id, &it.topic, &it.m.ID, &it.m.Key, &it.m.Body, &hdr, &prio, &delay); err != nil {
			rs.Close()
			return 0, err
		}
		if len(hdr) > 0 {
			if err := json.Unmarshal(hdr, &it.m.Headers); err != nil {
				rs.Close()
				return 0, err
			}
		}
		it.m.Priority = int(prio)
		it.m.Delay = time.Duration(delay) * time.Microsecond
		it.m.DedupID = it.m.ID
		items = append(items, it)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return 0, err
	}
	done := 0
	for done < len(items) {
		end := done
		var msgs []queue.Message
		for end < len(items) && items[end].topic == items[done].topic {
			msgs = append(msgs, items[end].m)
			end++
		}
		if _, err := r.q.Publish(ctx, items[done].topic, msgs...); err != nil {
			return done, fmt.Errorf("outbox: publish to %q: %w", items[done].topic, err)
		}
		ids := make([]int64, 0, end-done)
		for _, it := range items[done:end] {
			ids = append(ids, it.id)
		}
		if _, err := r.pool.Exec(ctx, "DELETE FROM scalekit_outbox WHERE id = ANY($1)", ids); err != nil {
			return done, fmt.Errorf("outbox: delete relayed rows: %w", err)
		}
		done = end
	}
	return done, nil
}
