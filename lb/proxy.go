package lb

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"time"

	"github.com/scalekit-go/scalekit/internal/clientip"
)

// Route sends matching requests to its own endpoint pool. A request
// matches when its host, path and headers all match. Among matching routes
// the most specific wins: an exact Host beats a wildcard, which beats no
// Host; then the longest PathPrefix; then the most Headers; then the first
// listed. So "/video/" goes to the video servers, "/billing/" to the
// billing servers and "/" to the rest, per virtual host.
type Route struct {
	// Name labels the route in errors.
	Name string
	// Host matches the request host without port, ignoring case:
	// "api.example.com", a wildcard "*.example.com" (any subdomain), or ""
	// for any host.
	Host string
	// PathPrefix matches whole leading path segments ("" or "/" for all):
	// "/api" matches "/api", "/api/" and "/api/v1" but not "/apix"; a
	// prefix ending in "/" ("/static/") matches paths below it.
	PathPrefix string
	// Headers must all be present with these values; a value of "*"
	// only requires the header to be present.
	Headers map[string]string
	// Balancer holds the route's endpoints and policy. Required.
	Balancer *Balancer
	// Key gives hash policies their affinity key (for example
	// KeyFromIP(false), KeyFromHeader("X-User"), KeyFromCookie("sid")).
	Key KeyFunc
	// Sticky, if set, pins sessions to endpoints with a cookie.
	Sticky *StickyCookie
	// StripPrefix removes PathPrefix from the path sent upstream.
	StripPrefix bool
	// PreserveHost sends the client's Host header upstream instead of the
	// endpoint address.
	PreserveHost bool
}

func (r *Route) matches(req *http.Request, host string) bool {
	switch {
	case r.Host == "":
	case strings.HasPrefix(r.Host, "*."):
		suffix := r.Host[1:]
		if len(host) <= len(suffix) || !strings.EqualFold(host[len(host)-len(suffix):], suffix) {
			return false
		}
	case !strings.EqualFold(r.Host, host):
		return false
	}
	if !pathHasPrefix(req.URL.Path, r.PathPrefix) {
		return false
	}
	for k, v := range r.Headers {
		got := req.Header.Values(k)
		if len(got) == 0 || (v != "*" && got[0] != v) {
			return false
		}
	}
	return true
}

// pathHasPrefix reports whether prefix is made of whole leading segments
// of path.
func pathHasPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// ProxyOptions configures a ReverseProxy. A nil *ProxyOptions means the
// defaults.
type ProxyOptions struct {
	// Transport sends requests upstream (default: an http.Transport per
	// route, with UpstreamIdleConnsPerHost idle keep-alive connections per
	// endpoint and no transparent gzip).
	Transport http.RoundTripper
	// MaxAttempts bounds the attempts of idempotent requests, each on
	// another endpoint when possible (default 3).
	MaxAttempts int
	// TrustForwarded keeps the incoming X-Forwarded-For chain and appends
	// to it, when the connection comes from a trusted proxy (set it when
	// this proxy sits behind others); by default, and for connections from
	// anyone else, the chain starts afresh with the peer's address.
	TrustForwarded bool
	// TrustedProxies are the networks of the proxies in front of this one
	// that TrustForwarded trusts (default clientip's private ranges:
	// loopback, RFC 1918, RFC 4193 and link-local). The client address is
	// resolved as KeyFromClientIP does: the right-most hop not in them.
	TrustedProxies []netip.Prefix
	// FlushInterval is passed to httputil.ReverseProxy (-1 flushes every
	// write, for streaming).
	FlushInterval time.Duration
	// ErrorLog receives upstream errors (default: not logged).
	ErrorLog *log.Logger
}

// ReverseProxy is an L7 load balancer: it matches each request to a Route
// and forwards it (with net/http/httputil) to an endpoint of the route's
// Balancer, retrying idempotent requests on another endpoint when one
// fails, and sets X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto.
// X-Real-IP and True-Client-IP are always overwritten with the client
// address this proxy resolved (the peer's, or with TrustForwarded the
// right-most untrusted hop), so a client cannot choose them.
// It answers 404 when no route matches, 503 when the route has no endpoint
// available and 502 when the upstream call fails.
//
// A ReverseProxy is safe for concurrent use. Routes are fixed at creation;
// each route's endpoints change through its Balancer.
type ReverseProxy struct {
	routes []proxyRoute
}

type proxyRoute struct {
	Route
	rp *httputil.ReverseProxy
}

