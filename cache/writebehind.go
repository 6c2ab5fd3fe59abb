package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Pair is one key/value write handed to a write-behind FlushFunc.
type Pair[K comparable, V any] struct {
	Key   K
	Value V
}

// FlushFunc writes a batch to the source of truth. It should be idempotent:
// a batch may be retried after a partial failure.
type FlushFunc[K comparable, V any] func(ctx context.Context, batch []Pair[K, V]) error

// WriteBehindOptions configure a WriteBehind. Zero fields take defaults.
type WriteBehindOptions[K comparable, V any] struct {
	// MaxPending bounds the distinct keys waiting to be flushed (default
	// 10,000). Put blocks while the queue is full.
	MaxPending int
	// BatchSize is the most writes per flush call; reaching it triggers a
	// flush at once (default 100).
	BatchSize int
	// Interval is the longest a write waits before a flush starts
	// (default 1s).
	Interval time.Duration
	// MaxAttempts is how many times a batch is tried before it is dropped
	// (default 5). RetryInitial and RetryMax shape the exponential backoff
	// with full jitter between attempts (defaults 50ms and 5s).
	MaxAttempts            int
	RetryInitial, RetryMax time.Duration
	// OnDrop is called with a batch given up after MaxAttempts, or left
	// unflushed when Close's context ended, and the last error.
	OnDrop func(batch []Pair[K, V], err error)
	// Clock is the time source; nil is the real clock.
	Clock clock.Clock
	// MeterProvider defaults to the global provider.
	MeterProvider metric.MeterProvider
}

// WriteBehindStats is a snapshot of a WriteBehind.
type WriteBehindStats struct {
	// Pending is the number of keys waiting (the queue depth); InFlight
	// the writes of the batch being flushed.
	Pending, InFlight int
	// LossWindow is the age of the oldest write not yet in the source:
	// what a crash right now would lose reaches back this far.
	LossWindow time.Duration
	// Flushed counts writes that reached the source; Coalesced writes
	// absorbed by a later write to the same key; Retries failed flush
	// attempts that were retried; Dropped writes given up.
	Flushed, Coalesced, Retries, Dropped uint64
}

// WriteBehind is the write-behind (write-back) strategy: Put updates the
// cache at once and queues the write; a background goroutine flushes the
// queue to the source in batches.
//
// Loss bound: writes acknowledged by Put but not yet flushed live only in
// this process. If it crashes, at most MaxPending + BatchSize writes are
// lost, each at most LossWindow old; in steady state LossWindow stays under
// Interval plus the flush time (plus backoff while the source fails).
// Writes to one key are coalesced, so only the latest value is written, and
// batches are flushed in order, one at a time. Close flushes everything.
//
// A WriteBehind is safe for concurrent use. Create it with NewWriteBehind.
type WriteBehind[K comparable, V any] struct {
	c     *Cache[K, V]
	flush FlushFunc[K, V]
	o     WriteBehindOptions[K, V]
	clk   clock.Clock
	pol   backoff.Policy

	mu       sync.Mutex
	pending  map[K]*pendingWrite[V]
	flying   map[K]V // the batch being flushed, visible to reads until done
	seq      uint64
	order    []K
	space    chan struct{} // closed when the queue shrinks
	inflight int
	inSince  time.Time
	closed   bool

	kick    chan struct{}
	flushRq chan chan error
	stop    chan context.Context
	stopped chan error
	done    chan struct{} // closed when the loop exits
	ctx     context.Context
	cancel  context.CancelFunc

	flushed, coalesced, retries, dropped atomic.Uint64
	reg                                  metric.Registration
}

type pendingWrite[V any] struct {
	value V
	since time.Time
	seq   uint64 // of the Put that last wrote value
}

