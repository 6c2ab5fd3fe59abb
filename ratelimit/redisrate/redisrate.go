package redisrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
)

// DefaultPrefix is the default prefix of every key the driver writes.
const DefaultPrefix = "ratelimit:"

// Options configure a redisrate Driver. The zero value (or nil) is valid.
type Options struct {
	// Prefix is prepended to every key. Limiters with different limits
	// must use different prefixes. Default DefaultPrefix.
	Prefix string
	// Clock, when set, supplies the time of every decision (sent to the
	// script as an argument) instead of the Redis server's clock. Leave it
	// nil in production: the server clock is the one clock every instance
	// shares. Tests set a fake clock to drive the scripts exactly.
	Clock clock.Clock
	// ExpirySlack is added to every key's expiry, which is otherwise the
	// key's reset-after (the moment its state becomes equivalent to a
	// fresh key's). Expiry runs on the server's clock, so a Clock that runs
	// slower than real time (a fake clock in tests) needs a slack longer
	// than the test, or state would expire early. Default 0.
	ExpirySlack time.Duration
	// TracerProvider receives a ratelimit.Allow client span per decision
	// (default the global provider).
	TracerProvider trace.TracerProvider
	// Name is the scalekit.name attribute of the spans (default
	// "ratelimit"). Give the wrapping ratelimit.Limiter the same Name.
	Name string
	// Timeout is the budget of one decision, go-redis's own retries and
	// reconnection attempts included (default DefaultTimeout). When Redis
	// is down, slow or paused, a decision fails after at most this long and
	// the Limiter's failure policy or Fallback decides, so an outage costs
	// this much per decision whatever the client's retry settings. A
	// caller's context with an earlier deadline still wins.
	Timeout time.Duration
}

// DefaultTimeout is the default per-decision budget (Options.Timeout).
const DefaultTimeout = 250 * time.Millisecond

// Driver is the Redis rate-limiting backend: one Lua script per algorithm,
// run with EVALSHA (EVAL when the server answers NOSCRIPT), one round trip
// and one key per decision, so it works unchanged on Redis Cluster. Time is
// the Redis server's (TIME) unless Options.Clock is set.
//
// A Driver is safe for concurrent use. Create one with New.
type Driver struct {
	c      redis.UniversalClient
	lim    driver.Limit
	script script
	prefix string
	clk    clock.Clock
	consts []any // the script's constant arguments (see scripts.go), boxed once
	t      int64 // GCRA: the emission interval in 1/Rate µs, the Period in µs
	// intReply: the script (gcraInt) returns one integer, not a table.
	intReply bool
	budget   time.Duration
	tracer   trace.Tracer
	attrs    trace.SpanStartEventOption
	// ctxTimeouts: the client honours context deadlines on socket I/O, so
	// the budget needs no goroutine.
	ctxTimeouts bool
}

// maxMicros bounds the products the scripts form, in µs, so that Lua's
// doubles stay exact (2^53 is about 9.0e15; Unix µs are about 1.8e15).
const maxMicros = 1 << 51

