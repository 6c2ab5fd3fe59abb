package httpx

import (
	"context"
	"math"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/resilience"
)

// Priority orders requests for load shedding: when the service is
// saturated, Low requests are refused first and Critical ones (health
// checks, control routes) are never refused by the limiter. It is
// resilience.Priority, shared with grpcx.
type Priority = resilience.Priority

// The priorities, lowest first. The zero value is Normal.
const (
	Low      = resilience.Low
	Normal   = resilience.Normal
	High     = resilience.High
	Critical = resilience.Critical
)

// WithPriority returns ctx carrying p; Shed reads it when its Priority
// option is not set, so an outer middleware or router can classify routes.
// It is resilience.WithPriority.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return resilience.WithPriority(ctx, p)
}

// PriorityFrom returns the priority in ctx, or Normal.
func PriorityFrom(ctx context.Context) Priority { return resilience.PriorityFrom(ctx) }

// LimitAlgorithm adapts a concurrency limit from latency samples
// (resilience.LimitAlgorithm).
type LimitAlgorithm = resilience.LimitAlgorithm

// AIMD is additive-increase / multiplicative-decrease on a latency
// threshold (resilience.AIMD).
type AIMD = resilience.AIMD

// Gradient is Netflix's gradient2 limit algorithm (resilience.Gradient).
type Gradient = resilience.Gradient

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

// AdaptiveLimiter is a latency-driven concurrency limit with priorities:
// a resilience.AdaptiveLimiter reporting httpx's metrics
// (scalekit.httpx.shed, scalekit.httpx.concurrency_limit). Acquire admits
// a request when the in-flight count is below its priority's share of the
// limit; each Release feeds the request's latency to the algorithm, which
// moves the limit. Safe for concurrent use; create one with
// NewAdaptiveLimiter.
type AdaptiveLimiter struct {
	l        *resilience.AdaptiveLimiter
	shed     metric.Int64Counter
	shedOpts [4][]metric.AddOption
}

// NewAdaptiveLimiter returns a limiter at its Initial limit. Out-of-range
// bounds are clamped (Min at least 1, Max at least Min), and shares that
// are not positive are ignored.
func NewAdaptiveLimiter(opts *AdaptiveLimiterOptions) *AdaptiveLimiter {
	var o AdaptiveLimiterOptions
	if opts != nil {
		o = *opts
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
	shares := map[Priority]float64{}
	for p, s := range o.Shares {
		if p >= Low && p <= High && s > 0 && !math.IsInf(s, 0) {
			shares[p] = s
		}
	}
	rl, err := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{
		Algorithm: o.Algorithm, Initial: o.Initial, Min: o.Min, Max: o.Max, Shares: shares,
		Clock: o.Clock, Name: o.Name, MeterProvider: noop.NewMeterProvider(), // httpx's instruments count
	})
	if err != nil { // unreachable: the options were clamped above
		panic("httpx: " + err.Error())
	}
	l := &AdaptiveLimiter{l: rl}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	l.shed = otelx.Must(meter.Int64Counter("scalekit.httpx.shed", metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by the adaptive concurrency limit, by priority.")))
	name := otelx.Name(o.Name, "httpx")
	for i, pn := range []string{"low", "normal", "high", "critical"} {
		l.shedOpts[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(name, attribute.String("scalekit.httpx.priority", pn)))}
	}
	limitSet := metric.WithAttributeSet(attribute.NewSet(name))
	otelx.Must(0, otelx.RegisterGauge(meter, "scalekit.httpx.concurrency_limit", func() (metric.Observable, error) {
		return meter.Float64ObservableGauge("scalekit.httpx.concurrency_limit",
			metric.WithUnit("{request}"), metric.WithDescription("Current adaptive concurrency limit."))
	}, otelx.WeakMember(l, func(l *AdaptiveLimiter, _ context.Context, o metric.Observer, inst metric.Observable) {
		o.ObserveFloat64(inst.(metric.Float64Observable), l.Limit(), limitSet)
	})))
	return l
}

// Limit returns the current limit.
func (l *AdaptiveLimiter) Limit() float64 { return l.l.Limit() }

// InFlight returns the number of admitted requests not yet released.
func (l *AdaptiveLimiter) InFlight() int { return l.l.InFlight() }

// Limiter returns the underlying resilience.AdaptiveLimiter, for sharing
// one limit between HTTP and gRPC entry points.
func (l *AdaptiveLimiter) Limiter() *resilience.AdaptiveLimiter { return l.l }

// Token is an admitted request; call Release (or Drop) exactly once.
type Token = resilience.Token

// Acquire admits a request of priority p, or returns false when the
// in-flight count has reached p's share of the limit.
func (l *AdaptiveLimiter) Acquire(ctx context.Context, p Priority) (Token, bool) {
	tok, ok := l.l.Acquire(ctx, p)
	if !ok {
		idx := min(max(int(p), int(Low)), int(Critical)) + 1
		l.shed.Add(ctx, 1, l.shedOpts[idx]...)
	}
	return tok, ok
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
// ends with a 503 or a passed context deadline counts as dropped
// (congestion), including the deadline of a Timeout middleware inside
// Shed, as DefaultStack composes them.
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
			rc, r := requestState(r) // Timeout reports its deadline here
			rw := wrapWriter(w)
			defer func() {
				if rw.status == http.StatusServiceUnavailable || rc.timedOut || r.Context().Err() == context.DeadlineExceeded {
					tok.Drop()
				} else {
					tok.Release()
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}
