package lock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// Holder describes the live holder of a key: its owner id, metadata,
// fencing token and, where the backend knows it, the time left on its
// lease.
type Holder = driver.Holder

// Locker hands out leases on keys of one backend. It validates input,
// waits, retries transient errors, renews leases in the background and
// reports spans and metrics; the driver only talks to the engine.
//
// A Locker is safe for concurrent use. It holds no resources of its own
// (each Lease has its own renewal timer), so it needs no Close. The zero
// value is not usable; call New.
type Locker struct {
	d      driver.Locker
	opts   Options
	clk    clock.Clock
	maxKey int
	minTTL time.Duration
	retry  driver.Retryable // nil when the driver cannot tell
	notify driver.Notifier
	queue  driver.Queuer
	local  bool // the driver does no I/O: no spans

	tracer  trace.Tracer
	acquire metric.Int64Counter
	lost    metric.Int64Counter
	waited  metric.Float64Histogram
	// name is the scalekit.name attribute; nameOpt and the res* options
	// are the metric attribute sets built once in New.
	name                             attribute.KeyValue
	nameOpt                          metric.MeasurementOption
	resAcquired, resLocked, resError metric.MeasurementOption
}

// New returns a Locker over d. It does no I/O. Options are validated here:
// a TTL below MinTTL (or the backend's minimum) or a renewal period not
// shorter than the TTL is an error wrapping ErrInvalidTTL.
func New(d driver.Locker, opts *Options) (*Locker, error) {
	if d == nil {
		return nil, errors.New("lock: New with a nil driver")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.TTL < 0 || o.RenewEvery < 0 || o.PollInitial < 0 || o.PollMax < 0 {
		return nil, fmt.Errorf("%w: negative duration in Options", ErrInvalidTTL)
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.RenewEvery == 0 {
		o.RenewEvery = o.TTL / 3
	}
	if o.PollInitial == 0 {
		o.PollInitial = 5 * time.Millisecond
	}
	if o.PollMax == 0 {
		o.PollMax = 500 * time.Millisecond
	}
	if o.PollMax < o.PollInitial {
		o.PollMax = o.PollInitial
	}
	if o.Meta == "" {
		o.Meta = defaultMeta()
	}
	lk := &Locker{d: d, opts: o, clk: clock.Or(o.Clock)}
	lk.maxKey, lk.minTTL = limitsOf(d)
	if err := lk.checkTTL(o.TTL, o.RenewEvery); err != nil {
		return nil, err
	}
	if o.Wait < WaitAuto || o.Wait > WaitNative {
		return nil, fmt.Errorf("lock: unknown wait strategy %v", o.Wait)
	}
	lk.retry, _ = d.(driver.Retryable)
	lk.notify, _ = d.(driver.Notifier)
	lk.queue, _ = d.(driver.Queuer)
	_, lk.local = d.(driver.Local)
	lk.tracer = otelx.Tracer(o.TracerProvider, "lock")
	m := otelx.Meter(o.MeterProvider, "lock")
	lk.acquire = otelx.Must(m.Int64Counter("scalekit.lock.acquires", metric.WithUnit("{attempt}"),
		metric.WithDescription("Acquisition attempts that returned, by result (acquired, locked, error)")))
	lk.lost = otelx.Must(m.Int64Counter("scalekit.lock.leases_lost", metric.WithUnit("{lease}"),
		metric.WithDescription("Leases lost before their holder released them")))
	lk.waited = otelx.Must(m.Float64Histogram("scalekit.lock.wait",
		metric.WithUnit("s"), metric.WithDescription("Time Acquire waited for a held key")))
	lk.name = otelx.Name(o.Name, "lock")
	lk.nameOpt = metric.WithAttributeSet(attribute.NewSet(lk.name))
	res := func(r string) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(lk.name, attribute.String("scalekit.lock.result", r)))
	}
	lk.resAcquired, lk.resLocked, lk.resError = res("acquired"), res("locked"), res("error")
	return lk, nil
}

