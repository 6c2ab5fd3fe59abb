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
// (rediscache). Reads try L1, then L2 (filling L1). Writes and deletes go
// to L2 first; once L2 has answered, the writer drops the keys from its own
// L1 (it does not fill L1 with what it wrote: a concurrent writer elsewhere
// may have overwritten it in L2) and broadcasts them so every other
// instance drops them too. The broadcast uses l2's driver.Broadcaster
// (Redis pub/sub); OpenTiered subscribes before it returns, so it does I/O.
//
// Consistency: a read that fetched a value from L2 keeps it in L1 only if
// no write on this instance and no invalidation message for that key
// (striped counters) happened meanwhile, so a read racing a write, here or
// elsewhere, cannot leave the overwritten value behind. Once a write has
// completed and its message was delivered, every instance reads what L2
// holds. Delivery is best effort: a message lost while an instance is
// disconnected leaves its L1 stale for at most Options.L1TTL (default 1
// minute). L1 keys are the remote (string) keys.
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
	// gens counts, per stripe of keys, the writes this instance made and
	// the invalidations it received. A read that fetched from L2 keeps the
	// value in L1 only if its stripe's count did not move meanwhile.
	gens [genStripes]atomic.Uint64
}

// genStripes is the number of generation counters; keys hash onto them.
const genStripes = 256

func (t *tieredBackend[K, V]) gen(k string) *atomic.Uint64 {
	// FNV-1a: cheap and allocation-free.
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= 16777619
	}
	return &t.gens[h%genStripes]
}

// invalidate drops k from L1 after a write to L2 has completed (its own or,
// through a message, another instance's). The count moves first, then L1 is
// cleared: a concurrent fillL1From either sees the new count and undoes its
// fill, or filled before the Delete below.
func (t *tieredBackend[K, V]) invalidate(k string) {
	t.gen(k).Add(1)
	t.l1.Delete(k)
}

func (t *tieredBackend[K, V]) onMessage(msg []byte) {
	origin, keys, err := decodeInvalidation(msg)
	if err != nil || origin == t.origin {
		return
	}
	for _, k := range keys {
		t.invalidate(k)
	}
}

// fillL1From fills L1 with e, read from L2 after the key's generation was
// seen, and undoes the fill if a write or invalidation happened since: e
// may be older than that write.
func (t *tieredBackend[K, V]) fillL1From(seen uint64, k string, e Entry[V]) {
	g := t.gen(k)
	if g.Load() != seen {
		return
	}
	t.fillL1(k, e)
	if g.Load() != seen {
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
	seen := t.gen(ks).Load()
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
	var missStr []string
	var seen []uint64
	for i, k := range ks {
		s := t.l2.key(k)
		if e, ok := t.l1.Get(s); ok {
			es[i], oks[i] = e, true
		} else {
			missIdx, missKeys, missStr = append(missIdx, i), append(missKeys, k), append(missStr, s)
			seen = append(seen, t.gen(s).Load())
		}
	}
	if len(missKeys) == 0 {
		return es, oks, nil
	}
	res, rok, err := t.l2.getMulti(ctx, missKeys)
	if err != nil {
		return nil, nil, err
	}
	for j, i := range missIdx {
		if rok[j] {
			es[i], oks[i] = res[j], true
			t.fillL1From(seen[j], missStr[j], res[j])
		}
	}
	return es, oks, nil
}

func (t *tieredBackend[K, V]) publish(ctx context.Context, keys []string) error {
	return t.bc.Publish(ctx, encodeInvalidation(t.origin, keys))
}

func (t *tieredBackend[K, V]) set(ctx context.Context, k K, e Entry[V], ttl time.Duration) error {
	err := t.l2.set(ctx, k, e, ttl)
	ks := t.l2.key(k)
	t.invalidate(ks) // also on error: the write may have landed
	if err != nil {
		return err
	}
	return t.publish(ctx, []string{ks})
}

func (t *tieredBackend[K, V]) setMulti(ctx context.Context, ks []K, es []Entry[V], ttls []time.Duration) error {
	err := t.l2.setMulti(ctx, ks, es, ttls)
	keys := make([]string, len(ks))
	for i, k := range ks {
		keys[i] = t.l2.key(k)
		t.invalidate(keys[i])
	}
	if err != nil {
		return err
	}
	return t.publish(ctx, keys)
}

func (t *tieredBackend[K, V]) add(ctx context.Context, k K, e Entry[V], ttl time.Duration) (bool, error) {
	added, err := t.l2.add(ctx, k, e, ttl)
	if err == nil && !added {
		return false, nil
	}
	ks := t.l2.key(k)
	t.invalidate(ks)
	if err != nil {
		return false, err
	}
	return true, t.publish(ctx, []string{ks})
}

func (t *tieredBackend[K, V]) del(ctx context.Context, ks ...K) error {
	// L2 first, then L1: a read between the two would refill L1 from L2.
	err := t.l2.del(ctx, ks...)
	keys := make([]string, len(ks))
	for i, k := range ks {
		keys[i] = t.l2.key(k)
		t.invalidate(keys[i])
	}
	if err != nil {
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
