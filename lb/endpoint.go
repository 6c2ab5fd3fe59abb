package lb

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalekit-go/scalekit/resilience"

	"github.com/scalekit-go/scalekit/internal/mix"
)

// Errors callers branch on.
var (
	// ErrNoEndpoint is returned by Pick when no endpoint can take the call:
	// the set is empty, every endpoint is draining, or every candidate's
	// circuit breaker rejected it.
	ErrNoEndpoint = errors.New("lb: no endpoint available")
	// ErrClosed is returned by Pick and the proxies after Close.
	ErrClosed = errors.New("lb: balancer closed")
	// ErrBadEndpoint reports an endpoint with an empty or malformed address
	// or a negative weight.
	ErrBadEndpoint = errors.New("lb: bad endpoint")
)

// Endpoint is one backend address as a resolver reports it.
type Endpoint struct {
	// Addr is "host:port".
	Addr string
	// Weight is the endpoint's relative capacity; 0 means 1. Weighted
	// policies send it a share of traffic proportional to Weight.
	Weight int
}

func (e Endpoint) validate() error {
	if e.Addr == "" {
		return fmt.Errorf("%w: empty address", ErrBadEndpoint)
	}
	if e.Weight < 0 {
		return fmt.Errorf("%w: %s has negative weight %d", ErrBadEndpoint, e.Addr, e.Weight)
	}
	return nil
}

func (e Endpoint) weight() int {
	if e.Weight <= 0 {
		return 1
	}
	return e.Weight
}

// Backend is the live state of one endpoint inside a Balancer: its load
// (in-flight calls), its latency and bandwidth averages, and its health.
// Pickers read it; the Balancer updates it from Done feedback.
//
// A Backend is safe for concurrent use. Its zero value is not usable:
// Backends come from a Balancer or from NewBackend.
type Backend struct {
	ep     Endpoint
	id     string
	tau    float64 // decay time constant of the averages, in nanoseconds
	invTau float64 // 1/tau: the hot path multiplies instead of dividing
	shared *atomic.Int64

	inflight atomic.Int64
	picks    atomic.Uint64
	ewma     atomic.Uint64 // float64 bits: peak-EWMA latency in ns (0 = no sample)
	ewmaAt   atomic.Int64  // unix ns of the last latency update
	bw       atomic.Uint64 // float64 bits: decayed byte count
	bwAt     atomic.Int64  // unix ns of the last bandwidth update
	ejects   atomic.Uint64 // how often outlier detection ejected it
	draining atomic.Bool   // removed from the set, finishing its calls

	breaker *resilience.Breaker
	addedAt time.Time

	// guarded by the owning Balancer's mu
	healthy  bool
	rise     int
	fall     int
	ejected  bool
	halfOpen bool
	gone     bool
	od       outlierState
	stopHC   func()

	closeOnce sync.Once
	closed    chan struct{}
}

// NewBackends returns standalone Backends for endpoints, for use with a
// Policy's Pickers outside a Balancer (custom balancers, tests). They share
// one in-flight total, which bounded-load hashing needs. decay is the time
// constant of their latency and bandwidth averages (0 means 10 s). Callers
// mark calls with Begin and End themselves.
func NewBackends(endpoints []Endpoint, decay time.Duration) ([]*Backend, error) {
	shared := new(atomic.Int64)
	key := randomKey()
	out := make([]*Backend, len(endpoints))
	for i, e := range endpoints {
		if err := e.validate(); err != nil {
			return nil, err
		}
		out[i] = newBackend(e, decay, shared, time.Time{}, key)
	}
	return out, nil
}

// maxLatency caps the latency average, so that a long run of failures
// (each charged extra) cannot push it towards infinity.
const maxLatency = float64(time.Minute)

func newBackend(ep Endpoint, decay time.Duration, shared *atomic.Int64, now time.Time, key []byte) *Backend {
	if decay <= 0 {
		decay = 10 * time.Second
	}
	return &Backend{
		ep:      ep,
		id:      endpointID(key, ep.Addr),
		tau:     float64(decay),
		invTau:  1 / float64(decay),
		shared:  shared,
		addedAt: now,
		healthy: true,
		closed:  make(chan struct{}),
	}
}

// Addr returns the endpoint's "host:port".
func (b *Backend) Addr() string { return b.ep.Addr }

// Endpoint returns the endpoint the Backend was created for.
func (b *Backend) Endpoint() Endpoint { return b.ep }

// ID returns the endpoint's opaque identifier, used in sticky-session
// cookies: an HMAC of the address under the Balancer's StickyKey (random
// per Balancer unless configured), stable for the Balancer's lifetime, from
// which the address cannot be recovered without the key.
func (b *Backend) ID() string { return b.id }

// Weight returns the configured weight (at least 1).
func (b *Backend) Weight() int { return b.ep.weight() }

