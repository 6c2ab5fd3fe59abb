package httpx_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

var (
	sessKey1 = []byte("0123456789abcdef0123456789abcdef-one")
	sessKey2 = []byte("fedcba9876543210fedcba9876543210-two")
)

// sessionApp: /login?user=x sets "user" (renewing the ID), /whoami reads
// it, /logout destroys, /touch does nothing.
func sessionApp(t testing.TB, store driver.Store, keys [][]byte, opts *httpx.SessionOptions) http.Handler {
	t.Helper()
	m, err := httpx.NewSessions(store, keys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := httpx.SessionFrom(r.Context())
		switch r.URL.Path {
		case "/login":
			s.Renew()
			s.Set("user", r.URL.Query().Get("user"))
		case "/logout":
			s.Destroy()
		case "/whoami":
			u, _ := s.Get("user")
			_, _ = w.Write([]byte(u))
		}
	}))
}

// browser keeps the cookies a server sets, like a browser would.
type browser struct {
	cookies map[string]*http.Cookie
}

func (b *browser) do(h http.Handler, target string) *httptest.ResponseRecorder {
	r := get(target)
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := serve(h, r)
	for _, c := range w.Result().Cookies() {
		if b.cookies == nil {
			b.cookies = map[string]*http.Cookie{}
		}
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

func memStore(t testing.TB, clk clock.Clock) *memorycache.Bytes {
	s, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1000, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionsLifecycle(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	store := memStore(t, clk)
	app := sessionApp(t, store, [][]byte{sessKey1}, &httpx.SessionOptions{Clock: clk, IdleTimeout: 8 * time.Hour})
	var b browser
	// Untouched new session: nothing stored, no cookie.
	if w := b.do(app, "/touch"); w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("cookie for an empty session: %q", w.Header().Get("Set-Cookie"))
	}
	w := b.do(app, "/login?user=alice")
	sc := w.Header().Get("Set-Cookie")
	for _, attr := range []string{"sid=", "HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=28800"} {
		if !strings.Contains(sc, attr) {
			t.Fatalf("Set-Cookie %q lacks %s", sc, attr)
		}
	}
	if strings.Contains(sc, "alice") {
		t.Fatal("session data in the cookie")
	}
	if got := b.do(app, "/whoami").Body.String(); got != "alice" {
		t.Fatalf("whoami %q", got)
	}
	// Tampered cookie: treated as no session.
	var evil browser
	c := *b.cookies["sid"]
	c.Value = strings.Replace(c.Value, c.Value[:1], string(rune(c.Value[0]^1)), 1)
	evil.cookies = map[string]*http.Cookie{"sid": &c}
	if got := evil.do(app, "/whoami").Body.String(); got != "" {
		t.Fatalf("tampered cookie accepted: %q", got)
	}
	// Renewal on login: the old ID is gone.
	old := *b.cookies["sid"]
	b.do(app, "/login?user=bob")
	if b.cookies["sid"].Value == old.Value {
		t.Fatal("login did not renew the ID")
	}
	stale := browser{cookies: map[string]*http.Cookie{"sid": &old}}
	if got := stale.do(app, "/whoami").Body.String(); got != "" {
		t.Fatalf("old ID still valid: %q", got)
	}
	// Logout expires the cookie and deletes the data.
	loggedIn := *b.cookies["sid"]
	w = b.do(app, "/logout")
	if !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") || b.cookies["sid"] != nil {
		t.Fatalf("logout cookie %q", w.Header().Get("Set-Cookie"))
	}
	replay := browser{cookies: map[string]*http.Cookie{"sid": &loggedIn}}
	if got := replay.do(app, "/whoami").Body.String(); got != "" {
		t.Fatalf("destroyed session still valid: %q", got)
	}
}

func TestSessionsIdleTimeoutAndRefresh(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	app := sessionApp(t, memStore(t, clk), [][]byte{sessKey1}, &httpx.SessionOptions{Clock: clk, IdleTimeout: 8 * time.Hour})
	var b browser
	b.do(app, "/login?user=alice")
	clk.Advance(time.Hour)
	if w := b.do(app, "/whoami"); w.Body.String() != "alice" || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("1h: %q, cookie %q", w.Body, w.Header().Get("Set-Cookie"))
	}
	clk.Advance(2 * time.Hour) // 3h since save: past a quarter, refreshed
	if w := b.do(app, "/whoami"); w.Body.String() != "alice" || w.Header().Get("Set-Cookie") == "" {
		t.Fatalf("3h: %q, cookie %q", w.Body, w.Header().Get("Set-Cookie"))
	}
	clk.Advance(7 * time.Hour) // 10h since login, 7h since refresh
	if got := b.do(app, "/whoami").Body.String(); got != "alice" {
		t.Fatalf("refreshed session expired: %q", got)
	}
	clk.Advance(8 * time.Hour)
	if got := b.do(app, "/whoami").Body.String(); got != "" {
		t.Fatalf("idle session survived: %q", got)
	}
}

func TestSessionsMaxLifetime(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	app := sessionApp(t, memStore(t, clk), [][]byte{sessKey1}, &httpx.SessionOptions{Clock: clk, IdleTimeout: time.Hour, MaxLifetime: 2 * time.Hour})
	var b browser
	b.do(app, "/login?user=alice")
	for i := 0; i < 3; i++ {
		clk.Advance(30 * time.Minute)
		if got := b.do(app, "/whoami").Body.String(); got != "alice" {
			t.Fatalf("step %d: %q", i, got)
		}
	}
	clk.Advance(31 * time.Minute)
	if got := b.do(app, "/whoami").Body.String(); got != "" {
		t.Fatalf("session outlived MaxLifetime: %q", got)
	}
}

