package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEndToEnd runs the whole interface in every mode: memory with one
// node, memory with three nodes behind lb, Redis+PostgreSQL with three.
func TestEndToEnd(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := start(t, m, nil)
			base := c.URL()
			t.Run("Interface", func(t *testing.T) { testInterface(t, base) })
			t.Run("RedirectServedFromCache", func(t *testing.T) { testFromCache(t, c) })
			t.Run("DeleteStopsEveryNode", func(t *testing.T) { testDeleteEveryNode(t, c) })
			t.Run("IdempotentConcurrentCreate", func(t *testing.T) { testIdempotentCreate(t, base) })
			t.Run("ExpiryAndMaxVisits", func(t *testing.T) { testExpiryMaxVisits(t, base) })
			t.Run("UniqueVisitorsWithinHLLError", func(t *testing.T) { testUniques(t, base) })
			// Last: it re-points a logical shard (without moving its links).
			t.Run("ShardMap", func(t *testing.T) { testShardMap(t, c) })
		})
	}
}

func testInterface(t *testing.T, base string) {
	r := do(t, "GET", base+"/healthz", nil)
	wantStatus(t, r, http.StatusOK)

	v := createLink(t, base, map[string]any{"url": "https://example.com/a?b=c", "alias": "ex-" + fmt.Sprint(time.Now().UnixNano())})
	if v.ShortURL != base+"/"+v.Code {
		t.Fatalf("short_url %q, want %q", v.ShortURL, base+"/"+v.Code)
	}
	gen := createLink(t, base, map[string]any{"url": "https://example.org/"})
	if len(gen.Code) < 6 || !validCode(gen.Code) {
		t.Fatalf("generated code %q", gen.Code)
	}

	// Redirect: 302 with no-store by default, 301 with max-age per link.
	r = do(t, "GET", base+"/"+v.Code, nil)
	wantStatus(t, r, http.StatusFound)
	if r.Header.Get("Location") != "https://example.com/a?b=c" || !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("redirect headers %v", r.Header)
	}
	perm := createLink(t, base, map[string]any{"url": "https://example.net/", "permanent": true})
	r = do(t, "GET", base+"/"+perm.Code, nil)
	wantStatus(t, r, http.StatusMovedPermanently)
	if !strings.Contains(r.Header.Get("Cache-Control"), "max-age=3600") || r.Header.Get("X-Tracking-Note") == "" {
		t.Fatalf("301 headers %v", r.Header)
	}
	wantStatus(t, do(t, "GET", base+"/nosuchcode", nil), http.StatusNotFound)
	wantStatus(t, do(t, "GET", base+"/bad%20code", nil), http.StatusNotFound)

	// Bad input: 400 problem+json; taken alias: 409.
	for _, body := range []any{map[string]any{"url": "ftp://x"}, map[string]any{"url": "not a url"}, map[string]any{},
		map[string]any{"url": "https://x.y", "alias": "a"}, map[string]any{"url": "https://x.y", "alias": "api"},
		map[string]any{"url": "https://x.y", "expires_at": "2001-01-01T00:00:00Z"}, map[string]any{"url": "https://x.y", "max_visits": -1},
		[]byte(`{"url": "https://x.y", "bogus": 1}`), []byte(`{`)} {
		r := do(t, "POST", base+"/api/v1/links", body)
		wantStatus(t, r, http.StatusBadRequest)
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("content type %q for %v", ct, body)
		}
	}
	wantStatus(t, do(t, "POST", base+"/api/v1/links", map[string]any{"url": "https://x.y", "alias": v.Code}), http.StatusConflict)

	// GET with ETag and conditional GET; PATCH with If-Match.
	r = do(t, "GET", base+"/api/v1/links/"+v.Code, nil)
	wantStatus(t, r, http.StatusOK)
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	wantStatus(t, do(t, "GET", base+"/api/v1/links/"+v.Code, nil, "If-None-Match", etag), http.StatusNotModified)
	wantStatus(t, do(t, "PATCH", base+"/api/v1/links/"+v.Code, map[string]any{"url": "https://example.com/new"}), http.StatusUnauthorized)
	r = do(t, "PATCH", base+"/api/v1/links/"+v.Code, map[string]any{"url": "https://example.com/new"}, "X-API-Key", testKey, "If-Match", etag)
	wantStatus(t, r, http.StatusOK)
	wantStatus(t, do(t, "PATCH", base+"/api/v1/links/"+v.Code, map[string]any{"url": "https://example.com/x"}, "X-API-Key", testKey, "If-Match", etag), http.StatusPreconditionFailed)
	eventually(t, 3*time.Second, "edit visible on every node", func() bool {
		return do(t, "GET", base+"/"+v.Code, nil).Header.Get("Location") == "https://example.com/new"
	})
	// Stats change while the consumer applies clicks: a 200 to a
	// conditional GET must then carry a new ETag; once quiet, 304.
	eventually(t, 5*time.Second, "stats answer 304 to a matching If-None-Match", func() bool {
		r := do(t, "GET", base+"/api/v1/links/"+v.Code+"/stats", nil)
		wantStatus(t, r, http.StatusOK)
		r2 := do(t, "GET", base+"/api/v1/links/"+v.Code+"/stats", nil, "If-None-Match", r.Header.Get("ETag"))
		if r2.StatusCode == http.StatusOK && r2.Header.Get("ETag") == r.Header.Get("ETag") {
			t.Fatalf("200 with the same ETag %s", r.Header.Get("ETag"))
		}
		return r2.StatusCode == http.StatusNotModified
	})

	// QR codes.
	r = do(t, "GET", base+"/api/v1/links/"+v.Code+"/qr.png", nil)
	wantStatus(t, r, http.StatusOK)
	if r.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(r.body), "\x89PNG") {
		t.Fatalf("qr.png: %s", r.Header.Get("Content-Type"))
	}
	r = do(t, "GET", base+"/api/v1/links/"+v.Code+"/qr.svg", nil)
	wantStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(string(r.body), "<svg") {
		t.Fatalf("qr.svg: %.60s", r.body)
	}

	// CSV import, then list with pagination, sort and fields.
	wantStatus(t, do(t, "POST", base+"/api/v1/links/import", "url\nhttps://a.example/\n"), http.StatusUnauthorized)
	r = do(t, "POST", base+"/api/v1/links/import", "url,alias,expires_at,max_visits\nhttps://a.example/\nhttps://b.example/,csv-b-alias\nnot-a-url\nhttps://c.example/,,,5\n", "X-API-Key", testKey)
	wantStatus(t, r, http.StatusOK)
	var imp struct {
		Created int            `json:"created"`
		Results []importResult `json:"results"`
	}
	r.json(t, &imp)
	if imp.Created != 3 || len(imp.Results) != 4 || imp.Results[2].Error == "" {
		t.Fatalf("import: %s", r.body)
	}
	r = do(t, "GET", base+"/api/v1/links?limit=2&sort=code&fields=code,url", nil)
	wantStatus(t, r, http.StatusOK)
	var list struct {
		Items []map[string]any `json:"items"`
		Total int              `json:"total"`
	}
	r.json(t, &list)
	if len(list.Items) != 2 || list.Total < 6 || len(list.Items[0]) != 2 || r.Header.Get("Link") == "" || r.Header.Get("X-Total-Count") == "" {
		t.Fatalf("list: %s %v", r.body, r.Header)
	}
	if a, b := list.Items[0]["code"].(string), list.Items[1]["code"].(string); a > b {
		t.Fatalf("not sorted by code: %s > %s", a, b)
	}
	wantStatus(t, do(t, "GET", base+"/api/v1/links?sort=bogus", nil), http.StatusBadRequest)

	// DELETE needs a key; then 404.
	wantStatus(t, do(t, "DELETE", base+"/api/v1/links/"+gen.Code, nil), http.StatusUnauthorized)
	wantStatus(t, do(t, "DELETE", base+"/api/v1/links/"+gen.Code, nil, "X-API-Key", testKey), http.StatusNoContent)
	wantStatus(t, do(t, "GET", base+"/api/v1/links/"+gen.Code, nil), http.StatusNotFound)
	wantStatus(t, do(t, "DELETE", base+"/api/v1/links/"+gen.Code, nil, "X-API-Key", testKey), http.StatusNotFound)

	// Pages.
	for _, p := range []string{"/", "/static/app.js", "/debug/scalekit", "/debug/scalekit?format=json", "/metrics"} {
		wantStatus(t, do(t, "GET", base+p, nil), http.StatusOK)
	}
}

