package lb

import (
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/scalekit-go/scalekit/resilience"
)

// BreakerOptions gives every endpoint its own circuit breaker
// (resilience.Breaker, on sony/gobreaker). A zero field means the default
// given below.
//
// Only real calls that ended count, by resilience.Classify (the one
// definition httpx and grpcx share). A cancelled call is neither a success
// nor a failure: it does not reset the failure streak, and a cancelled
// half-open trial call neither closes the breaker nor uses up its trial
// slot. An error Options.IsFailure declines is a success of the endpoint
// (it answered). When an open breaker rejects an endpoint, Pick
// moves on to another endpoint and the rejection is recorded nowhere — not
// as a failure of the breaker, not by outlier detection. Counting rejections
// as failures is what keeps the breakers of go-zero and kratos stuck open
// (every rejected call during the open period re-trips them). An open
// breaker moves to half-open after Timeout the next time the endpoint is
// picked, and its trial calls decide whether it closes.
//
// gobreaker keeps its own time, so breaker timeouts follow the real clock
// even when Options.Clock is fake.
type BreakerOptions struct {
	// MaxRequests is the number of trial calls allowed while half-open
	// (default 1).
	MaxRequests uint32
	// Interval is the period after which the closed breaker clears its
	// counts (default: never).
	Interval time.Duration
	// Timeout is how long the breaker stays open (default 60 s).
	Timeout time.Duration
	// ReadyToTrip decides from the counts whether to open after a failure
	// (default: more than 5 consecutive failures).
	ReadyToTrip func(resilience.Counts) bool
}

func (b *Balancer) attachBreaker(be *Backend) {
	o := b.opts.Breaker
	if o == nil {
		return
	}
	addr := be.Addr()
	trip := o.ReadyToTrip
	if trip == nil {
		trip = func(c resilience.Counts) bool { return c.ConsecutiveFailures > 5 }
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	be.breaker, _ = resilience.NewBreaker(&resilience.BreakerOptions{ // validated in newBalancer
		Name:             addr,
		HalfOpenRequests: o.MaxRequests,
		Interval:         max(o.Interval, 0),
		Timeout:          timeout,
		ReadyToTrip:      trip,
		MeterProvider:    noop.NewMeterProvider(), // scalekit.lb.breaker.state reports it
		OnStateChange: func(_ string, _, to resilience.State) {
			b.emit([]Event{{Kind: EventBreaker, Addr: addr, Time: b.clk.Now(), Detail: to.String()}})
		},
	})
}

// BreakerState returns the state of the endpoint's circuit breaker
// ("closed", "half-open", "open"), or "" when breakers are off.
func (be *Backend) BreakerState() string {
	if be.breaker == nil {
		return ""
	}
	return be.breaker.State().String()
}

// BreakerCounts returns the counts of the endpoint's circuit breaker in its
// current generation (zero when breakers are off).
func (be *Backend) BreakerCounts() resilience.Counts {
	if be.breaker == nil {
		return resilience.Counts{}
	}
	return be.breaker.Counts()
}
