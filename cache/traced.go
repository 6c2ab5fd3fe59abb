package cache

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// tracedBackend wraps a remote backend with one span per store call. With
// no tracer provider installed the spans are no-ops.
type tracedBackend[K comparable, V any] struct {
	b      backend[K, V]
	tracer trace.Tracer
	attrs  []attribute.KeyValue
	// attrs1 is attrs plus keys=1, built once: the single-key calls (Get,
	// Set, Add) do not copy the attributes on every call.
	attrs1 []attribute.KeyValue
}

// start starts the span of one store call; name is a constant
// "cache.<Operation>".
func (t tracedBackend[K, V]) start(ctx context.Context, name string, n int) (context.Context, trace.Span) {
	if n == 1 && t.attrs1 != nil {
		return otelx.Start(ctx, t.tracer, name, t.attrs1...)
	}
	return otelx.Start(ctx, t.tracer, name, append(t.attrs, attribute.Int("scalekit.cache.keys", n))...)
}

func (t tracedBackend[K, V]) get(ctx context.Context, k K) (Entry[V], bool, error) {
	ctx, span := t.start(ctx, "cache.Get", 1)
	e, ok, err := t.b.get(ctx, k)
	span.SetAttributes(attribute.Bool("scalekit.cache.hit", ok))
	otelx.End(span, err)
	return e, ok, err
}

func (t tracedBackend[K, V]) getMulti(ctx context.Context, ks []K) ([]Entry[V], []bool, error) {
	ctx, span := t.start(ctx, "cache.GetMulti", len(ks))
	es, oks, err := t.b.getMulti(ctx, ks)
	otelx.End(span, err)
	return es, oks, err
}

func (t tracedBackend[K, V]) set(ctx context.Context, k K, e Entry[V], ttl time.Duration) error {
	ctx, span := t.start(ctx, "cache.Set", 1)
	err := t.b.set(ctx, k, e, ttl)
	otelx.End(span, err)
	return err
}

func (t tracedBackend[K, V]) setMulti(ctx context.Context, ks []K, es []Entry[V], ttls []time.Duration) error {
	ctx, span := t.start(ctx, "cache.SetMulti", len(ks))
	err := t.b.setMulti(ctx, ks, es, ttls)
	otelx.End(span, err)
	return err
}

func (t tracedBackend[K, V]) add(ctx context.Context, k K, e Entry[V], ttl time.Duration) (bool, error) {
	ctx, span := t.start(ctx, "cache.Add", 1)
	added, err := t.b.add(ctx, k, e, ttl)
	otelx.End(span, err)
	return added, err
}

func (t tracedBackend[K, V]) del(ctx context.Context, ks ...K) error {
	ctx, span := t.start(ctx, "cache.Delete", len(ks))
	err := t.b.del(ctx, ks...)
	otelx.End(span, err)
	return err
}

func (t tracedBackend[K, V]) evictions() uint64 { return t.b.evictions() }
