package httpx

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// ErrInvalidAcceptEncoding is returned (wrapped) for a malformed
// Accept-Encoding header.
var ErrInvalidAcceptEncoding = badInput("httpx: invalid Accept-Encoding header")

// Coding is one element of an Accept-Encoding header.
type Coding struct {
	Name string  // lower case content coding, or "*"
	Q    float64 // quality, 0–1
}

// ParseAcceptEncoding parses an Accept-Encoding value (RFC 9110 §12.5.3).
// Coding names are lower-cased. At most 64 codings are accepted.
func ParseAcceptEncoding(s string) ([]Coding, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxHeaderElems {
		return nil, inputErrorf(ErrInvalidAcceptEncoding, "more than %d codings", maxHeaderElems)
	}
	out := make([]Coding, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		c, err := parseCoding(p)
		if err != nil {
			return nil, err
		}
		c.Name = strings.ToLower(c.Name)
		out = append(out, c)
	}
	return out, nil
}

// parseCoding parses one non-empty element: a coding name (case kept) and
// an optional ";q=" weight.
func parseCoding(p string) (Coding, error) {
	name, params, _ := strings.Cut(p, ";")
	name = strings.TrimSpace(name)
	if !isToken(name) {
		return Coding{}, inputErrorf(ErrInvalidAcceptEncoding, "coding %q", name)
	}
	c := Coding{Name: name, Q: 1}
	if params != "" {
		k, v, ok := strings.Cut(strings.TrimSpace(params), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			return Coding{}, inputErrorf(ErrInvalidAcceptEncoding, "parameter %q", params)
		}
		q, err := parseQ(strings.TrimSpace(v))
		if err != nil {
			return Coding{}, inputErrorf(ErrInvalidAcceptEncoding, "%q: %v", p, err)
		}
		c.Q = q
	}
	return c, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// NegotiateEncoding picks "gzip", "deflate" or "" (identity) for the
// Accept-Encoding value s: the acceptable coding with the highest quality,
// gzip first on ties. A malformed value picks identity and returns the
// error. It does not allocate unless s is malformed.
func NegotiateEncoding(s string) (string, error) {
	var gz, df, star float64 = -1, -1, -1
	n := 0
	for rest := s; rest != ""; {
		var elem string
		elem, rest, _ = strings.Cut(rest, ",")
		if n++; n > maxHeaderElems {
			return "", inputErrorf(ErrInvalidAcceptEncoding, "more than %d codings", maxHeaderElems)
		}
		elem = strings.TrimSpace(elem)
		if elem == "" {
			continue
		}
		c, err := parseCoding(elem)
		if err != nil {
			return "", err
		}
		switch {
		case strings.EqualFold(c.Name, "gzip"), strings.EqualFold(c.Name, "x-gzip"):
			gz = max(gz, c.Q)
		case strings.EqualFold(c.Name, "deflate"):
			df = max(df, c.Q)
		case c.Name == "*":
			star = c.Q
		}
	}
	if gz < 0 {
		gz = max(star, 0)
	}
	if df < 0 {
		df = max(star, 0)
	}
	switch {
	case gz > 0 && gz >= df:
		return "gzip", nil
	case df > 0:
		return "deflate", nil
	}
	return "", nil
}

// CompressOptions configure Compress. The zero value (or nil) is valid.
type CompressOptions struct {
	// MinSize is the smallest body compressed, in bytes. Default 1024.
	MinSize int
	// Level is the gzip/flate level. Default flate.DefaultCompression.
	Level int
	// Compressible reports whether a media type (lower case, without
	// parameters) is worth compressing. Default IsCompressible.
	Compressible func(mediaType string) bool
}

// IsCompressible reports whether mediaType is text-like: text/*, JSON, XML,
// JavaScript, SVG, or any +json/+xml suffix type.
func IsCompressible(mediaType string) bool {
	switch {
	case strings.HasPrefix(mediaType, "text/"),
		strings.HasSuffix(mediaType, "+json"), strings.HasSuffix(mediaType, "+xml"):
		return true
	}
	switch mediaType {
	case "application/json", "application/xml", "application/javascript",
		"application/x-ndjson", "image/svg+xml", "application/wasm":
		return true
	}
	return false
}

// Compress compresses responses with gzip or deflate as negotiated from
// Accept-Encoding, only when the media type is compressible and the body
// reaches MinSize, and always adds Vary: Accept-Encoding. It leaves alone
// responses that already have a Content-Encoding, HEAD requests, and 204,
// 206 and 304 responses. A malformed Accept-Encoding is answered uncompressed
// (identity is always acceptable).
func Compress(opts *CompressOptions) Middleware {
	var o CompressOptions
	if opts != nil {
		o = *opts
	}
	if o.MinSize <= 0 {
		o.MinSize = 1024
	}
	if o.Level == 0 || o.Level < flate.HuffmanOnly || o.Level > flate.BestCompression {
		o.Level = flate.DefaultCompression
	}
	if o.Compressible == nil {
		o.Compressible = IsCompressible
	}
	pools := &writerPools{level: o.Level}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			AddVary(w.Header(), "Accept-Encoding")
			enc, _ := NegotiateEncoding(headerValue(r.Header, "Accept-Encoding"))
			if enc == "" || r.Method == http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			cw, _ := pools.cw.Get().(*compressWriter)
			if cw == nil {
				cw = &compressWriter{}
			}
			*cw = compressWriter{ResponseWriter: w, enc: enc, o: &o, pools: pools, buf: cw.buf[:0]}
			completed := false
			defer func() {
				if completed {
					pools.release(cw)
				}
				// On a panic nothing buffered is sent, so Recover can still
				// answer 500 instead of a truncated 200.
			}()
			next.ServeHTTP(cw, r)
			completed = true
		})
	}
}