func TestSessionsKeyRotation(t *testing.T) {
	store := memStore(t, nil)
	oldApp := sessionApp(t, store, [][]byte{sessKey1}, nil)
	newApp := sessionApp(t, store, [][]byte{sessKey2, sessKey1}, nil)
	onlyNew := sessionApp(t, store, [][]byte{sessKey2}, nil)
	var b browser
	b.do(oldApp, "/login?user=alice")
	if got := b.do(newApp, "/whoami").Body.String(); got != "alice" {
		t.Fatalf("rotated keys rejected an old cookie: %q", got)
	}
	if got := b.do(onlyNew, "/whoami").Body.String(); got != "" {
		t.Fatalf("retired key accepted: %q", got)
	}
}

type failingStore struct {
	driver.Store
	failGet, failSet bool
}

func (f *failingStore) Get(ctx context.Context, k string) ([]byte, bool, error) {
	if f.failGet {
		return nil, false, errors.New("get: connection refused")
	}
	return f.Store.Get(ctx, k)
}

func (f *failingStore) GetMulti(ctx context.Context, ks []string) ([][]byte, error) {
	if f.failGet {
		return nil, errors.New("get: connection refused")
	}
	return f.Store.GetMulti(ctx, ks)
}

func (f *failingStore) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	if f.failSet {
		return errors.New("set: connection refused")
	}
	return f.Store.Set(ctx, k, v, ttl)
}

func TestSessionsStoreFailure(t *testing.T) {
	fs := &failingStore{Store: memStore(t, nil)}
	app := sessionApp(t, fs, [][]byte{sessKey1}, &httpx.SessionOptions{Logger: slog.New(slog.DiscardHandler)})
	var b browser
	b.do(app, "/login?user=a")
	fs.failGet = true
	problemOf(t, b.do(app, "/whoami"), http.StatusServiceUnavailable)
	fs.failGet, fs.failSet = false, true
	w := b.do(app, "/login?user=b")
	problemOf(t, w, http.StatusServiceUnavailable)
	if w.Header().Get("Set-Cookie") != "" {
		t.Fatal("cookie set although the store failed")
	}
}

func TestSessionsBadConfig(t *testing.T) {
	if _, err := httpx.NewSessions(nil, [][]byte{sessKey1}, nil); err == nil {
		t.Fatal("nil store")
	}
	if _, err := httpx.NewSessions(memStore(t, nil), nil, nil); err == nil {
		t.Fatal("no key")
	}
	if _, err := httpx.NewSessions(memStore(t, nil), [][]byte{[]byte("short")}, nil); err == nil {
		t.Fatal("short key")
	}
	if httpx.SessionFrom(context.Background()) != nil {
		t.Fatal("session without middleware")
	}
}

func TestSessionsRedisSharedByInstances(t *testing.T) {
	store, err := rediscache.New(testenv.RedisClient(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := &httpx.SessionOptions{Prefix: testenv.Prefix(t), IdleTimeout: time.Minute}
	a := sessionApp(t, store, [][]byte{sessKey1}, opts)
	b := sessionApp(t, store, [][]byte{sessKey1}, opts)
	var br browser
	br.do(a, "/login?user=carol")
	if got := br.do(b, "/whoami").Body.String(); got != "carol" {
		t.Fatalf("instance b: %q", got)
	}
	br.do(b, "/logout")
	br.cookies = nil
	if got := br.do(a, "/whoami").Body.String(); got != "" {
		t.Fatalf("after logout: %q", got)
	}
}

// testSessionsStayDead (issue 10 item 3): a request already in flight when
// the session is destroyed (logout) or renewed (login) must not bring the
// old session back when it saves.
func testSessionsStayDead(t *testing.T, store driver.Store, opts *httpx.SessionOptions) {
	m, err := httpx.NewSessions(store, [][]byte{sessKey1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	app := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := httpx.SessionFrom(r.Context())
		switch r.URL.Path {
		case "/login":
			s.Renew()
			s.Set("user", r.URL.Query().Get("user"))
		case "/logout":
			s.Destroy()
		case "/slow": // a long request that changes the session at the end
			entered <- struct{}{}
			<-release
			s.Set("last_page", "/slow")
		case "/whoami":
			u, _ := s.Get("user")
			_, _ = w.Write([]byte(u))
		}
	}))
	for _, end := range []string{"/logout", "/login?user=alice"} {
		var br browser
		br.do(app, "/login?user=alice")
		old := br.cookies["sid"]
		slow := make(chan struct{})
		go func() {
			defer close(slow)
			r := get("/slow")
			r.AddCookie(old)
			serve(app, r)
		}()
		<-entered
		br.do(app, end) // logout, or log in again (a new ID)
		release <- struct{}{}
		<-slow
		r := get("/whoami")
		r.AddCookie(old)
		if got := serve(app, r).Body.String(); got != "" {
			t.Errorf("after %s, the in-flight request revived the old session: whoami %q", end, got)
		}
	}
}

func TestSessionsStayDeadMemory(t *testing.T) {
	testSessionsStayDead(t, memStore(t, nil), nil)
}

func TestSessionsStayDeadRedis(t *testing.T) {
	store, err := rediscache.New(testenv.RedisClient(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	testSessionsStayDead(t, store, &httpx.SessionOptions{Prefix: testenv.Prefix(t)})
}
