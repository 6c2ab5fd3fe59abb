package httpx

import (
	"context"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Priority orders requests for load shedding: when the service is
// saturated, Low requests are refused first and Critical ones (health
// checks, control routes) are never refused by the limiter.
type Priority int

// The priorities, lowest first. The zero value is Normal.
const (
	Low      Priority = -1
	Normal   Priority = 0
	High     Priority = 1
	Critical Priority = 2
)

// WithPriority returns ctx carrying p; Shed reads it when its Priority
// option is not set, so an outer middleware or router can classify routes.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey, p)
}

// PriorityFrom returns the priority in ctx, or Normal.
func PriorityFrom(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey).(Priority)
	return p
}

// LimitAlgorithm adapts a concurrency limit from latency samples.
// Implementations need not be safe for concurrent use: the AdaptiveLimiter
// serialises calls.
type LimitAlgorithm interface {
	// Update returns the new limit given the current one, one completed
	// request's round-trip time, the in-flight count when it started, and
	// whether it failed from overload (timeout, 503 from below).
	Update(limit float64, rtt time.Duration, inflight int, dropped bool) float64
}

// AIMD is additive-increase / multiplicative-decrease on a latency
// threshold: a sample slower than Threshold, or dropped, multiplies the limit
// by Backoff; a sample from a busy limiter (in-flight ≥ half the limit)
// adds one. The zero value uses Threshold 100ms and Backoff 0.9.
type AIMD struct {
	Threshold time.Duration
	Backoff   float64
}

// Update implements LimitAlgorithm.
func (a *AIMD) Update(limit float64, rtt time.Duration, inflight int, dropped bool) float64 {
	th, b := a.Threshold, a.Backoff
	if th <= 0 {
		th = 100 * time.Millisecond
	}
	if b <= 0 || b >= 1 {
		b = 0.9
	}
	if dropped || rtt > th {
		return limit * b
	}
	if float64(inflight)*2 >= limit {
		return limit + 1
	}
	return limit
}

// Gradient compares a short-term latency average with a slowly moving
// long-term one (Netflix's gradient2): while they agree the limit grows by a
// queue allowance of √limit; when short-term latency rises, the ratio
// long/short (clamped to [0.5, 1]) shrinks it. Smoothing (default 0.2)
// damps each change; LongWindow (default 600 samples) sets how slowly the
// baseline follows.
type Gradient struct {
	Smoothing  float64
	LongWindow int
	Tolerance  float64 // short may exceed long by this ratio without shrinking (default 1.5)

	long, short float64 // EWMAs in nanoseconds
}

// Update implements LimitAlgorithm.
func (g *Gradient) Update(limit float64, rtt time.Duration, inflight int, dropped bool) float64 {
	sm, win, tol := g.Smoothing, g.LongWindow, g.Tolerance
	if sm <= 0 || sm > 1 {
		sm = 0.2
	}
	if win <= 0 {
		win = 600
	}
	if tol < 1 {
		tol = 1.5
	}
	x := float64(rtt)
	if dropped {
		x = math.Max(x, g.long*2)
	}
	if g.long == 0 {
		g.long, g.short = x, x
	} else {
		g.long += (x - g.long) / float64(win)
		g.short += (x - g.short) / 10
	}
	if g.long > g.short*2 { // latency dropped a lot: let the baseline catch up
		g.long *= 0.95
	}
	if float64(inflight) < limit/2 && !dropped {
		return limit // idle limiter: samples say nothing about capacity
	}
	grad := math.Max(0.5, math.Min(1, tol*g.long/g.short))
	next := limit*grad + math.Sqrt(limit)
	return limit*(1-sm) + next*sm
}

// AdaptiveLimiterOptions configure an AdaptiveLimiter. The zero value (or
// nil) is valid.
type AdaptiveLimiterOptions struct {
	// Algorithm adapts the limit; default &Gradient{}.
	Algorithm LimitAlgorithm
	// Initial, Min and Max bound the limit (defaults 20, 1, 1000).
	Initial, Min, Max int
	// Shares is the fraction of the limit each priority may fill before it
	// is refused, lowest priority shed first. Defaults: Low 0.7, Normal
	// 0.9, High 1.0. Critical is never refused.
	Shares map[Priority]float64
	// Clock measures latency. Default real time.
	Clock clock.Clock
	// MeterProvider receives the limit gauge and shed counter.
	MeterProvider metric.MeterProvider
	// Name is the scalekit.name attribute of the metrics, so two limiters
	// never merge. Default "httpx".
	Name string
}

// AdaptiveLimiter is a latency-driven concurrency limit with priorities.
// Acquire admits a request when the in-flight count is below its
// priority's share of the limit; each Release feeds the request's latency
// to the algorithm, which moves the limit. Safe for concurrent use; create
// one with NewAdaptiveLimiter.
type AdaptiveLimiter struct {
	clk      clock.Clock
	inflight atomic.Int64
	limit    atomic.Uint64 // float64 bits
	min, max float64
	shares   [4]float64 // indexed by priority+1

	mu  sync.Mutex
	alg LimitAlgorithm

	shed     metric.Int64Counter
	shedOpts [4][]metric.AddOption
}

