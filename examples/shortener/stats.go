package main

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/sketch"
)

// hllPrecision 14 gives a standard error of 0.81% in 12 KiB per link
// (sparse, so a few bytes for links with few visitors).
const hllPrecision = 14

// seenWindow is how long click IDs are remembered for dedup; it must
// exceed the longest time a click can spend in the queue.
const seenWindow = 24 * time.Hour

// classifyUA sorts a User-Agent into browser, OS and bot.
func classifyUA(ua string) (browser, os string, bot bool) {
	l := strings.ToLower(ua)
	for _, b := range []string{"bot", "crawler", "spider", "slurp", "curl/", "wget/", "python-requests", "go-http-client", "headless", "facebookexternalhit", "preview"} {
		if strings.Contains(l, b) {
			return "bot", "bot", true
		}
	}
	switch {
	case l == "":
		browser = "unknown"
	case strings.Contains(l, "edg/"):
		browser = "Edge"
	case strings.Contains(l, "opr/") || strings.Contains(l, "opera"):
		browser = "Opera"
	case strings.Contains(l, "firefox/"):
		browser = "Firefox"
	case strings.Contains(l, "chrome/") || strings.Contains(l, "chromium/"):
		browser = "Chrome"
	case strings.Contains(l, "safari/"):
		browser = "Safari"
	default:
		browser = "other"
	}
	switch {
	case strings.Contains(l, "android"):
		os = "Android"
	case strings.Contains(l, "iphone") || strings.Contains(l, "ipad"):
		os = "iOS"
	case strings.Contains(l, "windows"):
		os = "Windows"
	case strings.Contains(l, "mac os"):
		os = "macOS"
	case strings.Contains(l, "linux"):
		os = "Linux"
	default:
		os = "other"
	}
	return browser, os, false
}

// refHost reduces a Referer to its host ("direct" when absent).
func refHost(ref string) string {
	if ref == "" {
		return "direct"
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return "other"
	}
	return strings.ToLower(u.Hostname())
}

// linkAgg is the running aggregate of one link.
type linkAgg struct {
	clicks, bots int64
	hours        map[int64]int64 // unix hour → count
	dims         map[string]map[string]int64
	hll          *sketch.HyperLogLog
}

func newLinkAgg() *linkAgg {
	h, _ := sketch.NewHyperLogLog(hllPrecision)
	return &linkAgg{hours: map[int64]int64{}, dims: map[string]map[string]int64{"ref": {}, "browser": {}, "os": {}}, hll: h}
}

func (a *linkAgg) add(c Click) {
	browser, os, bot := classifyUA(c.UA)
	if bot {
		a.bots++
		return
	}
	a.clicks++
	a.hours[c.At.Unix()/3600]++
	a.dims["ref"][refHost(c.Referrer)]++
	a.dims["browser"][browser]++
	a.dims["os"][os]++
	a.hll.AddString(c.Visitor)
}

func (a *linkAgg) stats(code string) Stats {
	s := Stats{Code: code, Clicks: a.clicks, Bots: a.bots, Unique: a.hll.Count(),
		Referrers: topN(a.dims["ref"], 10), Browsers: topN(a.dims["browser"], 10), OS: topN(a.dims["os"], 10)}
	s.Hours = make([]HourCount, 0, len(a.hours))
	for h, n := range a.hours {
		s.Hours = append(s.Hours, HourCount{time.Unix(h*3600, 0).UTC(), n})
	}
	sort.Slice(s.Hours, func(i, j int) bool { return s.Hours[i].Hour.Before(s.Hours[j].Hour) })
	return s
}

// memStats is the in-memory StatsStore; dedup by a map of recent IDs.
type memStats struct {
	mu   sync.Mutex
	aggs map[string]*linkAgg
	seen map[int64]time.Time
	last time.Time
}

func newMemStats() *memStats {
	return &memStats{aggs: map[string]*linkAgg{}, seen: map[int64]time.Time{}}
}

func (m *memStats) Apply(_ context.Context, clicks []Click) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if now.Sub(m.last) > time.Minute {
		for id, t := range m.seen {
			if now.Sub(t) > seenWindow {
				delete(m.seen, id)
			}
		}
		m.last = now
	}
	n := 0
	for _, c := range clicks {
		if _, dup := m.seen[c.ID]; dup {
			continue
		}
		m.seen[c.ID] = now
		a := m.aggs[c.Code]
		if a == nil {
			a = newLinkAgg()
			m.aggs[c.Code] = a
		}
		a.add(c)
		n++
	}
	return n, nil
}

func (m *memStats) Get(_ context.Context, code string) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.aggs[code]
	if a == nil {
		return newLinkAgg().stats(code), nil
	}
	return a.stats(code), nil
}

func (m *memStats) Delete(_ context.Context, code string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.aggs, code)
	return nil
}

func (m *memStats) Close() error { return nil }
