package httpx

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORSOptions configure CORS. The zero value (or nil) allows no origin,
// which makes CORS only add Vary: Origin; set AllowedOrigins or
// AllowOrigin.
type CORSOptions struct {
	// AllowedOrigins lists origins ("https://app.example.com") allowed to
	// call the API. "*" allows any origin, but never with credentials (see
	// AllowCredentials); "https://*.example.com" allows any subdomain of
	// example.com over https. Comparison ignores case.
	AllowedOrigins []string
	// AllowOrigin, when set, decides for origins AllowedOrigins does not
	// list.
	AllowOrigin func(origin string) bool
	// AllowedMethods answer preflights. Default GET, HEAD, POST, PUT,
	// PATCH, DELETE.
	AllowedMethods []string
	// AllowedHeaders are the request headers a preflight may ask for
	// (case-insensitive). Default Accept, Authorization, Content-Type,
	// Idempotency-Key, If-Match, If-None-Match, X-Request-ID,
	// X-Request-Timeout. "*" allows any.
	AllowedHeaders []string
	// ExposedHeaders are the response headers scripts may read. Default
	// ETag, Link, Location, Retry-After, X-Request-ID, X-Total-Count and
	// the RateLimit headers.
	ExposedHeaders []string
	// AllowCredentials lets browsers send cookies to origins allowed
	// explicitly: listed exactly, matched by a subdomain pattern or accepted
	// by AllowOrigin. Those origins are echoed with
	// Access-Control-Allow-Credentials: true. An origin allowed only by "*"
	// still gets "Access-Control-Allow-Origin: *" and no credentials, so
	// "*" never lets an arbitrary website make logged-in requests and read
	// the answers.
	AllowCredentials bool
	// MaxAge is how long browsers may cache a preflight. Default 10
	// minutes; negative sends no Access-Control-Max-Age.
	MaxAge time.Duration
}

// CORS implements cross-origin resource sharing. A request from an allowed
// Origin gets Access-Control-Allow-Origin (and -Credentials,
// -Expose-Headers); a preflight (OPTIONS with
// Access-Control-Request-Method) is answered 204 by CORS itself with the
// allowed methods and headers and never reaches the handler. A preflight
// from an origin that is not allowed, or asking for a method or header
// that is not allowed, gets 403 problem+json; a malformed
// Access-Control-Request-Headers gets 400. Every response carries Vary:
// Origin.
func CORS(opts *CORSOptions) Middleware {
	var o CORSOptions
	if opts != nil {
		o = *opts
	}
	if len(o.AllowedMethods) == 0 {
		o.AllowedMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	}
	if len(o.AllowedHeaders) == 0 {
		o.AllowedHeaders = []string{"Accept", "Authorization", "Content-Type", HeaderIdempotencyKey,
			"If-Match", "If-None-Match", HeaderRequestID, HeaderTimeout}
	}
	if len(o.ExposedHeaders) == 0 {
		o.ExposedHeaders = []string{"ETag", "Link", "Location", "Retry-After", HeaderRequestID, HeaderTotalCount,
			"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
	}
	if o.MaxAge == 0 {
		o.MaxAge = 10 * time.Minute
	}
	c := &corsPolicy{o: o, anyHeader: slices.Contains(o.AllowedHeaders, "*")}
	for _, a := range o.AllowedOrigins {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "*":
			c.anyOrigin = true
		case strings.Contains(a, "://*."):
			scheme, host, _ := strings.Cut(a, "://*.")
			c.wildcards = append(c.wildcards, [2]string{scheme + "://", "." + host})
		case a != "":
			c.exact = append(c.exact, a)
		}
	}
	for _, h := range o.AllowedHeaders {
		c.headers = append(c.headers, strings.ToLower(h))
	}
	c.methods = strings.Join(o.AllowedMethods, ", ")
	c.allowHeaders = strings.Join(o.AllowedHeaders, ", ")
	c.expose = strings.Join(o.ExposedHeaders, ", ")
	if o.MaxAge > 0 {
		c.maxAge = strconv.FormatInt(int64(o.MaxAge/time.Second), 10)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.serve(w, r, next)
		})
	}
}

type corsPolicy struct {
	o                             CORSOptions
	anyOrigin, anyHeader          bool
	exact                         []string
	wildcards                     [][2]string // scheme://, .domain
	headers                       []string    // lower case
	methods, allowHeaders, expose string
	maxAge                        string
}

func (c *corsPolicy) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	h := w.Header()
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		AddVary(h, "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
	} else {
		AddVary(h, "Origin")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		next.ServeHTTP(w, r)
		return
	}
	allowed, explicit := c.allowed(origin)
	if !preflight {
		if allowed {
			c.setOrigin(h, origin, explicit)
			if c.expose != "" {
				h.Set("Access-Control-Expose-Headers", c.expose)
			}
		}
		next.ServeHTTP(w, r)
		return
	}
	if !allowed {
		WriteProblem(w, r, NewProblem(http.StatusForbidden, "origin not allowed"))
		return
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(c.o.AllowedMethods, method) {
		WriteProblem(w, r, NewProblem(http.StatusForbidden, "method "+strconvQuote(method)+" not allowed"))
		return
	}
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if !isToken(f) {
				Error(w, r, badInput("httpx: malformed Access-Control-Request-Headers"))
				return
			}
			if !c.anyHeader && !slices.Contains(c.headers, strings.ToLower(f)) {
				WriteProblem(w, r, NewProblem(http.StatusForbidden, "header "+strconvQuote(f)+" not allowed"))
				return
			}
		}
	}
	c.setOrigin(h, origin, explicit)
	h.Set("Access-Control-Allow-Methods", c.methods)
	if c.anyHeader {
		if reqh := r.Header.Values("Access-Control-Request-Headers"); len(reqh) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(reqh, ", "))
		}
	} else {
		h.Set("Access-Control-Allow-Headers", c.allowHeaders)
	}
	if c.maxAge != "" {
		h.Set("Access-Control-Max-Age", c.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// setOrigin answers an allowed origin. Only an explicitly allowed origin
// is echoed with credentials; one allowed by "*" alone gets "*".
func (c *corsPolicy) setOrigin(h http.Header, origin string, explicit bool) {
	if !explicit || (c.anyOrigin && !c.o.AllowCredentials) {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if c.o.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// allowed reports whether origin, a serialised origin (scheme://host[:port],
// or "null"), may call the API, and whether it was allowed explicitly (not
// only by "*").
func (c *corsPolicy) allowed(origin string) (ok, explicit bool) {
	if len(origin) > 256 {
		return false, false
	}
	lo := strings.ToLower(origin)
	if lo != "null" {
		u, err := url.Parse(lo)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return false, false
		}
	}
	if slices.Contains(c.exact, lo) {
		return true, true
	}
	for _, wc := range c.wildcards {
		if rest, ok := strings.CutPrefix(lo, wc[0]); ok && strings.HasSuffix(hostOnly(rest), wc[1]) {
			return true, true
		}
	}
	if c.o.AllowOrigin != nil && c.o.AllowOrigin(origin) {
		return true, true
	}
	return c.anyOrigin && lo != "null", false
}

func hostOnly(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		return hostport[:i]
	}
	return hostport
}

func strconvQuote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strconv.Quote(s)
}
