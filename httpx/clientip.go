package httpx

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/scalekit-go/scalekit/internal/clientip"
)

// ClientIPOptions configure a ClientIPResolver. The zero value (or nil)
// trusts no proxy: the client is the connection's peer.
type ClientIPOptions struct {
	// TrustedProxies are the networks of the reverse proxies and load
	// balancers in front of the service. The client is the right-most hop,
	// starting with the connection's peer, that is not in them; hops left
	// of it were written by the client and are ignored. Empty: the peer.
	TrustedProxies []netip.Prefix
	// Header is the forwarding header those proxies set: "X-Forwarded-For"
	// (default) or "Forwarded" (RFC 7239). Only one is read, so a client
	// cannot slip in the other.
	Header string
	// IPv4PrefixLen and IPv6PrefixLen group addresses into one key
	// (defaults 32 and 64): one subscriber usually holds a whole IPv6 /64,
	// so keying single IPv6 addresses would give it 2^64 buckets.
	IPv4PrefixLen, IPv6PrefixLen int
}

// ClientIPResolver finds the client address of a request behind trusted
// proxies (X-Forwarded-For or Forwarded, right-most untrusted hop) and
// turns it into a rate-limit or idempotency key. It is the same resolution
// lb uses for KeyFromIP and ProxyOptions.TrustedProxies. Safe for
// concurrent use; create one with NewClientIPResolver.
type ClientIPResolver struct {
	r *clientip.Resolver
}

// NewClientIPResolver returns a resolver; bad options (an unknown header,
// a prefix length out of range, an invalid prefix) are an error.
func NewClientIPResolver(opts *ClientIPOptions) (*ClientIPResolver, error) {
	var o ClientIPOptions
	if opts != nil {
		o = *opts
	}
	r, err := clientip.New(clientip.Options{TrustedProxies: o.TrustedProxies, Header: o.Header,
		IPv4Bits: o.IPv4PrefixLen, IPv6Bits: o.IPv6PrefixLen})
	if err != nil {
		return nil, fmt.Errorf("httpx: %w", err)
	}
	return &ClientIPResolver{r: r}, nil
}

// defaultClientIP trusts no proxy and keys IPv6 by /64.
var defaultClientIP, _ = NewClientIPResolver(nil)

// Addr returns the client address of r; the zero Addr when RemoteAddr is
// not an address (a Unix socket, a test).
func (c *ClientIPResolver) Addr(r *http.Request) netip.Addr { return c.or().r.Addr(r) }

// Key returns the client's key: its IPv4 address, or its IPv6 network
// ("2001:db8:1:2::/64"), per the prefix lengths. A request whose
// RemoteAddr is not an address is keyed by RemoteAddr itself ("unknown"
// when empty). It never fails; its signature is RateLimitOptions.Key's.
func (c *ClientIPResolver) Key(r *http.Request) (string, error) {
	c = c.or()
	if a := c.r.Addr(r); a.IsValid() {
		return c.r.Key(a), nil
	}
	if r.RemoteAddr == "" {
		return "unknown", nil
	}
	return r.RemoteAddr, nil
}

func (c *ClientIPResolver) or() *ClientIPResolver {
	if c == nil || c.r == nil {
		return defaultClientIP
	}
	return c
}

// principalKey is the context key of WithPrincipal.
type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated caller's identity
// (a user or API-client ID). Authentication middleware should set it:
// Idempotency scopes keys by it by default, so one caller's key never
// reaches another's stored response.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// PrincipalFrom returns the principal set by WithPrincipal, or "".
func PrincipalFrom(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}
