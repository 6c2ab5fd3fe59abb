package httpx

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
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
	delay  time.Duration
	max    int
	budget *RetryBudget
	clk    clock.Clock
	hedges metric.Int64Counter
	// sent, won and noBudget are the outcome attribute sets.
	sent, won, noBudget metric.AddOption
	tracer              trace.Tracer
	name                attribute.KeyValue
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
	switch {
	case o.Delay < 0:
		return nil, clientOptionError("HedgeOptions.Delay %v < 0", o.Delay)
	case o.MaxHedges < 0:
		return nil, clientOptionError("HedgeOptions.MaxHedges %d < 0", o.MaxHedges)
	}
	if o.Delay == 0 {
		o.Delay = 100 * time.Millisecond
	}
	if o.MaxHedges == 0 {
		o.MaxHedges = 1
	}
	clk := clock.Or(o.Clock)
	if o.Budget == nil {
		o.Budget, _ = NewRetryBudget(&RetryBudgetOptions{Ratio: 0.1, MinPerSecond: 1, Burst: 10, Clock: clk})
	}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	name := otelx.Name(o.Name, "httpx")
	oc := outcomeOptions(name, "sent", "won", "budget_exhausted")
	return &clientHedgeRT{
		next: clientOr(next), delay: o.Delay, max: o.MaxHedges, budget: o.Budget, clk: clk,
		sent: oc["sent"], won: oc["won"], noBudget: oc["budget_exhausted"],
		tracer: otelx.Tracer(o.TracerProvider, "httpx"), name: name,
		hedges: otelx.Must(meter.Int64Counter("scalekit.httpx.client.hedges",
			metric.WithDescription("Hedged sends of HedgeTransport, by outcome (sent, won, budget_exhausted)."),
			metric.WithUnit("{request}"))),
	}, nil
}

type clientHedgeResult struct {
	resp *http.Response
	err  error
	i    int
}

// RoundTrip implements http.RoundTripper.
func (h *clientHedgeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	h.budget.deposit()
	if !clientIdempotent(req) || !clientReplayable(req) {
		return h.next.RoundTrip(req)
	}
	parent, span := h.tracer.Start(req.Context(), "httpx.Hedge",
		trace.WithAttributes(h.name, attribute.String("http.request.method", req.Method)))
	sends, winner := 1, -1
	resp, err := h.roundTrip(parent, req, &sends, &winner)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("scalekit.httpx.sends", sends), attribute.Int("scalekit.httpx.winner", winner))
	}
	otelx.End(span, err)
	return resp, err
}

// roundTrip is the body of RoundTrip: *sends counts the sends, *winner is
// the index of the send whose answer is returned (-1 for none).
func (h *clientHedgeRT) roundTrip(parent context.Context, req *http.Request, sends, winner *int) (*http.Response, error) {
	results := make(chan clientHedgeResult, 1+h.max)
	var cancels []context.CancelFunc
	launch := func(r *http.Request) {
		ctx, cancel := context.WithCancel(parent)
		i := len(cancels)
		cancels = append(cancels, cancel)
		go func() {
			resp, err := h.next.RoundTrip(r.WithContext(ctx))
			results <- clientHedgeResult{resp, err, i}
		}()
	}
	launch(req)
	inflight, canHedge := 1, true
	timer := h.clk.NewTimer(h.delay)
	defer timer.Stop()
	var lastErr error
	for {
		var tick <-chan time.Time
		if canHedge {
			tick = timer.C()
		}
		select {
		case <-tick:
			if parent.Err() != nil { // the caller is gone: nothing to hedge for
				canHedge = false
				continue
			}
			if len(results) > 0 { // an answer arrived with the tick: look at it first
				timer.Reset(h.delay)
				continue
			}
			if !h.budget.withdraw() {
				h.hedges.Add(parent, 1, h.noBudget)
				canHedge = false
				continue
			}
			r, err := clientCopy(req)
			if err != nil { // GetBody failed: keep waiting for what is in flight
				canHedge = false
				continue
			}
			h.hedges.Add(parent, 1, h.sent)
			*sends++
			launch(r)
			inflight++
			if canHedge = len(cancels) <= h.max; canHedge {
				timer.Reset(h.delay)
			}
		case res := <-results:
			inflight--
			if res.err == nil {
				if res.i > 0 {
					h.hedges.Add(parent, 1, h.won)
				}
				for i, c := range cancels {
					if i != res.i {
						c()
					}
				}
				if inflight > 0 {
					go clientDiscardLosers(results, inflight)
				}
				*winner = res.i
				res.resp.Body = &clientCancelBody{ReadCloser: res.resp.Body, cancel: cancels[res.i]}
				return res.resp, nil
			}
			cancels[res.i]()
			lastErr = res.err
			if inflight == 0 {
				return nil, lastErr
			}
		}
	}
}

// clientDiscardLosers collects the n sends still in flight after a winner
// was chosen (they have been cancelled) and closes any response they bring.
func clientDiscardLosers(results <-chan clientHedgeResult, n int) {
	for ; n > 0; n-- {
		clientDiscard((<-results).resp)
	}
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
