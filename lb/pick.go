package lb

import (
	"context"
	"time"

	"github.com/scalekit-go/scalekit/resilience"
)

// Result is one picked endpoint. The caller must call Done exactly once
// when the call ends; Done feeds latency, bytes and the outcome back to the
// picker's load averages, the outlier detector and the circuit breaker.
type Result struct {
	// Backend is the chosen endpoint.
	Backend *Backend

	bal    *Balancer
	start  time.Time
	permit resilience.Permit
}

// DoneInfo is the outcome of a call, passed to Result.Done.
type DoneInfo struct {
	// Err is the call's error; nil means success. Options.IsFailure decides
	// whether it counts as a failure (context.Canceled does not, by
	// default). Transport and the proxies turn 5xx responses into errors.
	Err error
	// Bytes is the number of bytes the call moved (for LeastBandwidth).
	Bytes int64
}

// maxRepicks bounds how often Pick asks the picker again when the choice
// is avoided or its breaker rejects it, before scanning the whole set.
const maxRepicks = 3

// Pick chooses an endpoint for one call. It never blocks: it loads the
// current picker snapshot, honours info.Sticky when that endpoint is ready,
// skips endpoints in info.Avoid and endpoints whose circuit breaker rejects
// the call (a rejection is not recorded as a failure anywhere), and marks
// the call in flight. It returns ErrNoEndpoint when nothing can take the
// call and ErrClosed after Close.
func (b *Balancer) Pick(info PickInfo) (Result, error) {
	s := b.snap.Load()
	if s.closed {
		return Result{}, ErrClosed
	}
	n := len(s.list)
	if n == 0 {
		return Result{}, ErrNoEndpoint
	}
	if info.Now.IsZero() {
		info.Now = b.clk.Now()
	}
	if info.Sticky != "" {
		if be := s.byID[info.Sticky]; be != nil && !avoided(info.Avoid, be) {
			if r, ok := b.admit(be, info.Now); ok {
				return r, nil
			}
		}
	}
	for range maxRepicks {
		be, err := s.picker.Pick(info)
		if err != nil {
			return Result{}, err
		}
		if avoided(info.Avoid, be) {
			continue
		}
		if r, ok := b.admit(be, info.Now); ok {
			return r, nil
		}
	}
	// Scan from a random point: first endpoints not yet tried, then (so a
	// retry against a one-endpoint set still happens) tried ones.
	start := randN(n)
	for pass := 0; pass < 2; pass++ {
		for k := 0; k < n; k++ {
			be := s.list[(start+k)%n]
			if pass == 0 && avoided(info.Avoid, be) {
				continue
			}
			if r, ok := b.admit(be, info.Now); ok {
				return r, nil
			}
		}
		if len(info.Avoid) == 0 {
			break
		}
	}
	return Result{}, ErrNoEndpoint
}

func avoided(list []*Backend, be *Backend) bool {
	for _, a := range list {
		if a == be {
			return true
		}
	}
	return false
}

// admit asks be's breaker (if any) and marks the call in flight.
func (b *Balancer) admit(be *Backend, now time.Time) (Result, bool) {
	r := Result{Backend: be, bal: b, start: now}
	if be.breaker != nil {
		p, err := be.breaker.Allow(context.Background())
		if err != nil {
			// The breaker's own rejection: not a call, not a failure.
			return Result{}, false
		}
		r.permit = p
	}
	be.Begin()
	return r, true
}

// Done reports the end of the call. Call it exactly once per Result.
func (r Result) Done(d DoneInfo) {
	b, be := r.bal, r.Backend
	if b == nil || be == nil {
		return
	}
	now := b.clk.Now()
	lat := now.Sub(r.start)
	// One definition of the outcome (resilience.Classify): a cancellation
	// or a policy's rejection is ignored, an error IsFailure declines is a
	// success of the endpoint.
	outcome := resilience.Classify(context.Background(), d.Err, b.opts.IsFailure)
	failed := outcome == resilience.Failure
	if failed {
		// A fast failure must not make an endpoint look fast: charge it at
		// least twice its current average.
		if cur := time.Duration(be.latencyAt(now.UnixNano())); lat < 2*cur {
			lat = 2 * cur
		}
	}
	be.End(now, lat, d.Bytes)
	// Ignored calls (a cancelled half-open probe) count for neither the
	// breaker nor outlier detection.
	r.permit.Done(outcome)
	if b.opts.Outlier != nil && outcome != resilience.Ignored {
		b.recordOutcome(be, failed, now)
	}
	if be.draining.Load() && be.inflight.Load() == 0 {
		b.finishDrain(be)
	}
}

// Elapsed returns the time since the pick on the balancer's clock.
func (r Result) Elapsed() time.Duration {
	if r.bal == nil {
		return 0
	}
	return r.bal.clk.Since(r.start)
}
