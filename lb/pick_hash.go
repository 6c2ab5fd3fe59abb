package lb

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"

	"github.com/scalekit-go/scalekit/internal/clientip"
)

// HashOptions tunes ConsistentHash. A nil *HashOptions means the defaults.
type HashOptions struct {
	// Replicas is the number of points each unit of weight puts on the ring
	// (default 100). More points even out the key distribution and cost
	// memory and build time, not pick time beyond one binary search.
	Replicas int
	// Epsilon bounds the load: no endpoint takes more than
	// ceil((1+Epsilon) × average) in-flight calls, weighted (default 0.25).
	// A key whose endpoint is full walks on along the ring to the next one
	// with room. Negative disables the bound (plain consistent hashing).
	Epsilon float64
}

// ConsistentHash returns consistent hashing with bounded loads (Mirrokni,
// Thorup and Zadimoghaddam; the method of HAProxy and Vimeo): keys map to
// points on a ring, so adding or removing one endpoint moves only the keys
// it gains or loses, and no endpoint carries more than (1+ε)× the average
// load. The key comes from PickInfo.Key (see KeyFromIP, KeyFromHeader,
// KeyFromCookie); an empty key picks at random.
func ConsistentHash(o *HashOptions) Policy {
	p := hashPolicy{replicas: 100, eps: 0.25}
	if o != nil {
		if o.Replicas > 0 {
			p.replicas = o.Replicas
		}
		if o.Epsilon != 0 {
			p.eps = o.Epsilon
		}
	}
	return p
}

type hashPolicy struct {
	replicas int
	eps      float64
}

func (hashPolicy) Name() string { return "consistent_hash" }

type ringPoint struct {
	hash  uint64
	owner int32
}

// maxRingPoints bounds the ring; larger weight sums get fewer points per
// unit of weight.
const maxRingPoints = 1 << 18

// ringSizes returns the number of ring points of each endpoint. An endpoint
// at its full configured weight W gets replicas×W points whatever the
// others do; one whose effective weight is a fraction f of its full weight
// (slow start) gets f of them, a prefix of its full set, so ramping up
// only takes keys over from others and never moves keys between the
// stable endpoints.
func ringSizes(ready []Weighted, replicas int) []int {
	// scale maps configured weights to the effective weights of endpoints
	// at full weight (1 standalone, the Balancer's fixed-point scale
	// inside a Balancer).
	scale, sumW := 0.0, 0
	for _, r := range ready {
		scale = max(scale, float64(max(r.Weight, 1))/float64(r.Backend.Weight()))
		sumW += r.Backend.Weight()
	}
	if replicas*sumW > maxRingPoints {
		replicas = max(1, maxRingPoints/sumW)
	}
	out := make([]int, len(ready))
	for i, r := range ready {
		f := float64(max(r.Weight, 1)) / (float64(r.Backend.Weight()) * scale)
		out[i] = max(1, int(math.Round(f*float64(replicas*r.Backend.Weight()))))
	}
	return out
}

func (p hashPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	nw := ringSizes(ready, p.replicas)
	totalW := 0
	for _, n := range nw {
		totalW += n
	}
	points := make([]ringPoint, 0, totalW)
	for i, r := range ready {
		addr := r.Backend.Addr()
		for k := 0; k < nw[i]; k++ {
			points = append(points, ringPoint{hashString(addr + "#" + strconv.Itoa(k)), int32(i)})
		}
	}
	slices.SortFunc(points, func(a, b ringPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	hp := &hashPicker{
		set:    backendsOf(ready),
		hashes: make([]uint64, len(points)),
		owners: make([]int32, len(points)),
		share:  make([]float64, len(ready)),
		eps:    p.eps,
	}
	for i, pt := range points {
		hp.hashes[i], hp.owners[i] = pt.hash, pt.owner
	}
	for i := range ready {
		hp.share[i] = float64(nw[i]) / float64(totalW)
	}
	return hp
}

type hashPicker struct {
	set    []*Backend
	hashes []uint64
	owners []int32
	share  []float64 // weight share of each endpoint
	eps    float64
}

func (p *hashPicker) Pick(info PickInfo) (*Backend, error) {
	if info.Key == "" {
		return p.set[randN(len(p.set))], nil
	}
	h := hashString(info.Key)
	n := len(p.hashes)
	// first point with hash >= h
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.hashes[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == n {
		lo = 0
	}
	if p.eps < 0 || len(p.set) == 1 {
		return p.set[p.owners[lo]], nil
	}
	// Bounded loads: the total includes the call being placed.
	total := float64(p.set[0].shared.Load() + 1)
	f := 1 + p.eps
	for k := 0; k < n; k++ {
		i := lo + k
		if i >= n {
			i -= n
		}
		o := p.owners[i]
		b := p.set[o]
		if float64(b.inflight.Load()) < math.Ceil(f*total*p.share[o]) {
			return b, nil
		}
	}
	return p.set[p.owners[lo]], nil
}

// KeyFunc extracts the affinity key of a request for hash policies and
// sticky fallbacks. It must be safe for concurrent use.
type KeyFunc func(r *http.Request) string

// KeyFromIP keys on the client IP. Without trustForwarded it is the
// connection's remote address. With trustForwarded (this proxy sits behind
// others in a private network) it is KeyFromClientIP(clientip
// PrivateRanges): the right-most X-Forwarded-For entry that is not a
// loopback, private (RFC 1918, RFC 4193) or link-local address, read only
// when the connection itself comes from such an address. The left-most
// entries are written by the client and never used. Behind proxies with
// public addresses, use KeyFromClientIP with their networks.
func KeyFromIP(trustForwarded bool) KeyFunc {
	if trustForwarded {
		return keyFromResolver(privateResolver)
	}
	return func(r *http.Request) string {
		if a := clientip.Peer(r.RemoteAddr); a.IsValid() {
			return a.String()
		}
		return r.RemoteAddr
	}
}

// privateResolver trusts proxies in private networks.
var privateResolver, _ = clientip.New(clientip.Options{TrustedProxies: clientip.PrivateRanges})

// KeyFromClientIP keys on the client IP behind the trusted proxies in
// trusted: starting from the connection's remote address, the right-most
// X-Forwarded-For hop that is not in trusted (the same resolution as
// httpx.ClientIPResolver and ProxyOptions.TrustedProxies). An invalid
// prefix is an error.
func KeyFromClientIP(trusted []netip.Prefix) (KeyFunc, error) {
	res, err := clientip.New(clientip.Options{TrustedProxies: trusted})
	if err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	return keyFromResolver(res), nil
}

func keyFromResolver(res *clientip.Resolver) KeyFunc {
	return func(r *http.Request) string {
		if a := res.Addr(r); a.IsValid() {
			return a.String()
		}
		return r.RemoteAddr
	}
}

// KeyFromHeader keys on the value of header name (for example a user or
// tenant ID header).
func KeyFromHeader(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string { return r.Header.Get(name) }
}

// KeyFromCookie keys on the value of cookie name.
func KeyFromCookie(name string) KeyFunc {
	return func(r *http.Request) string {
		c, err := r.Cookie(name)
		if err != nil {
			return ""
		}
		return c.Value
	}
}
