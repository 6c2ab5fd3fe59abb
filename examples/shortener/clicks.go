package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"
)

// counter is an atomic count shown on the debug page.
type counter = atomic.Int64

// Click is one redirect, published by the node that served it and counted
// by the analytics consumer. ID (a Snowflake) is the idempotency key: the
// stats store applies each ID at most once, so a redelivered click (after a
// consumer crash between applying and acknowledging) is not counted twice.
type Click struct {
	ID       int64     `json:"id"`
	Code     string    `json:"code"`
	At       time.Time `json:"at"`
	Referrer string    `json:"ref,omitempty"`
	UA       string    `json:"ua,omitempty"`
	Visitor  string    `json:"visitor"`
}

// Delivery is a click handed to a consumer; Ack it with its Tag.
type Delivery struct {
	Tag   string
	Click Click
}

// ClickQueue carries clicks from the redirect path to the consumer with
// at-least-once delivery (kitQueue: package queue on memqueue, redisqueue
// or pgqueue): a received but unacknowledged click is delivered
// again after the queue's visibility timeout.
type ClickQueue interface {
	Publish(ctx context.Context, c Click) error
	// Receive waits up to wait for clicks and returns at most n.
	Receive(ctx context.Context, n int, wait time.Duration) ([]Delivery, error)
	Ack(ctx context.Context, tags ...string) error
	// Backlog is the number of clicks published and not yet acknowledged.
	Backlog(ctx context.Context) (int64, error)
	// DeadLetters is the number of clicks in the dead-letter queue.
	DeadLetters(ctx context.Context) (int64, error)
	// Backend names the engine, for the debug page.
	Backend() string
	Close() error
}

// NameCount is one row of a top-N table.
type NameCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// HourCount is the number of human clicks in one UTC hour.
type HourCount struct {
	Hour  time.Time `json:"hour"`
	Count int64     `json:"count"`
}

// Stats is the analytics of one link.
type Stats struct {
	Code      string      `json:"code"`
	Clicks    int64       `json:"clicks"`
	Bots      int64       `json:"bots"`
	Unique    uint64      `json:"unique_visitors"`
	Hours     []HourCount `json:"hours"`
	Referrers []NameCount `json:"referrers"`
	Browsers  []NameCount `json:"browsers"`
	OS        []NameCount `json:"os"`
}

// StatsStore aggregates clicks. Apply must be idempotent per Click.ID.
type StatsStore interface {
	// Apply counts the clicks whose IDs it has not seen and returns how
	// many it counted.
	Apply(ctx context.Context, clicks []Click) (int, error)
	// Get returns the stats of code (zero stats when it has none).
	Get(ctx context.Context, code string) (Stats, error)
	// Delete forgets code's stats.
	Delete(ctx context.Context, code string) error
	Close() error
}

// errCrash is what the fault hook returns to simulate a consumer that dies.
var errCrash = errors.New("shortener: injected consumer crash")

// consumer moves clicks from the queue into the stats store: receive a
// batch, apply it, acknowledge it. A crash anywhere before the ack leaves
// the batch to be redelivered; Apply's dedup by click ID then counts every
// click exactly once.
type consumer struct {
	q     ClickQueue
	stats StatsStore
	log   *slog.Logger
	batch int
	// crash, when set, is asked after each half of a batch is applied
	// (half = 1 or 2); true makes the consumer stop there, without acking,
	// as if the process had died.
	crash func(half int) bool

	applied, dupes, batches counter
	done                    chan struct{}
	stop                    context.CancelFunc
}

func startConsumer(q ClickQueue, stats StatsStore, log *slog.Logger, crash func(int) bool) *consumer {
	ctx, cancel := context.WithCancel(context.Background())
	// A consumer has a queue client of its own, closed when it stops or
	// dies, as a consumer process's would be: the leases it still holds
	// are then no longer extended and lapse.
	var own ClickQueue
	if f, ok := q.(interface {
		forConsumer(context.Context) (ClickQueue, error)
	}); ok {
		if cq, err := f.forConsumer(ctx); err == nil {
			q, own = cq, cq
		} else {
			log.Warn("click consumer: own queue client", "err", err)
		}
	}
	c := &consumer{q: q, stats: stats, log: log, batch: 256, crash: crash, done: make(chan struct{}), stop: cancel}
	go func() {
		c.run(ctx)
		if own != nil {
			_ = own.Close()
		}
		close(c.done)
	}()
	return c
}

func (c *consumer) run(ctx context.Context) {
	for ctx.Err() == nil {
		ds, err := c.q.Receive(ctx, c.batch, 200*time.Millisecond)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("click queue receive", "err", err)
				wait(ctx, 200*time.Millisecond)
			}
			continue
		}
		if len(ds) == 0 {
			continue
		}
		if err := c.handle(ctx, ds); err != nil {
			if errors.Is(err, errCrash) {
				c.log.Warn("click consumer crashed (injected)")
				return
			}
			c.log.Warn("click batch failed; it will be redelivered", "err", err)
			wait(ctx, 200*time.Millisecond)
		}
	}
}

func (c *consumer) handle(ctx context.Context, ds []Delivery) error {
	clicks := make([]Click, len(ds))
	tags := make([]string, len(ds))
	for i, d := range ds {
		clicks[i], tags[i] = d.Click, d.Tag
	}
	mid := (len(clicks) + 1) / 2
	for half, part := range [][]Click{clicks[:mid], clicks[mid:]} {
		if len(part) == 0 {
			continue
		}
		n, err := c.stats.Apply(ctx, part)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		c.applied.Add(int64(n))
		c.dupes.Add(int64(len(part) - n))
		if c.crash != nil && c.crash(half+1) {
			return errCrash
		}
	}
	c.batches.Add(1)
	return c.q.Ack(ctx, tags...)
}

// Close stops the consumer after its current batch.
func (c *consumer) Close() {
	c.stop()
	<-c.done
}

// Done is closed when the consumer stopped (closed or crashed).
func (c *consumer) Done() <-chan struct{} { return c.done }

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// topN sorts counts by count (then name) and keeps n.
func topN(m map[string]int64, n int) []NameCount {
	out := make([]NameCount, 0, len(m))
	for k, v := range m {
		out = append(out, NameCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
