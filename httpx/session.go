package httpx

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/clock"
)

// SessionOptions configure Sessions. The zero value (or nil) is valid.
type SessionOptions struct {
	// CookieName is the session cookie's name. Default "sid".
	CookieName string
	// IdleTimeout ends a session not used for this long; it is the store
	// TTL, extended as the session is used. Default 24h.
	IdleTimeout time.Duration
	// MaxLifetime ends a session this long after it was created, however
	// active (0: no limit).
	MaxLifetime time.Duration
	// Path and Domain of the cookie. Path defaults to "/".
	Path, Domain string
	// Insecure omits the cookie's Secure attribute (plain-HTTP development
	// only).
	Insecure bool
	// SameSite of the cookie. Default http.SameSiteLaxMode.
	SameSite http.SameSite
	// Prefix of store keys. Default "httpx:sess:".
	Prefix string
	// Clock drives idle and lifetime checks. Default real time.
	Clock clock.Clock
	// Logger receives store errors that happen after the response started.
	// Default slog.Default().
	Logger *slog.Logger
}

// Sessions keeps per-user session data server-side in a cache
// driver.Store (memorycache.Bytes in one process, rediscache shared by
// every instance, so servers stay stateless) under a random 256-bit ID.
// The browser holds only the ID in an HttpOnly cookie signed with HMAC-
// SHA256: a forged or edited cookie is rejected without a store lookup and
// treated as no session. Keys rotate: the first signs, all verify.
//
// Sessions is safe for concurrent use; create it with NewSessions and
// install Middleware.
type Sessions struct {
	store driver.Store
	keys  [][]byte
	o     SessionOptions
	clk   clock.Clock
}

// ErrSessionStore is returned (wrapped) when the session store fails; the
// middleware answers 503.
var ErrSessionStore = errors.New("httpx: session store unavailable")

// NewSessions returns a session manager over store. keys[0] signs
// cookies; every key verifies them. Each key must be at least 32 bytes.
func NewSessions(store driver.Store, keys [][]byte, opts *SessionOptions) (*Sessions, error) {
	if store == nil {
		return nil, errors.New("httpx: nil session store")
	}
	if len(keys) == 0 {
		return nil, errors.New("httpx: sessions need a signing key")
	}
	s := &Sessions{store: store}
	for i, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("httpx: session key %d is %d bytes, want at least 32", i, len(k))
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	if opts != nil {
		s.o = *opts
	}
	if s.o.CookieName == "" {
		s.o.CookieName = "sid"
	}
	if s.o.IdleTimeout <= 0 {
		s.o.IdleTimeout = 24 * time.Hour
	}
	if s.o.Path == "" {
		s.o.Path = "/"
	}
	if s.o.SameSite == 0 {
		s.o.SameSite = http.SameSiteLaxMode
	}
	if s.o.Prefix == "" {
		s.o.Prefix = "httpx:sess:"
	}
	if s.o.Logger == nil {
		s.o.Logger = slog.Default()
	}
	s.clk = clock.Or(s.o.Clock)
	return s, nil
}

// Session is one user's session, valid for the request that loaded it.
// Changes are saved when the response starts. Its methods are safe for
// concurrent use within the request.
type Session struct {
	mu        sync.Mutex
	id        string
	values    map[string]string
	created   time.Time
	touched   time.Time
	isNew     bool
	dirty     bool
	destroyed bool
	oldID     string // set by Renew
	freshID   bool   // the ID was made by this request (new or renewed)
}

// sessionRecord is what the store holds.
type sessionRecord struct {
	V map[string]string `json:"v,omitempty"`
	C int64             `json:"c"` // created, Unix nanoseconds
	T int64             `json:"t"` // last saved, Unix nanoseconds
}

// SessionFrom returns the session of the request context, or nil when the
// Sessions middleware is not installed.
func SessionFrom(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey).(*Session)
	return s
}

// ID returns the session ID (a new session has one too, saved with the
// first change).
func (s *Session) ID() string { s.mu.Lock(); defer s.mu.Unlock(); return s.id }