type writerPools struct {
	level int
	gz    sync.Pool
	fl    sync.Pool
	cw    sync.Pool // *compressWriter, with its buffer
}

// release finishes the response and recycles the writer; the handler has
// returned, so nothing refers to it any more.
func (p *writerPools) release(cw *compressWriter) {
	cw.close()
	buf := cw.buf
	*cw = compressWriter{}
	if cap(buf) <= 64<<10 {
		cw.buf = buf[:0]
		p.cw.Put(cw)
	}
}

func (p *writerPools) get(enc string, w io.Writer) io.WriteCloser {
	if enc == "gzip" {
		if z, ok := p.gz.Get().(*gzip.Writer); ok {
			z.Reset(w)
			return z
		}
		z, _ := gzip.NewWriterLevel(w, p.level)
		return z
	}
	if z, ok := p.fl.Get().(*flate.Writer); ok {
		z.Reset(w)
		return z
	}
	z, _ := flate.NewWriter(w, p.level)
	return z
}

func (p *writerPools) put(z io.WriteCloser) {
	switch z := z.(type) {
	case *gzip.Writer:
		p.gz.Put(z)
	case *flate.Writer:
		p.fl.Put(z)
	}
}

// compressWriter holds the status and the first MinSize bytes until it
// knows whether to compress.
type compressWriter struct {
	http.ResponseWriter
	enc     string
	o       *CompressOptions
	pools   *writerPools
	status  int
	buf     []byte
	decided bool
	zw      io.WriteCloser
}

func (w *compressWriter) WriteHeader(code int) {
	if w.decided || w.status != 0 {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status = code
	if !w.eligible() {
		w.decide(false)
	}
}

// eligible reports whether the headers allow compression at all.
func (w *compressWriter) eligible() bool {
	h := w.Header()
	switch w.status {
	case http.StatusNoContent, http.StatusPartialContent, http.StatusNotModified:
		return false
	}
	if headerValue(h, "Content-Encoding") != "" {
		return false
	}
	if ct := headerValue(h, "Content-Type"); ct != "" {
		mt, ok := mediaType(ct)
		if !ok || !w.o.Compressible(mt) {
			return false
		}
	}
	return true
}

func (w *compressWriter) decide(compress bool) {
	w.decided = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.Header()
	if compress && headerValue(h, "Content-Type") == "" && len(w.buf) > 0 {
		ct := http.DetectContentType(w.buf)
		h.Set("Content-Type", ct)
		mt, _ := mediaType(ct)
		compress = w.o.Compressible(mt)
	}
	if compress {
		h.Set("Content-Encoding", w.enc)
		h.Del("Content-Length")
		h.Del("Accept-Ranges")
		if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
			h.Set("ETag", "W/"+et) // the encoded bytes differ from the identity ones
		}
		w.ResponseWriter.WriteHeader(w.status)
		w.zw = w.pools.get(w.enc, w.ResponseWriter)
		if len(w.buf) > 0 {
			_, _ = w.zw.Write(w.buf)
		}
	} else {
		w.ResponseWriter.WriteHeader(w.status)
		if len(w.buf) > 0 {
			_, _ = w.ResponseWriter.Write(w.buf)
		}
	}
	w.buf = w.buf[:0]
}

func (w *compressWriter) Write(p []byte) (int, error) {
	if !w.decided {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		if !w.decided {
			if len(w.buf)+len(p) < w.o.MinSize {
				w.buf = append(w.buf, p...)
				return len(p), nil
			}
			w.buf = append(w.buf, p...)
			w.decide(true)
			return len(p), nil
		}
	}
	if w.zw != nil {
		return w.zw.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what is buffered, compressed if the response is eligible.
func (w *compressWriter) Flush() {
	if !w.decided {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.decide(w.eligible())
	}
	if z, ok := w.zw.(interface{ Flush() error }); ok {
		_ = z.Flush()
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *compressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over; nothing buffered is sent afterwards.
func (w *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.decided {
		w.decided, w.buf = true, w.buf[:0]
	}
	return c, rw, err
}

func (w *compressWriter) close() {
	if !w.decided {
		if w.status == 0 && len(w.buf) == 0 {
			return // nothing written: let net/http send its default
		}
		w.decide(false) // below MinSize
	}
	if w.zw != nil {
		_ = w.zw.Close()
		w.pools.put(w.zw)
		w.zw = nil
	}
}

// mediaType returns the lower-case type/subtype of a Content-Type value,
// without parameters, and whether it is well-formed. It allocates only
// when the value is not already lower case.
func mediaType(ct string) (string, bool) {
	mt, params, _ := strings.Cut(ct, ";")
	if strings.Count(params, `"`)%2 != 0 {
		return "", false // unbalanced quoted parameter
	}
	mt = strings.TrimSpace(mt)
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		return "", false
	}
	return strings.ToLower(mt), true
}
