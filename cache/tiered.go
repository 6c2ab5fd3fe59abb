package cache

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
)

// OpenTiered returns a two-tier Cache: an in-process L1 (for example a
// memorycache.Store[string, cache.Entry[V]]) in front of a shared remote L2
// (rediscache). Reads try L1, then L2 (filling L1); writes and deletes go
// to L2, then L1, then are broadcast so every other instance drops the keys
// from its L1. The broadcast uses l2's driver.Broadcaster (Redis pub/sub);
// OpenTiered subscribes before it returns, so it does I/O.
//
// Invalidation is best effort: a message lost while an instance is
// disconnected leaves its L1 stale for at most Options.L1TTL (default 1
// minute). A read does not keep in L1 a value it fetched from L2 while an
// invalidation arrived (the value may predate the write that sent it), so
// a read racing a write elsewhere cannot leave a stale copy behind. L1 keys
// are the remote (string) keys.
func OpenTiered[K comparable, V any](ctx context.Context, l1 driver.Local[string, Entry[V]], l2 driver.Store, opts *Options[K, V]) (*Cache[K, V], error) {
	if l1 == nil || l2 == nil {
		return nil, errors.New("cache: tiered cache needs both an L1 and an L2 store")
	}
	bc, ok := l2.(driver.Broadcaster)
	if !ok {
		return nil, errors.New("cache: tiered cache needs an L2 store that implements driver.Broadcaster")
	}
	var o Options[K, V]
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.L1TTL == 0 {
		o.L1TTL = time.Minute
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	t := &tieredBackend[K, V]{l1: l1, l2: newRemoteBackend(l2, &o), bc: bc, origin: hex.EncodeToString(id[:]), l1TTL: o.L1TTL}
	c, err := newCache[K, V](t, &o, true)
	if err != nil {
		return nil, err
	}
	t.now = c.now
	t.stale = o.staleWindow()
	sub, err := bc.Subscribe(ctx, t.onMessage)
	if err != nil {
		_ = c.Close(ctx)
		return nil, fmt.Errorf("cache: subscribe to invalidations: %w", err)
	}
	c.closeFns = append(c.closeFns, sub.Close)
	return c, nil
}

type tieredBackend[K comparable, V any] struct {
	l1     driver.Local[string, Entry[V]]
	l2     *remoteBackend[K, V]
	bc     driver.Broadcaster
	origin string
	l1TTL  time.Duration
	stale  time.Duration
	now    func() int64
	// invalidations counts messages from other instances. A read that
	// fetched from L2 fills L1 only if no message arrived meanwhile.
	invalidations atomic.Uint64
}

func (t *tieredBackend[K, V]) onMessage(msg []byte) {
	origin, keys, err := decodeInvalidation(msg)
	if err != nil || origin == t.origin {
		return
	}
	// Count first, then delete: a concurrent fillL1From either sees the
	// new count and undoes its fill, or filled before the Delete below.
	t.invalidations.Add(1)
	for _, k := range keys {
		t.l1.Delete(k)
	}
}

// fillL1From fills L1 with e, read from L2 after the invalidation count
// was seen, and undoes the fill if an invalidation arrived since: e may be
// older than the write that sent it.
func (t *tieredBackend[K, V]) fillL1From(seen uint64, k string, e Entry[V]) {
	if t.invalidations.Load() != seen {
		return
	}
	t.fillL1(k, e)
	if t.invalidations.Load() != seen {
		t.l1.Delete(k)
	}
}

// l1TTLFor bounds an L1 copy by the entry's remaining life and L1TTL.
func (t *tieredBackend[K, V]) l1TTLFor(e Entry[V]) time.Duration {
	ttl := t.l1TTL
	if e.Fresh != 0 {
		left := time.Duration(e.Fresh-t.now()) + t.stale
		if left <= 0 {
			return 0
		}
		ttl = min(ttl, left)
	}
	return ttl
}

func (t *tieredBackend[K, V]) fillL1(k string, e Entry[V]) {
	if ttl := t.l1TTLFor(e); ttl > 0 {
		_ = t.l1.Set(k, e, ttl)
	}
}

func (t *tieredBackend[K, V]) get(ctx context.Context, k K) (Entry[V], bool, error) {
	ks := t.l2.key(k)
	if e, ok := t.l1.Get(ks); ok {
		return e, true, nil
	}
	seen := t.invalidations.Load()
	e, ok, err := t.l2.get(ctx, k)
	if err != nil || !ok {
		return e, ok, err
	}
	t.fillL1From(seen, ks, e)
	return e, true, nil
}

func (t *tieredBackend[K, V]) getMulti(ctx context.Context, ks []K) ([]Entry[V], []bool, error) {
	es := make([]Entry[V], len(ks))
	oks := make([]bool, len(ks))
	var missIdx []int
	var missKeys []K
	for i, k := range ks {
		if e, ok := t.l1.Get(t.l2.key(k)); ok {
			es[i], oks[i] = e, true
		} else {
			missIdx, missKeys = append(missIdx, i), append(missKeys, k)
		}
	}
	if len(missKeys) == 0 {
		return es, oks, nil
	}
	seen := t.invalidations.Load()
	res, rok, err := t.l2.getMulti(ctx, missKeys)
	if err != nil {
		return nil, nil, err
	}
	for j, i := range missIdx {
		if rok[j] {
			es[i], oks[i] = res[j], true
			t.fillL1From(seen, t.l2.key(missKeys[j]), res[j])
		}
	}
	return es, oks, nil
}

func (t *tieredBackend[K, V]) publish(ctx context.Context, keys []string) error {
	return t.bc.Publish(ctx, encodeInvalidation(t.origin, keys))
}

func (t *tieredBackend[K, V]) set(ctx context.Context, k K, e Entry[V], ttl time.Duration) error {
	if err := t.l2.set(ctx, k, e, ttl); err != nil {
		return err
	}
	ks := t.l2.key(k)
	t.fillL1(ks, e)
	return t.publish(ctx, []string{ks})
}

func (t *tieredBackend[K, V]) setMulti(ctx context.Context, ks []K, es []Entry[V], ttls []time.Duration) error {
	if err := t.l2.setMulti(ctx, ks, es, ttls); err != nil {
		return err
	}
	keys := make([]string, len(ks))
	for i, k := range ks {
		keys[i] = t.l2.key(k)
		t.fillL1(keys[i], es[i])
	}
	return t.publish(ctx, keys)
}

func (t *tieredBackend[K, V]) add(ctx context.Context, k K, e Entry[V], ttl time.Duration) (bool, error) {
	added, err := t.l2.add(ctx, k, e, ttl)
	if err != nil || !added {
		return added, err
	}
	ks := t.l2.key(k)
	t.fillL1(ks, e)
	return true, t.publish(ctx, []string{ks})
}

func (t *tieredBackend[K, V]) del(ctx context.Context, ks ...K) error {
	keys := make([]string, len(ks))
	for i, k := range ks {
		keys[i] = t.l2.key(k)
		t.l1.Delete(keys[i])
	}
	if err := t.l2.del(ctx, ks...); err != nil {
		return err
	}
	return t.publish(ctx, keys)
}

func (t *tieredBackend[K, V]) evictions() uint64 {
	if ev, ok := t.l1.(interface{ Evictions() uint64 }); ok {
		return ev.Evictions()
	}
	return 0
}

// Invalidation messages: version byte 1, then uvarint-length-prefixed
// origin and keys.
const invalidationVersion = 1

func encodeInvalidation(origin string, keys []string) []byte {
	buf := []byte{invalidationVersion}
	buf = binary.AppendUvarint(buf, uint64(len(origin)))
	buf = append(buf, origin...)
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
	}
	return buf
}

func decodeInvalidation(msg []byte) (origin string, keys []string, err error) {
	if len(msg) == 0 || msg[0] != invalidationVersion {
		return "", nil, fmt.Errorf("%w: invalidation message version", ErrCorrupt)
	}
	rest := msg[1:]
	next := func() (string, bool) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return "", false
		}
		s := string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
		return s, true
	}
	origin, ok := next()
	if !ok {
		return "", nil, fmt.Errorf("%w: invalidation origin", ErrCorrupt)
	}
	count, w := binary.Uvarint(rest)
	if w <= 0 || count > uint64(len(rest)) {
		return "", nil, fmt.Errorf("%w: invalidation key count", ErrCorrupt)
	}
	rest = rest[w:]
	keys = make([]string, 0, count)
	for range count {
		k, ok := next()
		if !ok {
			return "", nil, fmt.Errorf("%w: invalidation key", ErrCorrupt)
		}
		keys = append(keys, k)
	}
	if len(rest) != 0 {
		return "", nil, fmt.Errorf("%w: trailing bytes in invalidation", ErrCorrupt)
	}
	return origin, keys, nil
}
