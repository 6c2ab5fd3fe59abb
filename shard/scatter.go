package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScatterOptions configures Scatter. Nil means defaults.
type ScatterOptions struct {
	// Concurrency bounds the shards queried at once; 0 means all.
	Concurrency int
	// Timeout bounds each shard's call; 0 means 10s.
	Timeout time.Duration
	// Partial selects the partial-results policy. False (the default):
	// the first failure cancels the other calls and Scatter returns that
	// error. True: every shard is tried, Scatter returns every result, and
	// the error (wrapping ErrPartial) lists the shards that failed.
	Partial bool
	// Name is the scalekit.name attribute of the per-shard metrics; ""
	// means "shard".
	Name string
	// MeterProvider for the metrics; nil means the global provider.
	MeterProvider metric.MeterProvider
}

// Result is one shard's answer.
type Result[T any] struct {
	Shard string
	Value T
	Err   error
}

// ShardError is the error of one shard's call.
type ShardError struct {
	Shard string
	Err   error
}

func (e *ShardError) Error() string { return "shard " + e.Shard + ": " + e.Err.Error() }

// Unwrap returns the call's error.
func (e *ShardError) Unwrap() error { return e.Err }

// Scatter calls fn once per shard with bounded concurrency and a timeout
// per call, and returns the results in the order of shards. See
// ScatterOptions.Partial for what happens on failure; a cancelled ctx
// returns ctx.Err().
func Scatter[T any](ctx context.Context, shards []string, fn func(ctx context.Context, shard string) (T, error), opts *ScatterOptions) ([]Result[T], error) {
	var o ScatterOptions
	if opts != nil {
		o = *opts
	}
	if len(shards) == 0 || fn == nil {
		return nil, fmt.Errorf("shard.Scatter: no shards or nil fn: %w", ErrBadArgument)
	}
	if o.Concurrency < 0 || o.Timeout < 0 {
		return nil, fmt.Errorf("shard.Scatter: Concurrency %d Timeout %v: %w", o.Concurrency, o.Timeout, ErrBadArgument)
	}
	if o.Concurrency == 0 || o.Concurrency > len(shards) {
		o.Concurrency = len(shards)
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	m := MetricsFor(o.MeterProvider)
	ctx, span := StartSpan(ctx, "shard", "Scatter", o.Name, attribute.Int("scalekit.shard.count", len(shards)))
	var spanErr error
	defer func() { EndSpan(span, spanErr) }()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]Result[T], len(shards))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var firstMu sync.Mutex
	var first error
	for i, s := range shards {
		out[i].Shard = s
		select {
		case sem <- struct{}{}:
		case <-cctx.Done():
			out[i].Err = cctx.Err()
			continue
		}
		wg.Add(1)
		go func(i int, s string) {
			defer func() { <-sem; wg.Done() }()
			sctx, scancel := context.WithTimeout(cctx, o.Timeout)
			defer scancel()
			start := time.Now()
			v, err := fn(sctx, s)
			m.Query(ctx, o.Name, s, time.Since(start), err)
			out[i].Value, out[i].Err = v, err
			if err != nil && !o.Partial {
				firstMu.Lock()
				if first == nil {
					first = &ShardError{Shard: s, Err: err}
				}
				firstMu.Unlock()
				cancel()
			}
		}(i, s)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		spanErr = err
		return nil, err
	}
	if !o.Partial {
		if first != nil {
			spanErr = fmt.Errorf("shard.Scatter: %w", first)
			return nil, spanErr
		}
		return out, nil
	}
	var errs []error
	for _, r := range out {
		if r.Err != nil {
			errs = append(errs, &ShardError{Shard: r.Shard, Err: r.Err})
		}
	}
	if len(errs) > 0 {
		spanErr = ErrPartial
		return out, fmt.Errorf("shard.Scatter: %d of %d shards failed: %w", len(errs), len(shards), errors.Join(append([]error{ErrPartial}, errs...)...))
	}
	return out, nil
}
