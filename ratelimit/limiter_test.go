package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

// broken is a backend that cannot decide, to exercise the Limiter's
// failure handling on its own (redisrate's tests do it with a stopped
// Redis server).
type broken struct{ lim ratelimit.Limit }

var errDown = errors.New("connection refused")

func (b broken) Limit() ratelimit.Limit { return b.lim }
func (b broken) Allow(context.Context, string, int) (driver.Decision, error) {
	return driver.Decision{}, errDown
}

var gcra = ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 10, Period: time.Second, Burst: 5}

func TestNewRejects(t *testing.T) {
	if _, err := ratelimit.New(nil, nil); err == nil {
		t.Error("New(nil driver) accepted")
	}
	if _, err := ratelimit.New(broken{ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1, Period: time.Second}}, nil); !errors.Is(err, ratelimit.ErrInvalidLimit) {
		t.Errorf("New over a driver with burst 0 = %v, want ErrInvalidLimit", err)
	}
}

func TestFailurePolicies(t *testing.T) {
	ctx := context.Background()
	mk := func(o *ratelimit.Options) *ratelimit.Limiter {
		l, err := ratelimit.New(broken{gcra}, o)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	d, err := mk(nil).Allow(ctx, "k", 1)
	if !errors.Is(err, ratelimit.ErrUnavailable) || !errors.Is(err, errDown) || d.Allowed || d.RetryAfter != time.Second {
		t.Errorf("FailError: %+v, %v; want denied, RetryAfter 1s, ErrUnavailable wrapping the backend error", d, err)
	}
	if d, err := mk(&ratelimit.Options{Failure: ratelimit.FailOpen}).Allow(ctx, "k", 2); err != nil || !d.Allowed || d.Remaining != 3 {
		t.Errorf("FailOpen: %+v, %v; want admitted, Remaining 3", d, err)
	}
	if d, err := mk(&ratelimit.Options{Failure: ratelimit.FailClosed, FailRetryAfter: 5 * time.Second}).Allow(ctx, "k", 1); err != nil || d.Allowed || d.RetryAfter != 5*time.Second {
		t.Errorf("FailClosed: %+v, %v; want denied, RetryAfter 5s", d, err)
	}
	local, _ := memrate.New(ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 1, Period: time.Hour}, nil)
	fb := mk(&ratelimit.Options{Failure: ratelimit.FailOpen, Fallback: local})
	if d, err := fb.Allow(ctx, "k", 1); err != nil || !d.Allowed {
		t.Errorf("fallback first: %+v, %v", d, err)
	}
	if d, err := fb.Allow(ctx, "k", 1); err != nil || d.Allowed {
		t.Errorf("fallback second: %+v, %v; the local limit of 1 must deny", d, err)
	}
	// n above the fallback's capacity: the policy decides.
	if d, err := fb.Allow(ctx, "k", 3); err != nil || !d.Allowed {
		t.Errorf("n above the fallback's capacity: %+v, %v; want FailOpen", d, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := mk(&ratelimit.Options{Failure: ratelimit.FailOpen}).Allow(cctx, "k", 1); err != context.Canceled {
		t.Errorf("cancelled ctx: %v, want context.Canceled unwrapped", err)
	}
}

// A LeakyBucket admission whose paced slot lies past the deadline fails
// early too.
func TestWaitLeakyDelayPastDeadline(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	l, err := memrate.New(ratelimit.Limit{Algorithm: ratelimit.LeakyBucket, Rate: 1, Period: time.Minute, Burst: 3},
		&memrate.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Wait(ctx, "k", 1); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	if err := l.Wait(ctx, "k", 1); !errors.Is(err, ratelimit.ErrWouldExceedDeadline) {
		t.Fatalf("Wait for a slot a minute away with a 10s deadline = %v, want ErrWouldExceedDeadline", err)
	}
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	d, _ := memrate.NewDriver(ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 2, Period: time.Hour}, nil)
	l, err := ratelimit.New(d, &ratelimit.Options{MeterProvider: mp, Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		_, _ = l.Allow(context.Background(), "k", 1)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "scalekit.ratelimit.decisions" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				dec, _ := dp.Attributes.Value(attribute.Key("scalekit.ratelimit.decision"))
				name, _ := dp.Attributes.Value(attribute.Key("scalekit.name"))
				got[name.AsString()+"/"+dec.AsString()] = dp.Value
			}
		}
	}
	if got["api/allowed"] != 2 || got["api/denied"] != 3 {
		t.Fatalf("decisions metric = %v, want api/allowed 2, api/denied 3", got)
	}
}

// A Limit with no Algorithm is GCRA, the cheapest exact algorithm: the
// obvious default (it used to be rejected as "unknown algorithm 0").
func TestZeroAlgorithmIsGCRA(t *testing.T) {
	var zero ratelimit.Algorithm
	if zero != ratelimit.GCRA || zero.String() != "gcra" {
		t.Fatalf("zero Algorithm = %v, want gcra", zero)
	}
	lim := ratelimit.Limit{Rate: 10, Period: time.Second, Burst: 5}
	if err := ratelimit.Validate(lim); err != nil {
		t.Fatalf("Validate(no algorithm) = %v", err)
	}
	l, err := memrate.New(lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		d, err := l.Allow(context.Background(), "k", 1)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			break
		}
		n++
	}
	if n != 5 {
		t.Fatalf("burst of a zero-Algorithm limit admitted %d, want 5", n)
	}
}