// testFromCache: after the first redirect the link is read from the cache;
// the store is not asked again.
func testFromCache(t *testing.T, c *cluster) {
	v := createLink(t, c.URL(), map[string]any{"url": "https://cache.example/"})
	for i := range c.nodes { // warm every node's L1
		wantStatus(t, do(t, "GET", nodeURL(c, i)+"/"+v.Code, nil), http.StatusFound)
	}
	before := c.be.store.gets.Load()
	for range 20 {
		wantStatus(t, do(t, "GET", c.URL()+"/"+v.Code, nil), http.StatusFound)
	}
	if after := c.be.store.gets.Load(); after != before {
		t.Fatalf("20 cached redirects read the store %d times", after-before)
	}
}

// testDeleteEveryNode: a deleted link stops redirecting on every node
// within a bound well under the L1 TTL (the broadcast, not the TTL).
func testDeleteEveryNode(t *testing.T, c *cluster) {
	v := createLink(t, c.URL(), map[string]any{"url": "https://delete.example/"})
	for i := range c.nodes {
		wantStatus(t, do(t, "GET", nodeURL(c, i)+"/"+v.Code, nil), http.StatusFound)
	}
	wantStatus(t, do(t, "DELETE", c.URL()+"/api/v1/links/"+v.Code, nil, "X-API-Key", testKey), http.StatusNoContent)
	const bound = time.Second // L1TTL is 5s
	for i := range c.nodes {
		eventually(t, bound, fmt.Sprintf("node %d stops redirecting", i), func() bool {
			return do(t, "GET", nodeURL(c, i)+"/"+v.Code, nil).StatusCode == http.StatusNotFound
		})
	}
}

