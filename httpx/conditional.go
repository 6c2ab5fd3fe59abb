package httpx

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Validators describe the current representation of a resource for
// conditional requests. Exists false means the resource does not exist
// (If-Match fails, If-None-Match: * passes). A zero ETag or LastModified
// means that validator is not available.
type Validators struct {
	ETag         ETag
	HasETag      bool
	LastModified time.Time
	Exists       bool
}

// CheckPreconditions evaluates the request's conditional headers against v
// in the order of RFC 9110 §13.2.2 and, when the request must not proceed,
// writes the response and returns true: 304 Not Modified (GET/HEAD, with
// the ETag and Last-Modified headers) or 412 / 400 problem+json. A
// malformed If-Match or If-None-Match is a 400; unparseable dates are
// ignored, as the RFC requires.
//
// Handlers of writes (PUT, PATCH, DELETE) call it with the stored
// resource's validators before changing anything, which gives optimistic
// concurrency: a client that sends If-Match with a stale ETag gets 412.
func CheckPreconditions(w http.ResponseWriter, r *http.Request, v Validators) bool {
	h := r.Header
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	if im := h.Get("If-Match"); im != "" {
		l, err := ParseETagList(im)
		if err != nil {
			Error(w, r, err)
			return true
		}
		if !v.HasETag && !l.Any || !l.MatchStrong(v.ETag, v.Exists) {
			WriteProblem(w, r, NewProblem(http.StatusPreconditionFailed, "If-Match does not match the current representation"))
			return true
		}
	} else if ius := h.Get("If-Unmodified-Since"); ius != "" && !v.LastModified.IsZero() {
		if t, err := http.ParseTime(ius); err == nil && v.LastModified.Truncate(time.Second).After(t) {
			WriteProblem(w, r, NewProblem(http.StatusPreconditionFailed, "resource modified since If-Unmodified-Since"))
			return true
		}
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		l, err := ParseETagList(inm)
		if err != nil {
			Error(w, r, err)
			return true
		}
		if (l.Any || v.HasETag) && l.MatchWeak(v.ETag, v.Exists) {
			if safe {
				notModified(w, v)
			} else {
				WriteProblem(w, r, NewProblem(http.StatusPreconditionFailed, "If-None-Match matches the current representation"))
			}
			return true
		}
	} else if ims := h.Get("If-Modified-Since"); ims != "" && safe && !v.LastModified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !v.LastModified.Truncate(time.Second).After(t) {
			notModified(w, v)
			return true
		}
	}
	return false
}

func notModified(w http.ResponseWriter, v Validators) {
	hd := w.Header()
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding"} {
		hd.Del(k)
	}
	if v.HasETag {
		hd.Set("ETag", v.ETag.String())
	}
	if !v.LastModified.IsZero() {
		hd.Set("Last-Modified", v.LastModified.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(http.StatusNotModified)
}

// ETagsOptions configure ETags. The zero value (or nil) is valid.
type ETagsOptions struct {
	// MaxBody is the largest body buffered to hash; larger responses pass
	// through without an ETag. Default 1 MiB.
	MaxBody int
}

// ETags adds a strong ETag (a hash of the body) to successful GET and HEAD
// responses that do not set one, and answers If-None-Match /
// If-Modified-Since with 304 using the handler's or the computed ETag and
// its Last-Modified header. It buffers the response (up to MaxBody), so put
// it inside Compress. Writes are not buffered: their handlers call
// CheckPreconditions with the stored resource's validators.
func ETags(opts *ETagsOptions) Middleware {
	maxBody := 1 << 20
	if opts != nil && opts.MaxBody > 0 {
		maxBody = opts.MaxBody
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			bw := &bufferWriter{ResponseWriter: w, max: maxBody}
			next.ServeHTTP(bw, r)
			if bw.passthrough {
				return
			}
			if bw.status == 0 {
				bw.status = http.StatusOK
			}
			hd := w.Header()
			if bw.status != http.StatusOK {
				bw.release(true)
				return
			}
			var v Validators
			v.Exists = true
			if s := hd.Get("ETag"); s != "" {
				if e, err := ParseETag(s); err == nil {
					v.ETag, v.HasETag = e, true
				}
			} else if r.Method == http.MethodGet {
				v.ETag, v.HasETag = StrongETag(bw.buf.Bytes()), true
				hd.Set("ETag", v.ETag.String())
			}
			if lm := hd.Get("Last-Modified"); lm != "" {
				if t, err := http.ParseTime(lm); err == nil {
					v.LastModified = t
				}
			}
			if CheckPreconditions(w, r, v) {
				return
			}
			bw.release(true)
		})
	}
}

