package httpx

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/resilience"
)

// HedgeOptions configure HedgeTransport. The zero value (or nil) is valid:
// one hedge after 100ms, at most 10% extra sends plus 1 a second.
type HedgeOptions struct {
	// Delay is how long the first send may go unanswered before a hedge is
	// sent (default 100ms). Set it near the backend's p95 latency: only the
	// slowest few percent of requests are then hedged.
	Delay time.Duration
	// MaxHedges is the number of extra sends per request, each Delay after
	// the previous one (default 1). Must be ≥ 0.
	MaxHedges int
	// Budget caps hedges across requests; nil gives this transport its own
	// budget with Ratio 0.1, MinPerSecond 1 and Burst 10. A hedge the budget
	// refuses is not sent and the request waits for the sends in flight.
	Budget *RetryBudget
	// Clock times Delay. Default real time.
	Clock clock.Clock
	// MeterProvider receives scalekit.httpx.client.hedges. Default global.
	MeterProvider metric.MeterProvider
	// TracerProvider receives the httpx.Hedge span of each call that may
	// be hedged. Default global.
	TracerProvider trace.TracerProvider
	// Name is the scalekit.name attribute of the metrics and spans.
	// Default "httpx".
	Name string
}

type clientHedgeRT struct {
	next   http.RoundTripper
	hedge  *resilience.Hedge
	budget *RetryBudget
	hedges metric.Int64Counter
	// outcome holds the attribute sets, by resilience.HedgeEvent.
	outcome [3]metric.AddOption
	tracer  trace.Tracer
	name    attribute.KeyValue
}

// HedgeTransport returns a RoundTripper that sends a request to next (nil
// means http.DefaultTransport) and, if no answer has come after Delay,
// sends it again, up to MaxHedges extra times; the first response wins.
// Every other send is then cancelled, and a response it still produces is
// drained and closed. A send that fails does not end the request while
// another is in flight; when all fail, the last error is returned. The
// winner's context lives until its body is closed.
//
// Only requests that are safe to repeat are hedged — idempotent methods or
// an Idempotency-Key header, with no body or a GetBody — and only while the
// Budget has tokens, so hedging adds a bounded fraction of load. Others go
// straight to next. A hedge is a latency tool, not a retry: an error or a
// 5xx answer ends the request when it is the only send in flight.
//
// The RoundTripper is safe for concurrent use. Bad options give an error
// wrapping ErrInvalidClientOption.
func HedgeTransport(next http.RoundTripper, opts *HedgeOptions) (http.RoundTripper, error) {
	var o HedgeOptions
	if opts != nil {
		o = *opts
	}
	// Delay and MaxHedges, and their defaults, are resilience.NewHedge's,
	// which checks them below.
	clk := clock.Or(o.Clock)
	if o.Budget == nil {
		o.Budget, _ = NewRetryBudget(&RetryBudgetOptions{Ratio: 0.1, MinPerSecond: 1, Burst: 10, Clock: clk,
			Name: cmp.Or(o.Name, "httpx"), MeterProvider: o.MeterProvider})
	}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	name := otelx.Name(o.Name, "httpx")
	oc := outcomeOptions(name, "sent", "won", "budget_exhausted")
	h := &clientHedgeRT{
		next: clientOr(next), budget: o.Budget,
		outcome: [3]metric.AddOption{oc["sent"], oc["won"], oc["budget_exhausted"]},
		tracer:  otelx.Tracer(o.TracerProvider, "httpx"), name: name,
		hedges: otelx.Must(meter.Int64Counter("scalekit.httpx.client.hedges",
			metric.WithDescription("Hedged sends of HedgeTransport, by outcome (sent, won, budget_exhausted)."),
			metric.WithUnit("{request}"))),
	}
	hedge, err := resilience.NewHedge(&resilience.HedgeOptions{Delay: o.Delay, MaxHedges: o.MaxHedges,
		Budget: o.Budget, Clock: clk, MeterProvider: noop.NewMeterProvider(), // httpx's counter counts
		OnEvent: func(ctx context.Context, e resilience.HedgeEvent) { h.hedges.Add(ctx, 1, h.outcome[e]) }})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClientOption, err)
	}
	h.hedge = hedge
	return h, nil
}

// RoundTrip implements http.RoundTripper.
func (h *clientHedgeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if !clientIdempotent(req) || !clientReplayable(req) {
		h.budget.Deposit()
		return h.next.RoundTrip(req)
	}
	parent, span := h.tracer.Start(req.Context(), "httpx.Hedge",
		trace.WithAttributes(h.name, attribute.String("http.request.method", req.Method)))
	resp, cancel, st, err := resilience.Do(parent, h.hedge, func(ctx context.Context, i int) (*http.Response, error) {
		r := req
		if i > 0 {
			var cerr error
			if r, cerr = clientCopy(req); cerr != nil { // GetBody failed: this hedge fails
				return nil, cerr
			}
		}
		return h.next.RoundTrip(r.WithContext(ctx))
	}, clientDiscard)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("scalekit.httpx.sends", st.Attempts), attribute.Int("scalekit.httpx.winner", st.Winner))
	}
	otelx.End(span, err)
	if err != nil {
		return nil, err
	}
	// The winner's context lives until its body is closed.
	resp.Body = &clientCancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// CloseIdleConnections forwards to the wrapped transport.
func (h *clientHedgeRT) CloseIdleConnections() { clientCloseIdle(h.next) }

// clientCancelBody releases a send's context when its body is closed.
type clientCancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (b *clientCancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.cancel)
	return err
}