// IsNew reports whether the session was created by this request.
func (s *Session) IsNew() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.isNew }

// Get returns the value stored under key.
func (s *Session) Get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

// Set stores value under key.
func (s *Session) Set(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = make(map[string]string)
	}
	s.values[key], s.dirty, s.destroyed = value, true, false
}

// Delete removes key.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.values[key]; ok {
		delete(s.values, key)
		s.dirty = true
	}
}

// Renew gives the session a new ID, keeping its values, and removes the
// old one from the store for good: requests still in flight with the old ID
// cannot bring it back when they save. Call it when privileges change
// (log-in) to defeat session fixation.
func (s *Session) Renew() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isNew && s.oldID == "" {
		s.oldID = s.id
	}
	s.id, s.dirty, s.freshID = newSessionID(), true, true
}

// Destroy ends the session (log-out): its data is deleted from the store
// and the cookie is expired. The ID stays dead: a request that loaded the
// session before and saves after cannot revive it.
func (s *Session) Destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.destroyed, s.values = true, nil
}

func newSessionID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (m *Sessions) sign(key []byte, id string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("httpx-session\x00" + m.o.CookieName + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// cookieValue returns id.signature.
func (m *Sessions) cookieValue(id string) string { return id + "." + m.sign(m.keys[0], id) }

// verify returns the ID in a cookie value, or "" when it is malformed or
// not signed by one of the keys.
func (m *Sessions) verify(v string) string {
	id, sig, ok := strings.Cut(v, ".")
	if !ok || len(id) != 43 || len(sig) != 22 {
		return ""
	}
	for _, k := range m.keys {
		if hmac.Equal([]byte(sig), []byte(m.sign(k, id))) {
			return id
		}
	}
	return ""
}

// A session ID that was destroyed or renewed gets a tombstone under
// tombKey, written before its record is deleted and kept for the idle
// timeout. A save writes the record and then looks for the tombstone,
// deleting what it wrote if it finds one; a load that sees a tombstone
// ignores the record. So whichever order a kill and an in-flight save
// reach the store in, the killed session stays dead.
func (m *Sessions) recKey(id string) string  { return m.o.Prefix + id }
func (m *Sessions) tombKey(id string) string { return m.o.Prefix + "dead:" + id }

// kill ends session id for good.
func (m *Sessions) kill(ctx context.Context, id string) error {
	if err := m.store.Set(ctx, m.tombKey(id), []byte{1}, m.o.IdleTimeout); err != nil {
		return err
	}
	return m.store.Delete(ctx, m.recKey(id))
}

// load returns the request's session: the stored one its cookie names, or
// a new one.
func (m *Sessions) load(ctx context.Context, r *http.Request) (*Session, error) {
	now := m.clk.Now()
	if c, err := r.Cookie(m.o.CookieName); err == nil {
		if id := m.verify(c.Value); id != "" {
			vals, err := m.store.GetMulti(ctx, []string{m.recKey(id), m.tombKey(id)})
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrSessionStore, err)
			}
			raw, ok := vals[0], vals[0] != nil && vals[1] == nil
			var rec sessionRecord
			if ok && json.Unmarshal(raw, &rec) == nil {
				created, touched := time.Unix(0, rec.C), time.Unix(0, rec.T)
				expired := now.Sub(touched) >= m.o.IdleTimeout ||
					(m.o.MaxLifetime > 0 && now.Sub(created) >= m.o.MaxLifetime)
				if !expired {
					return &Session{id: id, values: rec.V, created: created, touched: touched}, nil
				}
			}
		}
	}
	return &Session{id: newSessionID(), isNew: true, freshID: true, created: now}, nil
}