// bufferWriter buffers a response up to max bytes; past that it falls back
// to streaming.
type bufferWriter struct {
	http.ResponseWriter
	max         int
	status      int
	buf         bytes.Buffer
	passthrough bool
}

func (w *bufferWriter) WriteHeader(code int) {
	if w.passthrough {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	if w.passthrough {
		return w.ResponseWriter.Write(p)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.buf.Len()+len(p) > w.max {
		w.release(false)
		return w.ResponseWriter.Write(p)
	}
	return w.buf.Write(p)
}

// Flush gives up buffering and streams.
func (w *bufferWriter) Flush() {
	if !w.passthrough {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.release(false)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *bufferWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over and stops buffering.
func (w *bufferWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.passthrough = true
		w.buf = bytes.Buffer{}
	}
	return c, rw, err
}

// release sends the held status and body and switches to streaming. final
// says the handler has returned, so the buffer is the whole body and its
// length can be declared.
func (w *bufferWriter) release(final bool) {
	w.passthrough = true
	if final && w.buf.Len() > 0 && w.ResponseWriter.Header().Get("Content-Length") == "" {
		w.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(w.buf.Len()))
	}
	w.ResponseWriter.WriteHeader(w.status)
	if w.buf.Len() > 0 {
		_, _ = w.ResponseWriter.Write(w.buf.Bytes())
	}
	w.buf = bytes.Buffer{}
}

// CacheControl builds a Cache-Control response header. The zero value
// produces an empty header.
type CacheControl struct {
	MaxAge               time.Duration // max-age, whole seconds; used when > 0 or MaxAgeZero
	MaxAgeZero           bool          // send max-age=0
	SMaxAge              time.Duration // s-maxage for shared caches
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	Public               bool
	Private              bool
	NoCache              bool
	NoStore              bool
	NoTransform          bool
	MustRevalidate       bool
	Immutable            bool
}

// String renders the directives in a fixed order.
func (c CacheControl) String() string {
	var parts []string
	flag := func(on bool, s string) {
		if on {
			parts = append(parts, s)
		}
	}
	secs := func(name string, d time.Duration, force bool) {
		if d > 0 || force {
			parts = append(parts, name+"="+strconv.FormatInt(int64(d/time.Second), 10))
		}
	}
	flag(c.Public, "public")
	flag(c.Private, "private")
	flag(c.NoCache, "no-cache")
	flag(c.NoStore, "no-store")
	flag(c.NoTransform, "no-transform")
	secs("max-age", c.MaxAge, c.MaxAgeZero)
	secs("s-maxage", c.SMaxAge, false)
	secs("stale-while-revalidate", c.StaleWhileRevalidate, false)
	secs("stale-if-error", c.StaleIfError, false)
	flag(c.MustRevalidate, "must-revalidate")
	flag(c.Immutable, "immutable")
	return strings.Join(parts, ", ")
}

// Apply sets the Cache-Control header of h (removing it when c is empty).
func (c CacheControl) Apply(h http.Header) {
	if s := c.String(); s != "" {
		h.Set("Cache-Control", s)
	} else {
		h.Del("Cache-Control")
	}
}

// AddVary adds fields to the Vary header of h, skipping those already
// listed (case-insensitively) and collapsing everything into "*" when "*"
// is present.
func AddVary(h http.Header, fields ...string) {
	cur := h["Vary"]
	if len(fields) == 1 && validVaryField(fields[0]) {
		switch {
		case len(cur) == 0: // the common case, without parsing
			h["Vary"] = []string{fields[0]}
			return
		case len(cur) == 1 && strings.EqualFold(cur[0], fields[0]):
			return
		}
	}
	var have []string
	for _, v := range cur {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				have = append(have, f)
			}
		}
	}
	changed := false
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		dup := false
		for _, x := range have {
			if strings.EqualFold(x, f) || x == "*" {
				dup = true
				break
			}
		}
		if !dup {
			have, changed = append(have, f), true
		}
	}
	if !changed {
		return
	}
	for _, x := range have {
		if x == "*" {
			h.Set("Vary", "*")
			return
		}
	}
	h.Set("Vary", strings.Join(have, ", "))
}

// validVaryField reports whether f is a bare header name (no list, no
// spaces), which AddVary can store without normalising.
func validVaryField(f string) bool { return isToken(f) }
