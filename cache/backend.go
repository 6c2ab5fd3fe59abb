package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
)

// backend is what Cache talks to: a typed local store, a remote byte
// store behind a codec, or both tiers.
type backend[K comparable, V any] interface {
	get(ctx context.Context, k K) (Entry[V], bool, error)
	getMulti(ctx context.Context, ks []K) ([]Entry[V], []bool, error)
	set(ctx context.Context, k K, e Entry[V], ttl time.Duration) error
	setMulti(ctx context.Context, ks []K, es []Entry[V], ttls []time.Duration) error
	add(ctx context.Context, k K, e Entry[V], ttl time.Duration) (bool, error)
	del(ctx context.Context, ks ...K) error
	evictions() uint64
}

// ---- local ----

type localBackend[K comparable, V any] struct {
	s driver.Local[K, Entry[V]]
}

func (b localBackend[K, V]) get(_ context.Context, k K) (Entry[V], bool, error) {
	e, ok := b.s.Get(k)
	return e, ok, nil
}

func (b localBackend[K, V]) getMulti(_ context.Context, ks []K) ([]Entry[V], []bool, error) {
	es := make([]Entry[V], len(ks))
	oks := make([]bool, len(ks))
	for i, k := range ks {
		es[i], oks[i] = b.s.Get(k)
	}
	return es, oks, nil
}

func (b localBackend[K, V]) set(_ context.Context, k K, e Entry[V], ttl time.Duration) error {
	return b.s.Set(k, e, ttl)
}

func (b localBackend[K, V]) setMulti(_ context.Context, ks []K, es []Entry[V], ttls []time.Duration) error {
	for i, k := range ks {
		if err := b.s.Set(k, es[i], ttls[i]); err != nil {
			return err
		}
	}
	return nil
}

func (b localBackend[K, V]) add(_ context.Context, k K, e Entry[V], ttl time.Duration) (bool, error) {
	return b.s.Add(k, e, ttl)
}

func (b localBackend[K, V]) del(_ context.Context, ks ...K) error {
	for _, k := range ks {
		b.s.Delete(k)
	}
	return nil
}

func (b localBackend[K, V]) evictions() uint64 {
	if ev, ok := b.s.(interface{ Evictions() uint64 }); ok {
		return ev.Evictions()
	}
	return 0
}

// ---- remote ----

type remoteBackend[K comparable, V any] struct {
	s      driver.Store
	codec  Codec[V]
	key    func(K) string
	maxVal int
}

func newRemoteBackend[K comparable, V any](s driver.Store, o *Options[K, V]) *remoteBackend[K, V] {
	b := &remoteBackend[K, V]{s: s, codec: o.Codec, key: o.KeyString}
	if b.codec == nil {
		b.codec = JSON[V]{}
	}
	if b.key == nil {
		b.key = keyStringer[K](o.Prefix)
	} else if o.Prefix != "" {
		f, p := b.key, o.Prefix
		b.key = func(k K) string { return p + f(k) }
	}
	if m, ok := s.(driver.MaxValueSizer); ok {
		b.maxVal = m.MaxValueSize()
	}
	return b
}

func (b *remoteBackend[K, V]) encode(k string, e Entry[V]) ([]byte, error) {
	data, err := encodeEntry(b.codec, e)
	if err != nil {
		return nil, err
	}
	if b.maxVal > 0 && len(data) > b.maxVal {
		return nil, fmt.Errorf("cache: key %q: encoded value %d bytes exceeds the store limit %d: %w", k, len(data), b.maxVal, ErrTooLarge)
	}
	return data, nil
}

func (b *remoteBackend[K, V]) get(ctx context.Context, k K) (Entry[V], bool, error) {
	ks := b.key(k)
	data, ok, err := b.s.Get(ctx, ks)
	if err != nil || !ok {
		return Entry[V]{}, false, err
	}
	e, err := decodeEntry(b.codec, data)
	if err != nil {
		return Entry[V]{}, false, fmt.Errorf("key %q: %w", ks, err)
	}
	return e, true, nil
}

func (b *remoteBackend[K, V]) getMulti(ctx context.Context, ks []K) ([]Entry[V], []bool, error) {
	keys := make([]string, len(ks))
	for i, k := range ks {
		keys[i] = b.key(k)
	}
	vals, err := b.s.GetMulti(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	es := make([]Entry[V], len(ks))
	oks := make([]bool, len(ks))
	for i, data := range vals {
		if data == nil {
			continue
		}
		e, err := decodeEntry(b.codec, data)
		if err != nil {
			continue // a corrupt entry reads as a miss and is overwritten on load
		}
		es[i], oks[i] = e, true
	}
	return es, oks, nil
}

func (b *remoteBackend[K, V]) set(ctx context.Context, k K, e Entry[V], ttl time.Duration) error {
	ks := b.key(k)
	data, err := b.encode(ks, e)
	if err != nil {
		return err
	}
	return b.s.Set(ctx, ks, data, ttl)
}

func (b *remoteBackend[K, V]) setMulti(ctx context.Context, ks []K, es []Entry[V], ttls []time.Duration) error {
	items := make([]driver.Item, len(ks))
	for i, k := range ks {
		key := b.key(k)
		data, err := b.encode(key, es[i])
		if err != nil {
			return err
		}
		items[i] = driver.Item{Key: key, Value: data, TTL: ttls[i]}
	}
	return b.s.SetMulti(ctx, items)
}

func (b *remoteBackend[K, V]) add(ctx context.Context, k K, e Entry[V], ttl time.Duration) (bool, error) {
	ks := b.key(k)
	data, err := b.encode(ks, e)
	if err != nil {
		return false, err
	}
	return b.s.Add(ctx, ks, data, ttl)
}

func (b *remoteBackend[K, V]) del(ctx context.Context, ks ...K) error {
	keys := make([]string, len(ks))
	for i, k := range ks {
		keys[i] = b.key(k)
	}
	return b.s.Delete(ctx, keys...)
}

func (b *remoteBackend[K, V]) evictions() uint64 { return 0 }