// InFlight returns the number of calls picked and not yet Done.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Picks returns how many times the Backend was picked.
func (b *Backend) Picks() uint64 { return b.picks.Load() }

// Ejections returns how many times outlier detection ejected the Backend.
func (b *Backend) Ejections() uint64 { return b.ejects.Load() }

// Closed returns a channel closed once the Backend has left the balancer
// and finished draining (or its drain deadline passed). Proxies close the
// connections they still hold to it then.
func (b *Backend) Closed() <-chan struct{} { return b.closed }

// Latency returns the peak-EWMA latency as of now (0 before any sample).
func (b *Backend) Latency(now time.Time) time.Duration {
	return time.Duration(b.latencyAt(now.UnixNano()))
}

// Bandwidth returns the recent transfer rate in bytes per second.
func (b *Backend) Bandwidth(now time.Time) float64 {
	return b.bytesAt(now.UnixNano()) / (b.tau / 1e9)
}

// Begin records the start of a call. Balancer.Pick calls it; custom
// balancers built on Pickers call it themselves.
func (b *Backend) Begin() {
	b.inflight.Add(1)
	b.shared.Add(1)
	b.picks.Add(1)
}

// End records the end of a call started with Begin: its latency and the
// number of bytes it moved, at time now.
func (b *Backend) End(now time.Time, latency time.Duration, bytes int64) {
	b.inflight.Add(-1)
	b.shared.Add(-1)
	ns := now.UnixNano()
	b.observeLatency(ns, float64(latency))
	if bytes > 0 {
		b.observeBytes(ns, float64(bytes))
	}
}

// decay returns e^(-(now-at)/tau), the weight left to a sample taken at
// time at. Busy endpoints see samples milliseconds apart against a decay
// time of seconds, so the common case uses a second-order series (relative
// error under 2e-7) instead of math.Exp.
func (b *Backend) decay(now, at int64) float64 {
	dt := now - at
	if dt <= 0 {
		return 1
	}
	x := float64(dt) * b.invTau
	if x < 0.01 {
		return 1 - x + x*x/2
	}
	return math.Exp(-x)
}

// latencyAt returns the peak-EWMA value decayed towards zero by the time
// since the last sample (as Finagle's peak EWMA does). An endpoint that
// had a bad spike, or was shunned for failing, and then got no traffic
// looks cheaper and cheaper until it gets a trial call, whose latency then
// sets its average again: idle endpoints are probed, not forgotten.
func (b *Backend) latencyAt(now int64) float64 {
	v := math.Float64frombits(b.ewma.Load())
	if v == 0 {
		return 0
	}
	return v * b.decay(now, b.ewmaAt.Load())
}

// observeLatency folds sample into the peak-sensitive EWMA: a sample above
// the average replaces it at once, a lower one is blended in by elapsed time.
func (b *Backend) observeLatency(now int64, sample float64) {
	if sample <= 0 {
		sample = 1
	}
	for {
		oldBits := b.ewma.Load()
		old := math.Float64frombits(oldBits)
		var nv float64
		switch {
		case old == 0 || sample > old:
			nv = min(sample, maxLatency)
		default:
			w := b.decay(now, b.ewmaAt.Load())
			// Give each sample at least a small weight so a busy endpoint's
			// average moves even when samples arrive within nanoseconds.
			if w > 0.95 {
				w = 0.95
			}
			nv = old*w + sample*(1-w)
		}
		if b.ewma.CompareAndSwap(oldBits, math.Float64bits(nv)) {
			b.ewmaAt.Store(now)
			return
		}
	}
}

func (b *Backend) bytesAt(now int64) float64 {
	v := math.Float64frombits(b.bw.Load())
	if v == 0 {
		return 0
	}
	return v * b.decay(now, b.bwAt.Load())
}

func (b *Backend) observeBytes(now int64, n float64) {
	for {
		oldBits := b.bw.Load()
		nv := math.Float64frombits(oldBits)*b.decay(now, b.bwAt.Load()) + n
		if b.bw.CompareAndSwap(oldBits, math.Float64bits(nv)) {
			b.bwAt.Store(now)
			return
		}
	}
}

func (b *Backend) markClosed() {
	b.closeOnce.Do(func() { close(b.closed) })
}

// randomKey returns a fresh 256-bit key for endpoint IDs.
func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// endpointID is the opaque ID of addr under key: a truncated HMAC-SHA256
// (128 bits), so that a sticky cookie names an endpoint without revealing
// its address to anyone who does not hold the key.
func endpointID(key []byte, addr string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("lb-endpoint\x00" + addr))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// hashString is FNV-1a followed by a 64-bit finaliser, stable across
// processes so that every proxy instance maps a key to the same endpoint.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix.Murmur64(h)
}
