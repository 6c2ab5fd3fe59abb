package cache

import (
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/sketch"
)

// Options configure a Cache. The zero value (or nil) means: entries never go
// stale, no negative caching, no stale serving, no refresh-ahead, JSON codec.
type Options[K comparable, V any] struct {
	// TTL is how long a stored value stays fresh. Zero means forever.
	TTL time.Duration
	// Jitter spreads TTLs to avoid synchronised expiry: each TTL is
	// multiplied by a uniform factor in [1-Jitter, 1+Jitter]. In [0, 1).
	// For example TTL 24h with Jitter 0.25 gives 18h to 30h.
	Jitter float64
	// NegativeTTL is how long GetOrLoad remembers that the loader returned
	// ErrNotFound. Zero disables negative caching.
	NegativeTTL time.Duration
	// StaleWhileRevalidate keeps entries this long past their TTL; a
	// GetOrLoad in that window returns the stale value at once and reloads
	// it in the background (once per key).
	StaleWhileRevalidate time.Duration
	// StaleIfError keeps entries this long past their TTL; when the
	// synchronous reload of an expired entry fails, GetOrLoad returns the
	// stale value instead of the error.
	StaleIfError time.Duration
	// RefreshAhead, in (0, 1), reloads an entry in the background (once
	// per key) when it is read after this fraction of its TTL has passed,
	// so hot keys never expire. Zero disables it.
	RefreshAhead float64
	// EarlyExpiration is the XFetch beta (1 is the usual value): a read of
	// a fresh entry triggers a background reload with a probability that
	// grows as expiry nears and as the last load took longer
	// (now - delta·beta·ln(rand) ≥ expiry). Zero disables it.
	EarlyExpiration float64
	// Guard, if set, is asked before the store: false means the key
	// definitely does not exist (a Bloom filter of existing keys, see
	// BloomGuard), and GetOrLoad returns ErrNotFound without touching
	// store or loader.
	Guard func(key K) bool
	// HotKeys, if set, counts every read (Get, GetMulti, GetOrLoad) of a
	// key, by its KeyString, in this sketch.TopK, so Cache.HotKeys (or
	// HotKeys.Hot) names the keys to pin in L1, replicate or shard
	// further. It costs a TopK.Add under the TopK's one lock per read
	// (about 200 ns per hit with two parallel readers, see
	// BenchmarkGetOrLoadHitHotKeys; HotKeysSample cuts it). Call
	// HotKeys.Decay on a timer to follow changing traffic.
	HotKeys *sketch.TopK
	// HotKeysSample, if above 1, counts one read in HotKeysSample (picked
	// at random) as HotKeysSample reads, cutting the cost of HotKeys by
	// that factor; counts become estimates within a few percent for keys
	// read thousands of times, which is what hot keys are. 0 or 1 counts
	// every read; negative is an error.
	HotKeysSample int
	// Codec encodes values for remote stores (NewRemote, OpenTiered's L2).
	// Nil means JSON.
	Codec Codec[V]
	// KeyString maps keys to the remote store's string keys. Nil means the
	// key itself for string keys and fmt.Sprint otherwise.
	KeyString func(key K) string
	// Prefix is prepended to every remote key.
	Prefix string
	// L1TTL caps how long a tiered cache keeps an entry in its in-process
	// L1 (a bound on staleness if an invalidation message is lost). Zero
	// means 1 minute.
	L1TTL time.Duration
	// Name is reported as the scalekit.name attribute of metrics and spans,
	// so two caches in one service never merge. Default "cache".
	Name string
	// Clock is the time source; nil is the real clock.
	Clock clock.Clock
	// MeterProvider and TracerProvider default to the global providers.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

func (o *Options[K, V]) validate() error {
	switch {
	case o.TTL < 0:
		return fmt.Errorf("%w: TTL %v", ErrInvalidTTL, o.TTL)
	case o.NegativeTTL < 0:
		return fmt.Errorf("%w: NegativeTTL %v", ErrInvalidTTL, o.NegativeTTL)
	case o.StaleWhileRevalidate < 0:
		return fmt.Errorf("%w: StaleWhileRevalidate %v", ErrInvalidTTL, o.StaleWhileRevalidate)
	case o.StaleIfError < 0:
		return fmt.Errorf("%w: StaleIfError %v", ErrInvalidTTL, o.StaleIfError)
	case o.L1TTL < 0:
		return fmt.Errorf("%w: L1TTL %v", ErrInvalidTTL, o.L1TTL)
	case o.Jitter < 0 || o.Jitter >= 1 || math.IsNaN(o.Jitter):
		return fmt.Errorf("%w: Jitter %v not in [0, 1)", ErrInvalidTTL, o.Jitter)
	case o.RefreshAhead < 0 || o.RefreshAhead >= 1 || math.IsNaN(o.RefreshAhead):
		return fmt.Errorf("%w: RefreshAhead %v not in [0, 1)", ErrInvalidTTL, o.RefreshAhead)
	case o.EarlyExpiration < 0 || math.IsNaN(o.EarlyExpiration) || math.IsInf(o.EarlyExpiration, 0):
		return fmt.Errorf("%w: EarlyExpiration %v", ErrInvalidTTL, o.EarlyExpiration)
	case o.HotKeysSample < 0:
		return fmt.Errorf("%w: HotKeysSample %d", ErrInvalidTTL, o.HotKeysSample)
	case (o.RefreshAhead > 0 || o.EarlyExpiration > 0) && o.TTL == 0:
		return fmt.Errorf("%w: RefreshAhead and EarlyExpiration need a TTL", ErrInvalidTTL)
	}
	return nil
}

// staleWindow is how long entries are kept past their freshness.
func (o *Options[K, V]) staleWindow() time.Duration {
	return max(o.StaleWhileRevalidate, o.StaleIfError)
}

func keyStringer[K comparable](prefix string) func(K) string {
	var zero K
	if _, ok := any(zero).(string); ok {
		return func(k K) string { return prefix + any(k).(string) }
	}
	return func(k K) string { return prefix + fmt.Sprint(k) }
}