// NewReverseProxy returns a proxy over routes.
func NewReverseProxy(routes []Route, o *ProxyOptions) (*ReverseProxy, error) {
	if len(routes) == 0 {
		return nil, errors.New("lb: NewReverseProxy needs at least one route")
	}
	var opts ProxyOptions
	if o != nil {
		opts = *o
	}
	trusted := opts.TrustedProxies
	if trusted == nil {
		trusted = clientip.PrivateRanges
	}
	res, err := clientip.New(clientip.Options{TrustedProxies: trusted})
	if err != nil {
		return nil, fmt.Errorf("lb: ProxyOptions.TrustedProxies: %w", err)
	}
	if !opts.TrustForwarded {
		res, _ = clientip.New(clientip.Options{})
	}
	p := &ReverseProxy{}
	bufs := newCopyBuffers()
	for i, r := range routes {
		if r.Balancer == nil {
			return nil, fmt.Errorf("lb: route %d (%q) has no Balancer", i, r.Name)
		}
		if r.PathPrefix != "" && r.PathPrefix[0] != '/' {
			return nil, fmt.Errorf("lb: route %d (%q) path prefix %q does not start with /", i, r.Name, r.PathPrefix)
		}
		route := r
		tr := &Transport{Balancer: r.Balancer, Base: opts.Transport, MaxAttempts: opts.MaxAttempts,
			Key: r.Key, PreserveHost: r.PreserveHost, forProxy: true}
		rp := &httputil.ReverseProxy{
			Transport:     tr,
			BufferPool:    bufs,
			FlushInterval: opts.FlushInterval,
			ErrorLog:      opts.ErrorLog,
			Rewrite: func(pr *httputil.ProxyRequest) {
				if opts.TrustForwarded && res.PeerTrusted(pr.In) {
					pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
				}
				pr.SetXForwarded()
				if a := res.Addr(pr.In); a.IsValid() {
					// One string and one slice for both headers: only the
					// Transport reads them, and an Add would copy the slice.
					v := []string{a.String()}
					pr.Out.Header["X-Real-Ip"] = v
					pr.Out.Header["True-Client-Ip"] = v
				} else {
					delete(pr.Out.Header, "X-Real-Ip")
					delete(pr.Out.Header, "True-Client-Ip")
				}
				pr.Out.URL.Scheme = "http"
				pr.Out.URL.Host = "upstream.invalid" // the Transport puts the endpoint here
				if route.StripPrefix && route.PathPrefix != "" {
					pr.Out.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(pr.In.URL.Path, route.PathPrefix), "/")
					pr.Out.URL.RawPath = ""
				}
				if route.PreserveHost {
					pr.Out.Host = pr.In.Host
				}
			},
			ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
				status := http.StatusBadGateway
				switch {
				case errors.Is(err, ErrNoEndpoint), errors.Is(err, ErrClosed):
					status = http.StatusServiceUnavailable
				case req.Context().Err() != nil:
					status = 499 // client went away; nobody reads this
				}
				if opts.ErrorLog != nil {
					opts.ErrorLog.Printf("lb: route %q: %s %s: %v", route.Name, req.Method, req.URL.Path, err)
				}
				w.WriteHeader(status)
			},
		}
		if route.Sticky != nil {
			tr.sticky = true
			rp.ModifyResponse = func(resp *http.Response) error {
				if n, _ := resp.Request.Context().Value(noteKey{}).(*pickNote); n != nil {
					route.Sticky.Set(resp.Header, n.sticky, n.picked)
				}
				return nil
			}
		}
		p.routes = append(p.routes, proxyRoute{Route: route, rp: rp})
	}
	return p, nil
}

// Match returns the route a request goes to, or nil.
func (p *ReverseProxy) Match(req *http.Request) *Route {
	if r := p.match(req); r != nil {
		return &r.Route
	}
	return nil
}

func (p *ReverseProxy) match(req *http.Request) *proxyRoute {
	host := req.Host
	if strings.IndexByte(host, ':') >= 0 { // SplitHostPort allocates its error
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	var best *proxyRoute
	for i := range p.routes {
		r := &p.routes[i]
		if r.matches(req, host) && (best == nil || r.beats(best)) {
			best = r
		}
	}
	return best
}

// beats reports whether r is more specific than o.
func (r *proxyRoute) beats(o *proxyRoute) bool {
	if a, b := hostRank(r.Host), hostRank(o.Host); a != b {
		return a > b
	}
	if len(r.PathPrefix) != len(o.PathPrefix) {
		return len(r.PathPrefix) > len(o.PathPrefix)
	}
	return len(r.Headers) > len(o.Headers)
}

func hostRank(h string) int {
	switch {
	case h == "":
		return 0
	case strings.HasPrefix(h, "*."):
		return 1
	}
	return 2
}

// ServeHTTP forwards req to an endpoint of its route.
func (p *ReverseProxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := p.match(req)
	if r == nil {
		http.NotFound(w, req)
		return
	}
	if r.Sticky != nil {
		req = req.WithContext(withNote(req.Context(), &pickNote{sticky: r.Sticky.ID(req)}))
	}
	r.rp.ServeHTTP(w, req)
}