// NewAdaptiveLimiter returns a limiter at its Initial limit.
func NewAdaptiveLimiter(opts *AdaptiveLimiterOptions) *AdaptiveLimiter {
	var o AdaptiveLimiterOptions
	if opts != nil {
		o = *opts
	}
	if o.Algorithm == nil {
		o.Algorithm = &Gradient{}
	}
	if o.Min <= 0 {
		o.Min = 1
	}
	if o.Max <= 0 {
		o.Max = 1000
	}
	if o.Max < o.Min {
		o.Max = o.Min
	}
	if o.Initial <= 0 {
		o.Initial = 20
	}
	o.Initial = min(max(o.Initial, o.Min), o.Max)
	l := &AdaptiveLimiter{clk: clock.Or(o.Clock), alg: o.Algorithm, min: float64(o.Min), max: float64(o.Max)}
	l.shares = [4]float64{0.7, 0.9, 1.0, math.Inf(1)}
	for p, s := range o.Shares {
		if p >= Low && p <= High && s > 0 {
			l.shares[p+1] = s
		}
	}
	l.limit.Store(math.Float64bits(float64(o.Initial)))
	meter := otelx.Meter(o.MeterProvider, "httpx")
	l.shed = otelx.Must(meter.Int64Counter("scalekit.httpx.shed", metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by the adaptive concurrency limit, by priority.")))
	name := otelx.Name(o.Name, "httpx")
	for i, pn := range []string{"low", "normal", "high", "critical"} {
		l.shedOpts[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(name, attribute.String("scalekit.httpx.priority", pn)))}
	}
	limit := otelx.Must(meter.Float64ObservableGauge("scalekit.httpx.concurrency_limit",
		metric.WithUnit("{request}"), metric.WithDescription("Current adaptive concurrency limit.")))
	// RegisterCallback, not WithFloat64Callback: the SDK binds an
	// instrument option's callback to the first instrument of that name.
	nameSet := metric.WithAttributeSet(attribute.NewSet(name))
	otelx.Must(meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		ob.ObserveFloat64(limit, l.Limit(), nameSet)
		return nil
	}, limit))
	return l
}

// Limit returns the current limit.
func (l *AdaptiveLimiter) Limit() float64 { return math.Float64frombits(l.limit.Load()) }

// InFlight returns the number of admitted requests not yet released.
func (l *AdaptiveLimiter) InFlight() int { return int(l.inflight.Load()) }

// Token is an admitted request; call Release (or Drop) exactly once.
type Token struct {
	l        *AdaptiveLimiter
	start    time.Time
	inflight int
}

// Acquire admits a request of priority p, or returns false when the
// in-flight count has reached p's share of the limit.
func (l *AdaptiveLimiter) Acquire(ctx context.Context, p Priority) (Token, bool) {
	idx := min(max(int(p), int(Low)), int(Critical)) + 1
	n := l.inflight.Add(1)
	if float64(n) > math.Max(1, l.Limit()*l.shares[idx]) {
		l.inflight.Add(-1)
		l.shed.Add(ctx, 1, l.shedOpts[idx]...)
		return Token{}, false
	}
	return Token{l: l, start: l.clk.Now(), inflight: int(n)}, true
}

// Release ends a request that completed normally and feeds its latency to
// the algorithm.
func (t Token) Release() { t.done(false) }

// Drop ends a request that failed from overload (timed out, or a
// dependency refused it), which the algorithm treats as congestion.
func (t Token) Drop() { t.done(true) }

func (t Token) done(dropped bool) {
	l := t.l
	if l == nil {
		return
	}
	rtt := l.clk.Since(t.start)
	l.inflight.Add(-1)
	l.mu.Lock()
	nl := l.alg.Update(l.Limit(), rtt, t.inflight, dropped)
	if math.IsNaN(nl) {
		nl = l.min
	}
	nl = math.Min(math.Max(nl, l.min), l.max)
	l.limit.Store(math.Float64bits(nl))
	l.mu.Unlock()
}

// ShedOptions configure Shed. The zero value (or nil) is valid.
type ShedOptions struct {
	// Priority classifies a request; default PriorityFrom(r.Context()),
	// with /healthz, /readyz and /livez Critical.
	Priority func(*http.Request) Priority
	// RetryAfter is sent with 503 answers. Default 1s.
	RetryAfter time.Duration
}

// DefaultPriority is the default ShedOptions.Priority: health probes are
// Critical, everything else takes the priority in the context (Normal).
func DefaultPriority(r *http.Request) Priority {
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/healthz", "/readyz", "/livez":
		return Critical
	}
	return PriorityFrom(r.Context())
}

// Shed admits requests through the adaptive limiter l and answers 503
// problem+json with Retry-After when it refuses. A request whose handler
// ends with a 503 or a context deadline counts as dropped (congestion).
func Shed(l *AdaptiveLimiter, opts *ShedOptions) Middleware {
	var o ShedOptions
	if opts != nil {
		o = *opts
	}
	if o.Priority == nil {
		o.Priority = DefaultPriority
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	retry := ceilSeconds(o.RetryAfter)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := l.Acquire(r.Context(), o.Priority(r))
			if !ok {
				w.Header().Set("Retry-After", retry)
				WriteProblem(w, r, NewProblem(http.StatusServiceUnavailable, "server overloaded; request shed"))
				return
			}
			rw := wrapWriter(w)
			defer func() {
				if rw.status == http.StatusServiceUnavailable || r.Context().Err() == context.DeadlineExceeded {
					tok.Drop()
				} else {
					tok.Release()
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}
