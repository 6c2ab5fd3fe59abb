package lb

import (
	"errors"
	"time"
)

// OutlierOptions configures passive outlier ejection: the Balancer watches
// the outcome of real calls (through Done) and takes endpoints that fail too
// often out of rotation for a while. A zero field means its default.
type OutlierOptions struct {
	// ConsecutiveFailures ejects an endpoint after this many failures in a
	// row (default 5; negative disables this trigger).
	ConsecutiveFailures int
	// FailureRate ejects an endpoint whose share of failed calls within
	// Window reaches this value, once it has seen MinRequests calls there
	// (0 disables this trigger; for example 0.1 for 10 %).
	FailureRate float64
	// MinRequests is the number of calls in a window before FailureRate is
	// judged (default 20).
	MinRequests int
	// Window is the failure-rate window (default 10 s).
	Window time.Duration
	// BaseEjection is the first ejection period; the n-th consecutive
	// ejection lasts n×BaseEjection, capped at MaxEjection (default 30 s).
	BaseEjection time.Duration
	// MaxEjection caps the ejection period (default 300 s). An endpoint that
	// stays healthy for MaxEjection after returning starts over at n = 1.
	MaxEjection time.Duration
	// MaxEjectedShare is the largest share of the set that may be ejected at
	// once (default 0.5). At least one endpoint may always be ejected when
	// the set has two or more.
	MaxEjectedShare float64
	// HalfOpenSuccesses is the number of successful calls an endpoint must
	// serve after its ejection ends to be fully back; one failure before
	// that ejects it again for a longer period (default 3).
	HalfOpenSuccesses int
}

func (o *OutlierOptions) validate() error {
	if o == nil {
		return nil
	}
	if o.FailureRate < 0 || o.FailureRate > 1 || o.MaxEjectedShare < 0 || o.MaxEjectedShare > 1 {
		return errors.New("lb: OutlierOptions FailureRate and MaxEjectedShare must be in [0, 1]")
	}
	if o.Window < 0 || o.BaseEjection < 0 || o.MaxEjection < 0 || o.MinRequests < 0 || o.HalfOpenSuccesses < 0 {
		return errors.New("lb: negative value in OutlierOptions")
	}
	return nil
}

func (o OutlierOptions) withDefaults() OutlierOptions {
	if o.ConsecutiveFailures == 0 {
		o.ConsecutiveFailures = 5
	}
	if o.MinRequests == 0 {
		o.MinRequests = 20
	}
	if o.Window == 0 {
		o.Window = 10 * time.Second
	}
	if o.BaseEjection == 0 {
		o.BaseEjection = 30 * time.Second
	}
	if o.MaxEjection == 0 {
		o.MaxEjection = 300 * time.Second
	}
	if o.MaxEjectedShare == 0 {
		o.MaxEjectedShare = 0.5
	}
	if o.HalfOpenSuccesses == 0 {
		o.HalfOpenSuccesses = 3
	}
	return o
}

// outlierState is the per-backend detector state, guarded by Balancer.mu.
type outlierState struct {
	consecutive int
	windowStart time.Time
	calls       int
	failures    int
	streak      int       // consecutive ejections, drives the period
	returnedAt  time.Time // when the last ejection ended
	successes   int       // successes since half-open began
	gen         uint64    // invalidates stale un-eject timers
}

// recordOutcome feeds one call's outcome to be's outlier detector.
func (b *Balancer) recordOutcome(be *Backend, failed bool, now time.Time) {
	o := b.opts.Outlier.withDefaults()
	b.mu.Lock()
	if b.closed || be.gone || be.draining.Load() {
		b.mu.Unlock()
		return
	}
	st := &be.od
	if st.windowStart.IsZero() || now.Sub(st.windowStart) >= o.Window {
		st.windowStart, st.calls, st.failures = now, 0, 0
	}
	st.calls++
	var events []Event
	if failed {
		st.failures++
		st.consecutive++
	} else {
		st.consecutive = 0
	}
	switch {
	case be.ejected:
		// Calls picked before the ejection finishing now: ignore.
	case be.halfOpen && failed:
		b.ejectLocked(be, now, o, "failure while half-open", &events)
	case be.halfOpen:
		st.successes++
		if st.successes >= o.HalfOpenSuccesses {
			be.halfOpen = false
			st.returnedAt = now
			events = append(events, Event{Kind: EventRecovered, Addr: be.Addr(), Time: now})
		}
	case failed && o.ConsecutiveFailures > 0 && st.consecutive >= o.ConsecutiveFailures:
		b.ejectLocked(be, now, o, "consecutive failures", &events)
	case failed && o.FailureRate > 0 && st.calls >= o.MinRequests &&
		float64(st.failures) >= o.FailureRate*float64(st.calls):
		b.ejectLocked(be, now, o, "failure rate", &events)
	}
	b.mu.Unlock()
	b.emit(events)
}

// ejectLocked takes be out of rotation unless the ejected share is at its
// cap, and schedules its half-open return.
func (b *Balancer) ejectLocked(be *Backend, now time.Time, o OutlierOptions, why string, events *[]Event) {
	total, ejected := 0, 0
	for _, x := range b.all {
		total++
		if x.ejected {
			ejected++
		}
	}
	limit := int(o.MaxEjectedShare * float64(total))
	if limit < 1 && total > 1 {
		limit = 1
	}
	if ejected+1 > limit {
		*events = append(*events, Event{Kind: EventEjectionSkipped, Addr: be.Addr(), Time: now, Detail: why})
		return
	}
	st := &be.od
	if !st.returnedAt.IsZero() && !be.halfOpen && now.Sub(st.returnedAt) >= o.MaxEjection {
		st.streak = 0
	}
	st.streak++
	period := time.Duration(st.streak) * o.BaseEjection
	if period > o.MaxEjection {
		period = o.MaxEjection
	}
	be.ejected, be.halfOpen = true, false
	st.consecutive, st.calls, st.failures, st.successes = 0, 0, 0, 0
	st.windowStart = now
	st.gen++
	gen := st.gen
	be.ejects.Add(1)
	b.rebuildLocked(now)
	*events = append(*events, Event{Kind: EventEjected, Addr: be.Addr(), Time: now, Detail: why, Period: period})
	b.clk.AfterFunc(period, func() { b.unEject(be, gen) })
}

// unEject ends an ejection: the endpoint returns half-open.
func (b *Balancer) unEject(be *Backend, gen uint64) {
	b.mu.Lock()
	if b.closed || !be.ejected || be.od.gen != gen || be.gone {
		b.mu.Unlock()
		return
	}
	now := b.clk.Now()
	be.ejected, be.halfOpen = false, true
	be.od.successes = 0
	be.od.consecutive = 0
	be.od.returnedAt = now
	if b.opts.SlowStart > 0 {
		be.addedAt = now // ramp back up instead of taking a full share at once
	}
	b.rebuildLocked(now)
	b.mu.Unlock()
	b.emit([]Event{{Kind: EventHalfOpen, Addr: be.Addr(), Time: now}})
}
