package saga_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

// TestMetrics checks the instruments' names, units and attributes.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	e := newEnv(t)
	lk, _ := lock.New(e.mem, nil)
	o, err := saga.New(e.log, lk, &saga.Options{Name: "orders", MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	flaky := e.step("b", func(c saga.Call) error {
		if c.Attempt == 1 {
			return errors.New("transient")
		}
		return nil
	})
	s, _ := saga.Register(o, "order", []saga.Step[order]{e.step("a", nil), flaky})
	if err := s.Run(ctx, "o1", order{}); err != nil {
		t.Fatal(err)
	}
	c, _ := saga.NewCoordinator(memsaga.New(nil), &saga.CoordinatorOptions{Name: "pay", MeterProvider: mp})
	if err := c.Do(ctx, "t1", newAccount("x").tcc()); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	type inst struct {
		unit string
		attr string // the instance-specific attribute and value
	}
	want := map[string]inst{
		"scalekit.saga.finished":      {"{saga}", "scalekit.saga.state=completed"},
		"scalekit.saga.step.failures": {"{attempt}", "scalekit.saga.op=action"},
		"scalekit.saga.duration":      {"s", ""},
		"scalekit.saga.tx.outcomes":   {"{transaction}", "scalekit.saga.decision=commit"},
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/scalekit-go/scalekit/saga" {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			w, ok := want[m.Name]
			if !ok {
				t.Errorf("unexpected instrument %s", m.Name)
				continue
			}
			seen[m.Name] = true
			if m.Unit != w.unit {
				t.Errorf("%s: unit %q, want %q", m.Name, m.Unit, w.unit)
			}
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			}
			if len(sets) != 1 {
				t.Fatalf("%s: %d data points, want 1", m.Name, len(sets))
			}
			name, _ := sets[0].Value("scalekit.name")
			if wantName := map[bool]string{true: "pay", false: "orders"}[m.Name == "scalekit.saga.tx.outcomes"]; name.AsString() != wantName {
				t.Errorf("%s: scalekit.name %q, want %q", m.Name, name.AsString(), wantName)
			}
			if w.attr != "" {
				found := false
				for _, kv := range sets[0].ToSlice() {
					if string(kv.Key)+"="+kv.Value.Emit() == w.attr {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: attributes %v lack %s", m.Name, sets[0].ToSlice(), w.attr)
				}
			}
		}
	}
	for n := range want {
		if !seen[n] {
			t.Errorf("instrument %s not reported", n)
		}
	}
}