// NewWriteBehind starts a write-behind queue in front of c that flushes
// with flush. Close it to flush and stop.
func NewWriteBehind[K comparable, V any](c *Cache[K, V], flush FlushFunc[K, V], opts *WriteBehindOptions[K, V]) (*WriteBehind[K, V], error) {
	if c == nil {
		return nil, errors.New("cache: write-behind needs a cache")
	}
	if flush == nil {
		return nil, ErrNilLoader
	}
	var o WriteBehindOptions[K, V]
	if opts != nil {
		o = *opts
	}
	if o.MaxPending < 0 || o.BatchSize < 0 || o.Interval < 0 || o.MaxAttempts < 0 || o.RetryInitial < 0 || o.RetryMax < 0 {
		return nil, fmt.Errorf("%w: negative write-behind option", ErrInvalidTTL)
	}
	if o.MaxPending == 0 {
		o.MaxPending = 10_000
	}
	if o.BatchSize == 0 {
		o.BatchSize = 100
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.RetryInitial == 0 {
		o.RetryInitial = 50 * time.Millisecond
	}
	if o.RetryMax == 0 {
		o.RetryMax = 5 * time.Second
	}
	w := &WriteBehind[K, V]{
		c: c, flush: flush, o: o, clk: clock.Or(o.Clock),
		pol:     backoff.Policy{Initial: o.RetryInitial, Max: o.RetryMax, MaxAttempts: o.MaxAttempts},
		pending: make(map[K]*pendingWrite[V]),
		flying:  make(map[K]V),
		space:   make(chan struct{}),
		kick:    make(chan struct{}, 1),
		flushRq: make(chan chan error),
		stop:    make(chan context.Context),
		stopped: make(chan error, 1),
		done:    make(chan struct{}),
	}
	if err := w.registerMetrics(); err != nil {
		return nil, err
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	ticker := w.clk.NewTicker(o.Interval)
	go w.loop(ticker)
	return w, nil
}

// Put queues value for the source and stores it in the cache. It blocks
// while MaxPending keys are waiting, until there is room or ctx ends.
// After Close it returns ErrClosed without touching the cache. If the cache
// write fails, the write is taken back from the queue (unless a later Put
// to the key replaced it) and the error is returned.
//
// Until a write has reached the source, Get and GetOrLoad of this
// WriteBehind return it even if the cache evicted it; read through them,
// not through the Cache alone, so that a miss never loads the source's
// older value.
func (w *WriteBehind[K, V]) Put(ctx context.Context, key K, value V) error {
	seq, err := w.enqueue(ctx, key, value)
	if err != nil {
		return err
	}
	if err := w.c.Set(ctx, key, value); err != nil {
		w.mu.Lock()
		if p, ok := w.pending[key]; ok && p.seq == seq {
			delete(w.pending, key)
			for i, k := range w.order {
				if k == key {
					w.order = append(w.order[:i], w.order[i+1:]...)
					break
				}
			}
		}
		w.mu.Unlock()
		return err
	}
	return nil
}

func (w *WriteBehind[K, V]) enqueue(ctx context.Context, key K, value V) (uint64, error) {
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return 0, ErrClosed
		}
		w.seq++
		seq := w.seq
		if p, ok := w.pending[key]; ok {
			p.value, p.seq = value, seq
			w.mu.Unlock()
			w.coalesced.Add(1)
			return seq, nil
		}
		if len(w.pending) < w.o.MaxPending {
			w.pending[key] = &pendingWrite[V]{value: value, since: w.clk.Now(), seq: seq}
			w.order = append(w.order, key)
			full := len(w.order) >= w.o.BatchSize
			w.mu.Unlock()
			if full {
				select {
				case w.kick <- struct{}{}:
				default:
				}
			}
			return seq, nil
		}
		space := w.space
		w.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// unflushed returns the newest write of key not yet in the source.
func (w *WriteBehind[K, V]) unflushed(key K) (V, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.pending[key]; ok {
		return p.value, true
	}
	v, ok := w.flying[key]
	return v, ok
}

// Get returns key's value: a write not yet flushed to the source if there
// is one, else what the cache holds.
func (w *WriteBehind[K, V]) Get(ctx context.Context, key K) (V, bool, error) {
	if v, ok := w.unflushed(key); ok {
		return v, true, nil
	}
	return w.c.Get(ctx, key)
}

// GetOrLoad returns key's value: a write not yet flushed to the source if
// there is one, else the cache's, loading it with loader on a miss. A
// value loaded while a write to key was queued is replaced by that write,
// so the source's older value is neither returned nor cached.
func (w *WriteBehind[K, V]) GetOrLoad(ctx context.Context, key K, loader LoaderFunc[K, V]) (V, error) {
	if v, ok := w.unflushed(key); ok {
		return v, nil
	}
	if loader == nil {
		var zero V
		return zero, ErrNilLoader
	}
	return w.c.GetOrLoad(ctx, key, func(ctx context.Context, k K) (V, error) {
		v, err := loader(ctx, k)
		if pv, ok := w.unflushed(k); ok {
			return pv, nil
		}
		return v, err
	})
}

// Flush writes everything queued so far to the source and returns the
// first error of a batch that was dropped.
func (w *WriteBehind[K, V]) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case w.flushRq <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return ErrClosed
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting writes, flushes the queue (retrying as configured,
// until ctx ends) and stops the background goroutine. Writes still queued
// when ctx ends are dropped (OnDrop) and ctx.Err() is returned.
func (w *WriteBehind[K, V]) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	w.mu.Unlock()
	// If ctx ends while a background flush is retrying, cancel it too.
	stopCancel := context.AfterFunc(ctx, w.cancel)
	defer stopCancel()
	w.stop <- ctx
	err := <-w.stopped
	_ = w.reg.Unregister()
	return err
}

// Stats returns the queue's current state and counters.
func (w *WriteBehind[K, V]) Stats() WriteBehindStats {
	w.mu.Lock()
	s := WriteBehindStats{Pending: len(w.pending), InFlight: w.inflight}
	var oldest time.Time
	if w.inflight > 0 {
		oldest = w.inSince
	}
	if len(w.order) > 0 {
		if p := w.pending[w.order[0]]; p != nil && (oldest.IsZero() || p.since.Before(oldest)) {
			oldest = p.since
		}
	}
	w.mu.Unlock()
	if !oldest.IsZero() {
		s.LossWindow = w.clk.Since(oldest)
	}
	s.Flushed, s.Coalesced = w.flushed.Load(), w.coalesced.Load()
	s.Retries, s.Dropped = w.retries.Load(), w.dropped.Load()
	return s
}

func (w *WriteBehind[K, V]) loop(ticker clock.Ticker) {
	defer ticker.Stop()
	defer close(w.done)
	defer w.cancel()
	ctx := w.ctx
	for {
		select {
		case <-ticker.C():
			_ = w.drain(ctx, 1)
		case <-w.kick:
			_ = w.drain(ctx, w.o.BatchSize)
		case reply := <-w.flushRq:
			reply <- w.drain(ctx, 1)
		case cctx := <-w.stop:
			err := w.drain(cctx, 1)
			if cerr := cctx.Err(); cerr != nil {
				w.dropRest(cerr)
				err = cerr
			}
			w.stopped <- err
			return
		}
	}
}

// drain flushes batches while at least min writes are queued.
func (w *WriteBehind[K, V]) drain(ctx context.Context, atLeast int) error {
	var first error
	for {
		batch := w.take(atLeast)
		if batch == nil {
			return first
		}
		if err := w.flushBatch(ctx, batch); err != nil && first == nil {
			first = err
		}
	}
}

// take removes up to BatchSize queued writes, oldest first, if at least
// atLeast are queued.
func (w *WriteBehind[K, V]) take(atLeast int) []Pair[K, V] {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.order) == 0 || len(w.order) < atLeast {
		return nil
	}
	n := min(w.o.BatchSize, len(w.order))
	batch := make([]Pair[K, V], n)
	since := w.pending[w.order[0]].since
	for i, k := range w.order[:n] {
		batch[i] = Pair[K, V]{Key: k, Value: w.pending[k].value}
		w.flying[k] = batch[i].Value
		delete(w.pending, k)
	}
	w.order = append(w.order[:0], w.order[n:]...)
	w.inflight, w.inSince = n, since
	close(w.space)
	w.space = make(chan struct{})
	return batch
}

func (w *WriteBehind[K, V]) flushBatch(ctx context.Context, batch []Pair[K, V]) error {
	attempt := 0
	err := backoff.Retry(ctx, w.pol, w.clk, func(ctx context.Context) error {
		if attempt > 0 {
			w.retries.Add(1)
		}
		attempt++
		return w.flush(ctx, batch)
	})
	w.mu.Lock()
	w.inflight = 0
	clear(w.flying)
	w.mu.Unlock()
	if err != nil {
		w.dropped.Add(uint64(len(batch)))
		if w.o.OnDrop != nil {
			w.o.OnDrop(batch, err)
		}
		return fmt.Errorf("cache: write-behind flush of %d writes: %w", len(batch), err)
	}
	w.flushed.Add(uint64(len(batch)))
	return nil
}

func (w *WriteBehind[K, V]) dropRest(err error) {
	for {
		batch := w.take(1)
		if batch == nil {
			return
		}
		w.mu.Lock()
		w.inflight = 0
		clear(w.flying)
		w.mu.Unlock()
		w.dropped.Add(uint64(len(batch)))
		if w.o.OnDrop != nil {
			w.o.OnDrop(batch, err)
		}
	}
}

func (w *WriteBehind[K, V]) registerMetrics() error {
	m := otelx.Meter(w.o.MeterProvider, "cache")
	depth := otelx.Must(m.Int64ObservableGauge("scalekit.cache.writebehind.queue_depth", metric.WithUnit("{key}"), metric.WithDescription("keys waiting to be flushed")))
	window := otelx.Must(m.Float64ObservableGauge("scalekit.cache.writebehind.loss_window", metric.WithUnit("s"), metric.WithDescription("age of the oldest write not yet flushed")))
	flushed := otelx.Must(m.Int64ObservableCounter("scalekit.cache.writebehind.flushed", metric.WithUnit("{write}"), metric.WithDescription("writes flushed to the source")))
	dropped := otelx.Must(m.Int64ObservableCounter("scalekit.cache.writebehind.dropped", metric.WithUnit("{write}"), metric.WithDescription("writes given up")))
	opt := metric.WithAttributes(w.c.attrs...)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := w.Stats()
		o.ObserveInt64(depth, int64(s.Pending+s.InFlight), opt)
		o.ObserveFloat64(window, s.LossWindow.Seconds(), opt)
		o.ObserveInt64(flushed, int64(s.Flushed), opt)
		o.ObserveInt64(dropped, int64(s.Dropped), opt)
		return nil
	}, depth, window, flushed, dropped)
	w.reg = reg
	return err
}