// testIdempotentCreate: concurrent creates with one Idempotency-Key make
// one link; every success carries the same code.
func testIdempotentCreate(t *testing.T, base string) {
	url := fmt.Sprintf("https://idem.example/%d", time.Now().UnixNano())
	key := "idem-" + fmt.Sprint(time.Now().UnixNano())
	var wg sync.WaitGroup
	codes := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, "POST", base+"/api/v1/links", map[string]any{"url": url}, "Idempotency-Key", key)
			if r.StatusCode == http.StatusCreated {
				var v linkView
				r.json(t, &v)
				codes <- v.Code
			} else if r.StatusCode != http.StatusConflict {
				t.Errorf("status %d: %s", r.StatusCode, r.body)
			}
		}()
	}
	wg.Wait()
	close(codes)
	var first string
	for c := range codes {
		if first == "" {
			first = c
		} else if c != first {
			t.Fatalf("two codes for one Idempotency-Key: %s and %s", first, c)
		}
	}
	// A retry after completion replays the same link.
	r := do(t, "POST", base+"/api/v1/links", map[string]any{"url": url}, "Idempotency-Key", key)
	wantStatus(t, r, http.StatusCreated)
	var v linkView
	r.json(t, &v)
	if first != "" && v.Code != first {
		t.Fatalf("replay gave %s, want %s", v.Code, first)
	}
	r = do(t, "GET", base+"/api/v1/links?limit=100&fields=url", nil)
	if n := strings.Count(string(r.body), url); n != 1 {
		t.Fatalf("%d links with the URL, want 1", n)
	}
}

func testExpiryMaxVisits(t *testing.T, base string) {
	lim := createLink(t, base, map[string]any{"url": "https://limited.example/", "max_visits": 3})
	for i := range 3 {
		r := do(t, "GET", base+"/"+lim.Code, nil)
		if r.StatusCode != http.StatusFound {
			t.Fatalf("visit %d: %d", i+1, r.StatusCode)
		}
	}
	wantStatus(t, do(t, "GET", base+"/"+lim.Code, nil), http.StatusGone)

	// Concurrent visits never exceed the limit.
	lim = createLink(t, base, map[string]any{"url": "https://limited2.example/", "max_visits": 5})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if do(t, "GET", base+"/"+lim.Code, nil).StatusCode == http.StatusFound {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 5 {
		t.Fatalf("%d redirects for max_visits 5", ok)
	}

	exp := createLink(t, base, map[string]any{"url": "https://expiring.example/", "expires_at": time.Now().Add(700 * time.Millisecond).Format(time.RFC3339Nano)})
	wantStatus(t, do(t, "GET", base+"/"+exp.Code, nil), http.StatusFound)
	eventually(t, 3*time.Second, "expired link answers 410", func() bool {
		return do(t, "GET", base+"/"+exp.Code, nil).StatusCode == http.StatusGone
	})
}

// testUniques: 600 clicks by 300 distinct visitors; HLL within 3%.
func testUniques(t *testing.T, base string) {
	v := createLink(t, base, map[string]any{"url": "https://uniques.example/"})
	const visitors, clicks = 300, 600
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range clicks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := do(t, "GET", base+"/"+v.Code, nil, "X-Forwarded-For", fmt.Sprintf("10.1.%d.%d", (i%visitors)/250, (i%visitors)%250),
				"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "Referer", "https://news.example/item")
			if r.StatusCode != http.StatusFound {
				t.Errorf("status %d", r.StatusCode)
			}
		}()
	}
	wg.Wait()
	var s Stats
	eventually(t, 10*time.Second, "clicks counted", func() bool {
		s = statsOf(t, base, v.Code)
		return s.Clicks >= clicks
	})
	if s.Clicks != clicks {
		t.Fatalf("clicks %d, want %d", s.Clicks, clicks)
	}
	if d := float64(s.Unique) - visitors; d > 0.03*visitors || d < -0.03*visitors {
		t.Fatalf("unique visitors %d, want %d ± 3%%", s.Unique, visitors)
	}
	if len(s.Referrers) == 0 || s.Referrers[0].Name != "news.example" || s.Browsers[0].Name != "Chrome" || s.OS[0].Name != "Linux" {
		t.Fatalf("dimensions: %+v", s)
	}
	if len(s.Hours) == 0 || s.Hours[len(s.Hours)-1].Count == 0 {
		t.Fatalf("hours: %+v", s.Hours)
	}
	// Bots are excluded from counts.
	wantStatus(t, do(t, "GET", base+"/"+v.Code, nil, "User-Agent", "Googlebot/2.1"), http.StatusFound)
	eventually(t, 10*time.Second, "bot counted apart", func() bool { return statsOf(t, base, v.Code).Bots == 1 })
	if s := statsOf(t, base, v.Code); s.Clicks != clicks {
		t.Fatalf("a bot changed clicks to %d", s.Clicks)
	}
}
