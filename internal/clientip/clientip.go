package clientip

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Forwarding headers a Resolver reads.
const (
	XForwardedFor = "X-Forwarded-For"
	Forwarded     = "Forwarded" // RFC 7239
)

// PrivateRanges are loopback, private (RFC 1918, RFC 4193) and link-local
// networks: where a proxy in front of a service usually lives.
var PrivateRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// ErrBadOptions is returned by New for invalid options.
var ErrBadOptions = errors.New("clientip: invalid options")

// Options configure a Resolver.
type Options struct {
	// TrustedProxies are the networks of the proxies in front of the
	// service. Empty: the peer address is the client.
	TrustedProxies []netip.Prefix
	// Header is the forwarding header the trusted proxies set:
	// XForwardedFor (default) or Forwarded.
	Header string
	// IPv4Bits and IPv6Bits are the prefix lengths Key groups addresses
	// by (defaults 32 and 64: one key per IPv4 address, per IPv6 /64, the
	// block one subscriber usually gets).
	IPv4Bits, IPv6Bits int
}

// Resolver finds the client address of a request. Safe for concurrent use.
type Resolver struct {
	trusted    []netip.Prefix
	forwarded  bool
	v4b, v6b   int
	headerName string
}

// New returns a Resolver for o.
func New(o Options) (*Resolver, error) {
	r := &Resolver{v4b: o.IPv4Bits, v6b: o.IPv6Bits}
	switch http.CanonicalHeaderKey(o.Header) {
	case "", XForwardedFor:
		r.headerName = XForwardedFor
	case Forwarded:
		r.headerName, r.forwarded = Forwarded, true
	default:
		return nil, fmt.Errorf("%w: header %q (want %s or %s)", ErrBadOptions, o.Header, XForwardedFor, Forwarded)
	}
	if r.v4b == 0 {
		r.v4b = 32
	}
	if r.v6b == 0 {
		r.v6b = 64
	}
	if r.v4b < 1 || r.v4b > 32 {
		return nil, fmt.Errorf("%w: IPv4 prefix length %d (want 1 to 32)", ErrBadOptions, o.IPv4Bits)
	}
	if r.v6b < 1 || r.v6b > 128 {
		return nil, fmt.Errorf("%w: IPv6 prefix length %d (want 1 to 128)", ErrBadOptions, o.IPv6Bits)
	}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: invalid trusted proxy prefix", ErrBadOptions)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Trusted reports whether a is the address of a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer returns the address of remoteAddr ("host:port" or a bare address),
// or the zero Addr when it is not one.
func Peer(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.Trim(remoteAddr, "[]")); err == nil {
		return a.Unmap().WithZone("")
	}
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

// Addr returns the client address of req: the right-most hop, starting
// with the connection's peer, that is not a trusted proxy. When every hop
// is trusted it is the left-most one; when a hop cannot be parsed
// ("unknown", an obfuscated Forwarded node) it is the trusted proxy that
// reported it. The zero Addr means RemoteAddr itself is not an address.
func (r *Resolver) Addr(req *http.Request) netip.Addr {
	peer := Peer(req.RemoteAddr)
	if !peer.IsValid() || len(r.trusted) == 0 || !r.Trusted(peer) {
		return peer
	}
	hops := r.hops(req.Header)
	cur := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := hops[i]
		if !a.IsValid() {
			return cur
		}
		if !r.Trusted(a) {
			return a
		}
		cur = a
	}
	return cur
}

// PeerTrusted reports whether the connection of req comes from a trusted
// proxy, whose forwarding headers may then be kept and extended.
func (r *Resolver) PeerTrusted(req *http.Request) bool {
	p := Peer(req.RemoteAddr)
	return p.IsValid() && r.Trusted(p)
}

// Header returns the forwarding header r reads.
func (r *Resolver) Header() string { return r.headerName }

// hops returns the addresses in the forwarding header, left to right; an
// entry that is not an address is the zero Addr.
func (r *Resolver) hops(h http.Header) []netip.Addr {
	var out []netip.Addr
	for _, line := range h.Values(r.headerName) {
		for _, el := range strings.Split(line, ",") {
			el = strings.TrimSpace(el)
			if r.forwarded {
				el = forwardedFor(el)
			}
			if el == "" && !r.forwarded {
				continue
			}
			out = append(out, parseHop(el))
			if len(out) > 64 { // a header this long is forged; stop
				return out
			}
		}
	}
	return out
}

// forwardedFor returns the for= parameter of one Forwarded element,
// unquoted, or "" when it has none.
func forwardedFor(el string) string {
	for _, pair := range strings.Split(el, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// parseHop parses "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]"
// or "[2001:db8::1]:80".
func parseHop(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

// Key returns the rate-limit key of a: the address itself, or its network
// when the configured prefix length is shorter ("2001:db8:1:2::/64").
func (r *Resolver) Key(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	bits := r.v6b
	if a.Is4() {
		bits = r.v4b
	}
	if bits >= a.BitLen() {
		return a.String()
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}