// Middleware loads the session named by the request's cookie (or starts a
// new one), makes it available through SessionFrom, and saves it when the
// response starts: changed sessions are written with the idle timeout as
// TTL, unchanged ones are refreshed once a quarter of the idle timeout has
// passed, and new sessions are stored only once something is set. A store
// failure before the response starts is answered 503 problem+json.
func (m *Sessions) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		sess, err := m.load(ctx, r)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.Header().Set("Retry-After", "1")
			WriteProblem(w, r, NewProblem(http.StatusServiceUnavailable, "session store unavailable"))
			return
		}
		sw := &sessionWriter{ResponseWriter: w, m: m, s: sess, r: r}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, sessionKey, sess)))
		sw.commit()
	})
}

// save writes the session's changes and sets the cookie. It is called once,
// just before the response header is sent.
func (m *Sessions) save(ctx context.Context, h http.Header, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if s.oldID != "" {
		if err := m.kill(ctx, s.oldID); err != nil {
			return err
		}
	}
	if s.destroyed {
		if !s.freshID {
			if err := m.kill(ctx, s.id); err != nil {
				return err
			}
		}
		if !s.isNew || s.oldID != "" {
			m.setCookie(h, "", -1)
		}
		return nil
	}
	now := m.clk.Now()
	if !s.dirty && (s.isNew || now.Sub(s.touched) < m.o.IdleTimeout/4) {
		return nil // nothing to save, nothing to refresh yet
	}
	ttl := m.o.IdleTimeout
	if m.o.MaxLifetime > 0 {
		ttl = min(ttl, s.created.Add(m.o.MaxLifetime).Sub(now))
		if ttl <= 0 {
			return nil
		}
	}
	raw, err := json.Marshal(sessionRecord{V: s.values, C: s.created.UnixNano(), T: now.UnixNano()})
	if err != nil {
		return err
	}
	if err := m.store.Set(ctx, m.recKey(s.id), raw, ttl); err != nil {
		return err
	}
	if !s.freshID {
		// Killed meanwhile (log-out or log-in elsewhere)? Then undo.
		_, dead, err := m.store.Get(ctx, m.tombKey(s.id))
		if err != nil {
			return err
		}
		if dead {
			return m.store.Delete(ctx, m.recKey(s.id))
		}
	}
	s.touched = now
	m.setCookie(h, m.cookieValue(s.id), ttl)
	return nil
}

func (m *Sessions) setCookie(h http.Header, value string, ttl time.Duration) {
	c := &http.Cookie{Name: m.o.CookieName, Value: value, Path: m.o.Path, Domain: m.o.Domain,
		HttpOnly: true, Secure: !m.o.Insecure, SameSite: m.o.SameSite}
	if ttl < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = max(int((ttl+time.Second-1)/time.Second), 1)
	}
	h.Add("Set-Cookie", c.String())
	AddVary(h, "Cookie")
}

// sessionWriter saves the session just before the header goes out.
type sessionWriter struct {
	http.ResponseWriter
	m         *Sessions
	s         *Session
	r         *http.Request
	committed bool
	failed    bool // the store failed: a 503 replaced the handler's response
}

func (w *sessionWriter) commit() {
	if w.committed {
		return
	}
	w.committed = true
	if err := w.m.save(w.r.Context(), w.ResponseWriter.Header(), w.s); err != nil {
		w.m.o.Logger.LogAttrs(w.r.Context(), slog.LevelError, "session store", slog.Any("error", err))
		w.failed = true
		h := w.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		h.Set("Retry-After", "1")
		WriteProblem(w.ResponseWriter, w.r, NewProblem(http.StatusServiceUnavailable, "session store unavailable"))
	}
}

func (w *sessionWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.committed {
		if !w.failed {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	w.commit()
	if !w.failed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *sessionWriter) Write(p []byte) (int, error) {
	if !w.committed {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *sessionWriter) Flush() {
	if !w.committed {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.failed {
		f.Flush()
	}
}

func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack saves the session (its cookie can no longer be sent) and hands
// the connection over.
func (w *sessionWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.committed {
		w.committed = true
		if err := w.m.save(w.r.Context(), w.ResponseWriter.Header(), w.s); err != nil {
			w.m.o.Logger.LogAttrs(w.r.Context(), slog.LevelError, "session store", slog.Any("error", err))
		}
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
