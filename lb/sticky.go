package lb

import (
	"net/http"
	"time"
)

// StickyCookie configures cookie-based session affinity: the first
// response of a session sets a cookie naming the endpoint that served it
// (by its opaque ID, never its address), and later requests carrying the
// cookie go back to that endpoint while it is ready. When it has left the
// set, is draining, ejected, unhealthy or its breaker is open, the policy
// picks another one and the cookie is rewritten, so a session moves once
// and sticks again.
//
// Affinity trades balance for locality: sessions pile up on old endpoints,
// and a removed endpoint loses its sessions' local state anyway. Prefer
// shared session storage and use this for caches that merely warm up.
//
// A StickyCookie is read-only after setup and safe for concurrent use. The
// zero value is usable: cookie "lb_sticky", path "/", HttpOnly, session
// lifetime.
type StickyCookie struct {
	// Name is the cookie name (default "lb_sticky").
	Name string
	// Path is the cookie path (default "/").
	Path string
	// MaxAge is the cookie lifetime (0 means a session cookie).
	MaxAge time.Duration
	// Secure marks the cookie Secure.
	Secure bool
	// AllowScripts drops the HttpOnly attribute.
	AllowScripts bool
}

func (s *StickyCookie) name() string {
	if s.Name == "" {
		return "lb_sticky"
	}
	return s.Name
}

// ID returns the endpoint ID the request's cookie asks for, or "".
func (s *StickyCookie) ID(r *http.Request) string {
	c, err := r.Cookie(s.name())
	if err != nil {
		return ""
	}
	return c.Value
}

// Set adds a Set-Cookie header to h that pins the session to be, unless
// the request already carried that pin (current is its ID).
func (s *StickyCookie) Set(h http.Header, current string, be *Backend) {
	if be == nil || be.ID() == current {
		return
	}
	c := &http.Cookie{Name: s.name(), Value: be.ID(), Path: s.Path, Secure: s.Secure,
		HttpOnly: !s.AllowScripts, SameSite: http.SameSiteLaxMode}
	if c.Path == "" {
		c.Path = "/"
	}
	if s.MaxAge > 0 {
		c.MaxAge = int(s.MaxAge / time.Second)
	}
	h.Add("Set-Cookie", c.String())
}