// New returns a driver enforcing lim on c, to be wrapped by ratelimit.New
// (which adds the failure policy, a Fallback, Wait and metrics):
//
//	d, err := redisrate.New(rdb, lim, &redisrate.Options{Prefix: "api:"})
//	limiter, err := ratelimit.New(d, &ratelimit.Options{Failure: ratelimit.FailClosed})
//
// It does no I/O. A nil client is an error; besides ratelimit.Validate's
// checks, it rejects a Period that is not a whole number of microseconds
// and limits whose state would not fit exactly in the scripts' arithmetic
// (the error wraps ratelimit.ErrInvalidLimit).
func New(c redis.UniversalClient, lim driver.Limit, opts *Options) (*Driver, error) {
	if c == nil {
		return nil, errors.New("redisrate: nil client")
	}
	if err := ratelimit.Validate(lim); err != nil {
		return nil, err
	}
	if lim.Period%time.Microsecond != 0 {
		return nil, fmt.Errorf("%w: redisrate works in whole microseconds; period %v is not", ratelimit.ErrInvalidLimit, lim.Period)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("redisrate: negative Timeout %v", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	period, rate, burst := lim.Period.Microseconds(), int64(lim.Rate), int64(lim.Burst)
	if rate > maxMicros/period || burst > maxMicros/period || burst > maxMicros/rate {
		return nil, fmt.Errorf("%w: rate, burst × period or burst × rate too large for redisrate's exact arithmetic (%d, %d × %v)", ratelimit.ErrInvalidLimit, lim.Rate, lim.Burst, lim.Period)
	}
	// Emission interval T = period/rate µs = q + r/rate, and Burst·T.
	q, r := period/rate, period%rate
	bq, bf := burst*q+(burst*r)/rate, (burst*r)%rate
	d := &Driver{
		c: c, lim: lim, prefix: o.Prefix, clk: o.Clock, budget: o.Timeout, ctxTimeouts: contextTimeouts(c),
		script: scriptFor(lim.Algorithm),
		t:      period,
		tracer: otelx.Tracer(o.TracerProvider, "ratelimit/redisrate"),
		attrs: trace.WithAttributes(otelx.Name(o.Name, "ratelimit"), attribute.String("db.system.name", "redis"),
			attribute.String("scalekit.ratelimit.algorithm", lim.Algorithm.String())),
	}
	slack := max(0, o.ExpirySlack.Milliseconds())
	switch {
	case (lim.Algorithm == driver.GCRA || lim.Algorithm == driver.LeakyBucket) && r == 0:
		// The interval is whole µs: the integer script.
		d.script, d.consts, d.intReply = gcraInt, []any{q, bq, slack}, true
	default:
		d.consts = []any{rate, period, burst, q, slack, r, bq, bf}
	}
	return d, nil
}

// Clock returns the decision clock given in Options.Clock, or nil (the
// server's clock). ratelimit.New uses it for Wait when its own Clock is
// nil.
func (d *Driver) Clock() clock.Clock { return d.clk }

var (
	gcra         = newScript(gcraScript)
	gcraInt      = newScript(gcraIntScript)
	tokenScript  = newScript(prelude + tokenBucketBody)
	fixedScript  = newScript(prelude + fixedWindowBody)
	windowScript = newScript(prelude + slidingWindowBody)
	logScript    = newScript(prelude + slidingLogBody)
)

func scriptFor(a driver.Algorithm) script {
	switch a {
	case driver.GCRA, driver.LeakyBucket:
		return gcra
	case driver.TokenBucket:
		return tokenScript
	case driver.FixedWindow:
		return fixedScript
	case driver.SlidingLog:
		return logScript
	}
	return windowScript
}

// Limit returns the limit the driver enforces.
func (d *Driver) Limit() driver.Limit { return d.lim }

// Key returns the Redis key that holds key's state.
func (d *Driver) Key(key string) string { return d.prefix + key }

// Allow runs the algorithm's script for key: one EVALSHA round trip (plus
// one EVAL the first time a server has not seen the script), within the
// per-decision budget Options.Timeout. It returns go-redis's error
// unchanged when Redis cannot decide.
func (d *Driver) Allow(ctx context.Context, key string, n int) (driver.Decision, error) {
	ctx, span := d.tracer.Start(ctx, "ratelimit.Allow", trace.WithSpanKind(trace.SpanKindClient), d.attrs)
	dec, err := d.allow(ctx, key, n)
	if span.IsRecording() && err == nil {
		span.SetAttributes(attribute.Bool("scalekit.ratelimit.allowed", dec.Allowed))
	}
	otelx.End(span, err)
	return dec, err
}

func (d *Driver) allow(ctx context.Context, key string, n int) (driver.Decision, error) {
	now := int64(-1)
	if d.clk != nil {
		now = d.clk.Now().UnixMicro()
	}
	var buf [3]int64
	res, err := d.run(ctx, key, n, now, &buf)
	if err != nil {
		return driver.Decision{}, err
	}
	if d.lim.Algorithm == driver.GCRA || d.lim.Algorithm == driver.LeakyBucket {
		return d.gcraDecision(res, n)
	}
	if len(res) != 5 {
		return driver.Decision{}, fmt.Errorf("redisrate: script returned %d values, want 5", len(res))
	}
	return driver.Decision{
		Allowed:    res[0] == 1,
		Limit:      d.lim.Capacity(),
		Remaining:  int(max(0, res[1])),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		ResetAfter: time.Duration(res[3]) * time.Microsecond,
		Delay:      time.Duration(res[4]) * time.Microsecond,
	}, nil
}

// run runs the script within the budget. go-redis honours a context's
// deadline while it dials, waits for a pooled connection and backs off
// between retries, but not on a socket read or write unless the client
// has ContextTimeoutEnabled; so unless it has, the call runs on a worker
// goroutine and is abandoned when the budget is spent (it ends by itself
// within the client's ReadTimeout).
func (d *Driver) run(ctx context.Context, key string, n int, now int64, buf *[3]int64) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d.budget)
	defer cancel()
	if d.ctxTimeouts {
		return d.exec(ctx, key, n, now, buf)
	}
	c := callPool.Get().(*call)
	c.d, c.ctx, c.key, c.n, c.now = d, ctx, key, n, now
	submit(c)
	select {
	case <-c.done:
		res, err := c.res, c.err
		if d.intReply && err == nil {
			*buf = c.buf // res points into c, which goes back to the pool
			res = buf[:]
		}
		*c = call{done: c.done}
		callPool.Put(c)
		return res, err
	case <-ctx.Done():
		// The worker still owns c; it is not reused.
		return nil, fmt.Errorf("redisrate: decision on %q: no answer within %v: %w", key, d.budget, ctx.Err())
	}
}

// contextTimeouts reports whether c's socket I/O honours context deadlines.
func contextTimeouts(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// gcraDecision completes a GCRA or leaky-bucket decision from the script's
// {allowed, reset-after µs, reset-after fraction}. It works in units of
// 1/Rate µs, where the emission interval T is exactly Period (in µs) and
// the capacity Burst·T is Burst·Period, and rounds durations up to whole
// µs only when it reports them.
func (d *Driver) gcraDecision(res []int64, n int) (driver.Decision, error) {
	if len(res) != 3 {
		return driver.Decision{}, fmt.Errorf("redisrate: script returned %d values, want 3", len(res))
	}
	rate, t := int64(d.lim.Rate), d.t
	capT := int64(d.lim.Burst) * t
	reset := max(0, res[1]*rate+res[2])
	us := func(x int64) time.Duration { return time.Duration((max(0, x)+rate-1)/rate) * time.Microsecond }
	dec := driver.Decision{
		Allowed:    res[0] == 1,
		Limit:      d.lim.Burst,
		Remaining:  int(max(0, capT-reset) / t),
		ResetAfter: us(reset),
	}
	if !dec.Allowed {
		dec.RetryAfter = us(reset + int64(n)*t - capT)
	} else if d.lim.Algorithm == driver.LeakyBucket {
		dec.Delay = us(reset - int64(n)*t)
	}
	return dec, nil
}
