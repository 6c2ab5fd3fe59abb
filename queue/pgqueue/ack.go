package pgqueue

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// handle is a parsed delivery handle: the row's key and its delivery
// count.
type handle struct {
	seq  int64
	n    int32
	rank int16
}

// ackGroups coalesces concurrent Acks of one subscription into shared
// DELETEs (group commit, as River batches completions): the first Ack
// that finds no DELETE in flight sends one for its handles and for those
// queued meanwhile, and every caller returns once the DELETE holding its
// handles has committed. An Ack alone is sent at once; under load there
// is at most one ack DELETE per subscription in flight per Driver, each
// covering the handles of every caller that arrived while the previous
// one ran. Nothing is acknowledged before it is durable.
type ackGroups struct {
	mu     sync.Mutex
	groups map[int32]*ackGroup
	stmts  atomic.Int64 // DELETE statements sent, for tests
}

type ackGroup struct {
	busy    bool // a leader is flushing
	pending []handle
	waiters []chan error
}

// Ack implements driver.Queue: the handles are deleted in one statement
// (one per delivery count among them),
// shared with concurrent Acks of the same subscription; Ack returns when
// that statement has committed (or failed: then the messages are
// delivered again when their leases expire).
func (d *Driver) Ack(ctx context.Context, topic, sub string, handles []string) error {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return err
	}
	hs := make([]handle, 0, len(handles))
	for _, h := range handles {
		if s, n, r, ok := parseHandle(h); ok {
			hs = append(hs, handle{s, n, r})
		}
	}
	if len(hs) == 0 {
		return nil
	}
	a := &d.acks
	done := make(chan error, 1)
	a.mu.Lock()
	if a.groups == nil {
		a.groups = map[int32]*ackGroup{}
	}
	g := a.groups[sid]
	if g == nil {
		g = &ackGroup{}
		a.groups[sid] = g
	}
	g.pending = append(g.pending, hs...)
	g.waiters = append(g.waiters, done)
	if g.busy {
		a.mu.Unlock()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			// The handles stay queued and will be deleted or not; the
			// caller must assume not (the message may come again).
			return ctx.Err()
		}
	}
	g.busy = true
	a.mu.Unlock()
	// Leader: one DELETE for everything queued so far, on a context that
	// outlives this caller's cancellation (other callers wait on it) but
	// keeps its deadline.
	fctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		fctx, cancel = context.WithDeadline(fctx, dl)
		defer cancel()
	}
	d.flushAcks(fctx, sid, g)
	err = <-done
	// Handles queued during the DELETE go in the next one, sent by a
	// goroutine so that this caller returns now.
	a.mu.Lock()
	more := len(g.pending) > 0
	if !more {
		g.busy = false
	}
	a.mu.Unlock()
	if more {
		go d.drainAcks(sid, g)
	}
	return err
}

// flushAcks deletes the handles queued in g and tells their callers.
func (d *Driver) flushAcks(ctx context.Context, sid int32, g *ackGroup) {
	d.acks.mu.Lock()
	batch, waiters := g.pending, g.waiters
	g.pending, g.waiters = nil, nil
	d.acks.mu.Unlock()
	if len(waiters) == 0 {
		return
	}
	err := d.deleteHandles(ctx, sid, batch)
	for _, w := range waiters {
		w <- err
	}
}

// drainAcks flushes g until nothing is queued, then lets the next Ack
// lead.
func (d *Driver) drainAcks(sid int32, g *ackGroup) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), ackDrainTimeout)
		d.flushAcks(ctx, sid, g)
		cancel()
		d.acks.mu.Lock()
		if len(g.pending) == 0 {
			g.busy = false
			d.acks.mu.Unlock()
			return
		}
		d.acks.mu.Unlock()
	}
}

// ackDrainTimeout bounds a DELETE sent on behalf of callers that arrived
// while another ran.
const ackDrainTimeout = time.Minute

// deleteHandles runs ackSQL for hs: one statement per delivery count
// (almost always a single one), so that the count is a constant of the
// statement, an exact check that costs the same per row however large
// the batch.
func (d *Driver) deleteHandles(ctx context.Context, sid int32, hs []handle) error {
	// One handle per message: the statement looks a row's delivery count
	// up by its seq. Of two handles of one message only the later
	// delivery can still hold the lease; the earlier one is stale.
	slices.SortFunc(hs, func(a, b handle) int {
		if a.seq != b.seq {
			return cmp.Compare(a.seq, b.seq)
		}
		return cmp.Compare(b.n, a.n)
	})
	hs = slices.CompactFunc(hs, func(a, b handle) bool { return a.seq == b.seq })
	slices.SortStableFunc(hs, func(a, b handle) int { return cmp.Compare(a.n, b.n) })
	for len(hs) > 0 {
		k := 1
		for k < len(hs) && hs[k].n == hs[0].n {
			k++
		}
		seqs := make([]int64, k)
		ranks := make([]int16, k)
		for i, h := range hs[:k] {
			seqs[i], ranks[i] = h.seq, h.rank
		}
		slices.Sort(ranks)
		ranks = slices.Compact(ranks)
		d.acks.stmts.Add(1)
		if _, err := d.pool.Exec(ctx, ackSQL, sid, seqs, hs[0].n, ranks); err != nil {
			return err
		}
		hs = hs[k:]
	}
	return nil
}