// Driver returns the backend the Locker was created with.
func (lk *Locker) Driver() driver.Locker { return lk.d }

// TryAcquire takes key if it is free and returns the lease; it returns an
// error wrapping ErrLocked at once if another owner holds key. Transient
// engine errors are returned, not retried.
func (lk *Locker) TryAcquire(ctx context.Context, key string, opts *AcquireOptions) (*Lease, error) {
	s, err := lk.prepare(key, opts)
	if err != nil {
		return nil, err
	}
	ctx, span := lk.start(ctx, "lock.TryAcquire", key)
	owner := newOwner()
	l, err := lk.try(ctx, key, owner, s)
	if err != nil && !errors.Is(err, ErrLocked) {
		lk.abandon(ctx, key, owner, s.ttl)
	}
	end(span, ignoreLocked(err))
	return l, err
}

// Acquire blocks until it holds key, and returns the lease. A permanent
// engine error (one the driver does not call retryable) ends it at once.
// When ctx ends first it leaves no claim on the key behind and returns
// ctx.Err(), unwrapped if the key was merely held, or wrapped together with
// the last transient engine error it retried (errors.Is works for both),
// so an unreachable engine is reported as such. How it
// waits is chosen by the Wait option: the backend's own queue or release
// notifications, else polling with jittered exponential backoff.
func (lk *Locker) Acquire(ctx context.Context, key string, opts *AcquireOptions) (*Lease, error) {
	s, err := lk.prepare(key, opts)
	if err != nil {
		return nil, err
	}
	ctx, span := lk.start(ctx, "lock.Acquire", key)
	start := lk.clk.Now()
	l, err := lk.acquireWait(ctx, key, s)
	lk.waited.Record(context.Background(), lk.clk.Since(start).Seconds(), lk.nameOpt)
	end(span, err)
	return l, err
}

func (lk *Locker) prepare(key string, opts *AcquireOptions) (settings, error) {
	if err := lk.checkKey(key); err != nil {
		return settings{}, err
	}
	return lk.resolve(opts)
}

func (lk *Locker) acquireWait(ctx context.Context, key string, s settings) (*Lease, error) {
	owner := newOwner()
	native := s.wait != WaitPoll
	if s.wait == WaitNative && lk.queue == nil && lk.notify == nil {
		return nil, fmt.Errorf("%w (key %q)", ErrNoNativeWait, key)
	}
	if native && lk.queue != nil {
		tok, err := lk.queue.Acquire(ctx, driver.Request{Key: key, Owner: owner, TTL: s.ttl, Meta: s.meta})
		var start time.Time
		if err == nil {
			// The time spent queued must not count against the lease:
			// renew once, and measure validity from just before it.
			start = lk.clk.Now()
			err = lk.d.Renew(ctx, key, owner, s.ttl)
		}
		if err != nil {
			lk.acquire.Add(context.Background(), 1, lk.resError)
			lk.abandon(ctx, key, owner, s.ttl)
			return nil, opErr(ctx, "acquire", key, err)
		}
		lk.acquire.Add(context.Background(), 1, lk.resAcquired)
		return lk.newLease(key, owner, tok, start, s), nil
	}
	bo := backoff.New(backoff.Policy{Initial: lk.opts.PollInitial, Max: lk.opts.PollMax}, lk.clk)
	// lastErr is the last engine error retried (not ErrLocked): if ctx ends
	// while the engine is failing, the caller learns why, not only that
	// time ran out.
	var lastErr error
	ctxErr := func(cerr error) error {
		if lastErr == nil {
			return cerr
		}
		return fmt.Errorf("%w (last engine error: %w)", cerr, lastErr)
	}
	for {
		var ready <-chan struct{}
		stop := func() {}
		if native && lk.notify != nil {
			if ch, st, err := lk.notify.Notify(ctx, key); err == nil {
				ready, stop = ch, st
			}
		}
		l, err := lk.try(ctx, key, owner, s)
		if err == nil {
			stop()
			return l, nil
		}
		if !errors.Is(err, ErrLocked) && !errors.Is(err, ctx.Err()) {
			if !lk.retryable(err) {
				stop()
				lk.abandon(ctx, key, owner, s.ttl)
				return nil, err
			}
			lastErr = err
		}
		if cerr := ctx.Err(); cerr != nil {
			stop()
			lk.abandon(ctx, key, owner, s.ttl)
			return nil, ctxErr(cerr)
		}
		d, _ := bo.Next()
		t := lk.clk.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			stop()
			lk.abandon(ctx, key, owner, s.ttl)
			return nil, ctxErr(ctx.Err())
		case <-ready:
		case <-t.C():
		}
		t.Stop()
		stop()
	}
}

