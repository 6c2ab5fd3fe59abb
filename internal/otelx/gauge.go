package otelx

import (
	"context"
	"reflect"
	"sync"
	"weak"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// The OpenTelemetry SDK attaches an instrument option callback
// (metric.WithInt64Callback) only when the instrument's name is first
// registered on a meter: a second instance
// creating the same gauge would get the first one's instrument and its
// callback would never run. So each gauge is created once per meter, with
// one registered callback that reports every live instance. Instances are
// held through weak pointers: one that is garbage collected drops out.

// GaugeMember reports one instance's points on inst; it returns false once
// the instance is gone.
type GaugeMember func(ctx context.Context, o metric.Observer, inst metric.Observable) bool

type gaugeGroup struct {
	inst    metric.Observable
	mu      sync.Mutex
	members map[*GaugeMember]struct{}
}

type gaugeKey struct {
	meter metric.Meter
	name  string
}

var gaugeGroups struct {
	mu sync.Mutex
	m  map[gaugeKey]*gaugeGroup
}

// RegisterGauge makes member report on the gauge name of meter, creating
// the instrument with create (and its one callback) on first use.
func RegisterGauge(meter metric.Meter, name string, create func() (metric.Observable, error), member GaugeMember) error {
	if _, ok := meter.(noop.Meter); ok {
		return nil // nothing would ever observe: do not hold the member
	}
	if t := reflect.TypeOf(meter); t == nil || !t.Comparable() {
		// A meter that cannot be a map key: give this instance its own
		// callback (RegisterCallback, unlike option callbacks, is never
		// deduplicated).
		inst, err := create()
		if err != nil {
			return err
		}
		_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
			member(ctx, o, inst)
			return nil
		}, inst)
		return err
	}
	k := gaugeKey{meter, name}
	gaugeGroups.mu.Lock()
	defer gaugeGroups.mu.Unlock()
	g := gaugeGroups.m[k]
	if g == nil {
		inst, err := create()
		if err != nil {
			return err
		}
		g = &gaugeGroup{inst: inst, members: map[*GaugeMember]struct{}{}}
		if _, err := meter.RegisterCallback(g.observe, inst); err != nil {
			return err
		}
		if gaugeGroups.m == nil {
			gaugeGroups.m = map[gaugeKey]*gaugeGroup{}
		}
		gaugeGroups.m[k] = g
	}
	g.mu.Lock()
	g.members[&member] = struct{}{}
	g.mu.Unlock()
	return nil
}

func (g *gaugeGroup) observe(ctx context.Context, o metric.Observer) error {
	g.mu.Lock()
	ms := make([]*GaugeMember, 0, len(g.members))
	for m := range g.members {
		ms = append(ms, m)
	}
	g.mu.Unlock()
	for _, m := range ms {
		if !(*m)(ctx, o, g.inst) {
			g.mu.Lock()
			delete(g.members, m)
			g.mu.Unlock()
		}
	}
	return nil
}

// WeakMember adapts a per-instance observe function to a GaugeMember that
// holds the instance only weakly.
func WeakMember[T any](p *T, observe func(p *T, ctx context.Context, o metric.Observer, inst metric.Observable)) GaugeMember {
	wp := weak.Make(p)
	return func(ctx context.Context, o metric.Observer, inst metric.Observable) bool {
		p := wp.Value()
		if p == nil {
			return false
		}
		observe(p, ctx, o, inst)
		return true
	}
}