// try makes one acquisition attempt with the given owner id.
func (lk *Locker) try(ctx context.Context, key, owner string, s settings) (*Lease, error) {
	start := lk.clk.Now()
	tok, err := lk.d.TryAcquire(ctx, driver.Request{Key: key, Owner: owner, TTL: s.ttl, Meta: s.meta})
	switch {
	case err == nil:
		lk.acquire.Add(context.Background(), 1, lk.resAcquired)
		return lk.newLease(key, owner, tok, start, s), nil
	case errors.Is(err, driver.ErrLocked):
		lk.acquire.Add(context.Background(), 1, lk.resLocked)
		return nil, fmt.Errorf("lock: acquire %q: %w", key, err)
	default:
		lk.acquire.Add(context.Background(), 1, lk.resError)
		return nil, opErr(ctx, "acquire", key, err)
	}
}

// abandon releases a claim that a failed or cancelled call may have left
// on the engine (the request reached it, the reply did not), so that
// nobody waits for its TTL. It runs in the background and ignores errors.
func (lk *Locker) abandon(ctx context.Context, key, owner string, ttl time.Duration) {
	go func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(ttl, 5*time.Second))
		defer cancel()
		_ = lk.d.Release(rctx, key, owner)
	}()
}

func (lk *Locker) retryable(err error) bool {
	if lk.retry == nil {
		return false
	}
	return lk.retry.IsRetryable(err)
}

// Holder reports the live holder of key; held is false when it is free.
func (lk *Locker) Holder(ctx context.Context, key string) (h Holder, held bool, err error) {
	if err := lk.checkKey(key); err != nil {
		return Holder{}, false, err
	}
	h, held, err = lk.d.Holder(ctx, key)
	if err != nil {
		return Holder{}, false, opErr(ctx, "holder", key, err)
	}
	return h, held, nil
}

func ignoreLocked(err error) error {
	if errors.Is(err, ErrLocked) {
		return nil
	}
	return err
}

const hexDigits = "0123456789abcdef"

// newOwner returns a random 128-bit owner id in hex. The generator is the
// runtime's ChaCha8 source, seeded from the operating system, so ids of
// different processes do not collide in practice.
func newOwner() string {
	var b [32]byte
	a, c := rand.Uint64(), rand.Uint64()
	for i := 0; i < 16; i++ {
		b[i] = hexDigits[a>>(60-4*i)&0xf]
		b[16+i] = hexDigits[c>>(60-4*i)&0xf]
	}
	return string(b[:])
}

// start starts a span for an operation on key, unless the driver is local
// (then span is nil).
func (lk *Locker) start(ctx context.Context, name, key string) (context.Context, trace.Span) {
	if lk.local {
		return ctx, nil
	}
	return otelx.Start(ctx, lk.tracer, name, lk.name, attribute.String("scalekit.lock.key", key))
}

// end ends span (if any) with err.
func end(span trace.Span, err error) {
	if span != nil {
		otelx.End(span, err)
	}
}
