package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/saga"
)

// maxURLLen bounds target URLs (browsers handle ~2k reliably).
const maxURLLen = 2048

// reserved are paths the service itself uses; no alias may take them.
var reserved = map[string]bool{"api": true, "static": true, "debug": true, "metrics": true, "healthz": true,
	"readyz": true, "livez": true, "favicon.ico": true, "robots.txt": true}

// createRequest is the body of POST /api/v1/links.
type createRequest struct {
	URL       string     `json:"url"`
	Alias     string     `json:"alias,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	MaxVisits *int64     `json:"max_visits,omitempty"`
	Permanent bool       `json:"permanent,omitempty"`
}

// linkView is a link as the API shows it.
type linkView struct {
	Link
	ShortURL string `json:"short_url"`
	QRPNG    string `json:"qr_png"`
	QRSVG    string `json:"qr_svg"`
	Stats    string `json:"stats"`
}

func badRequest(detail string) *httpx.Problem {
	return httpx.NewProblem(http.StatusBadRequest, detail)
}

// checkURL validates a target URL.
func checkURL(s string) error {
	if s == "" {
		return badRequest("url is required")
	}
	if len(s) > maxURLLen {
		return badRequest(fmt.Sprintf("url is longer than %d bytes", maxURLLen))
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return badRequest("url must be an absolute http or https URL")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return badRequest("url must not contain whitespace")
	}
	return nil
}

func checkAlias(a string) error {
	if a == "" {
		return nil
	}
	if len(a) < 3 || !validCode(a) {
		return badRequest("alias must be 3 to 64 letters, digits, '-' or '_'")
	}
	if reserved[strings.ToLower(a)] {
		return badRequest("alias " + a + " is reserved")
	}
	return nil
}

func checkLimits(exp *time.Time, maxVisits *int64, now time.Time) error {
	if exp != nil && !exp.After(now) {
		return badRequest("expires_at must be in the future")
	}
	if maxVisits != nil && (*maxVisits < 0 || *maxVisits > 1<<40) {
		return badRequest("max_visits must be between 0 (unlimited) and 2^40")
	}
	return nil
}

func (n *node) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (n *node) view(r *http.Request, l Link) linkView {
	base := n.baseURL(r)
	api := base + "/api/v1/links/" + l.Code
	return linkView{Link: l, ShortURL: base + "/" + l.Code, QRPNG: api + "/qr.png", QRSVG: api + "/qr.svg", Stats: api + "/stats"}
}

// create validates req and stores a new link (the core of POST and of the
// CSV import).
func (n *node) create(ctx context.Context, req createRequest) (Link, error) {
	now := time.Now().UTC()
	if err := checkURL(req.URL); err != nil {
		return Link{}, err
	}
	if err := checkAlias(req.Alias); err != nil {
		return Link{}, err
	}
	if err := checkLimits(req.ExpiresAt, req.MaxVisits, now); err != nil {
		return Link{}, err
	}
	l := Link{URL: req.URL, CreatedAt: now, UpdatedAt: now, Permanent: req.Permanent, Version: 1}
	if req.ExpiresAt != nil {
		t := req.ExpiresAt.UTC()
		l.ExpiresAt = &t
	}
	if req.MaxVisits != nil {
		l.MaxVisits = *req.MaxVisits
	}
	if req.Alias != "" {
		l.Code = req.Alias
		// The Bloom filter answers "definitely free" for most new aliases
		// without a store read; "maybe taken" costs one read.
		if n.bloom.TestString(l.Code) {
			if _, err := n.be.store.Get(ctx, l.Code); err == nil {
				return Link{}, httpx.NewProblem(http.StatusConflict, "alias "+l.Code+" is taken")
			}
		}
	} else {
		id, err := n.ids.Next(ctx)
		if err != nil {
			return Link{}, httpx.NewProblem(http.StatusServiceUnavailable, "no id available")
		}
		l.Code = idgen.EncodeBase62(uint64(id))
	}
	if err := n.be.store.Create(ctx, l); err != nil {
		if errors.Is(err, ErrExists) {
			return Link{}, httpx.NewProblem(http.StatusConflict, "alias "+l.Code+" is taken")
		}
		return Link{}, httpx.NewProblem(http.StatusServiceUnavailable, "link store unavailable")
	}
	n.bloom.AddString(l.Code)
	// Drop any negative entry ("unknown code") cached before the alias existed.
	_ = n.links.Delete(ctx, l.Code)
	return l, nil
}

// requireKey answers 401 and returns false when the request has no valid key.
func (n *node) requireKey(w http.ResponseWriter, r *http.Request) bool {
	if n.apiKey(r) != "" {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="shortener"`)
	httpx.Error(w, r, httpx.NewProblem(http.StatusUnauthorized, "a valid API key is required (X-API-Key or Authorization: Bearer)"))
	return false
}

func (n *node) handleCreate(w http.ResponseWriter, r *http.Request) {
	if !n.cfg.Anonymous && !n.requireKey(w, r) {
		return
	}
	var req createRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.Error(w, r, err)
		return
	}
	l, err := n.create(r.Context(), req)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	v := n.view(r, l)
	w.Header().Set("Location", v.ShortURL)
	_ = httpx.WriteJSON(w, http.StatusCreated, v)
}

// writeTagged writes v as JSON with a strong ETag of its bytes, answering
// 304 to a matching If-None-Match.
func writeTagged(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	tag := httpx.StrongETag(b)
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	if safe && httpx.CheckPreconditions(w, r, httpx.Validators{ETag: tag, HasETag: true, Exists: true}) {
		return
	}
	w.Header().Set("ETag", tag.String())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(append(b, '\n'))
}

// getLink reads from the store (the API shows the authoritative copy),
// answering 404 itself.
func (n *node) getLink(w http.ResponseWriter, r *http.Request) (Link, bool) {
	code := r.PathValue("code")
	if !validCode(code) {
		httpx.Error(w, r, httpx.NewProblem(http.StatusNotFound, "no such link"))
		return Link{}, false
	}
	l, err := n.be.store.Get(r.Context(), code)
	if errors.Is(err, ErrNotFound) {
		httpx.Error(w, r, httpx.NewProblem(http.StatusNotFound, "no such link"))
		return Link{}, false
	}
	if err != nil {
		httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "link store unavailable"))
		return Link{}, false
	}
	return l, true
}

func (n *node) handleGet(w http.ResponseWriter, r *http.Request) {
	if l, ok := n.getLink(w, r); ok {
		writeTagged(w, r, n.view(r, l))
	}
}

func (n *node) handleStats(w http.ResponseWriter, r *http.Request) {
	l, ok := n.getLink(w, r)
	if !ok {
		return
	}
	s, err := n.be.stats.Get(r.Context(), l.Code)
	if err != nil {
		httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "stats unavailable"))
		return
	}
	if l.MaxVisits > 0 {
		s.Clicks = max(s.Clicks, l.Visits)
	}
	writeTagged(w, r, s)
}

// patchRequest changes some fields; "expires_at": null clears the expiry.
type patchRequest struct {
	URL       *string         `json:"url"`
	ExpiresAt json.RawMessage `json:"expires_at"`
	MaxVisits *int64          `json:"max_visits"`
	Permanent *bool           `json:"permanent"`
}

func (n *node) handlePatch(w http.ResponseWriter, r *http.Request) {
	if !n.requireKey(w, r) {
		return
	}
	l, ok := n.getLink(w, r)
	if !ok {
		return
	}
	cur, _ := json.Marshal(n.view(r, l))
	if httpx.CheckPreconditions(w, r, httpx.Validators{ETag: httpx.StrongETag(cur), HasETag: true, Exists: true}) {
		return
	}
	var p patchRequest
	if err := httpx.DecodeJSON(r, &p); err != nil {
		httpx.Error(w, r, err)
		return
	}
	now := time.Now().UTC()
	if p.URL != nil {
		if err := checkURL(*p.URL); err != nil {
			httpx.Error(w, r, err)
			return
		}
		l.URL = *p.URL
	}
	if len(p.ExpiresAt) > 0 {
		if string(p.ExpiresAt) == "null" {
			l.ExpiresAt = nil
		} else {
			var t time.Time
			if err := json.Unmarshal(p.ExpiresAt, &t); err != nil {
				httpx.Error(w, r, badRequest("expires_at must be an RFC 3339 time or null"))
				return
			}
			if err := checkLimits(&t, nil, now); err != nil {
				httpx.Error(w, r, err)
				return
			}
			t = t.UTC()
			l.ExpiresAt = &t
		}
	}
	if p.MaxVisits != nil {
		if err := checkLimits(nil, p.MaxVisits, now); err != nil {
			httpx.Error(w, r, err)
			return
		}
		l.MaxVisits = *p.MaxVisits
	}
	if p.Permanent != nil {
		l.Permanent = *p.Permanent
	}
	l.UpdatedAt = now
	out, err := n.be.store.Update(r.Context(), l)
	switch {
	case errors.Is(err, ErrConflict):
		httpx.Error(w, r, httpx.NewProblem(http.StatusPreconditionFailed, "the link changed meanwhile; read it again"))
		return
	case errors.Is(err, ErrNotFound):
		httpx.Error(w, r, httpx.NewProblem(http.StatusNotFound, "no such link"))
		return
	case err != nil:
		httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "link store unavailable"))
		return
	}
	// Every node drops its cached copy (tiered cache broadcast).
	if err := n.links.Delete(r.Context(), out.Code); err != nil {
		n.cfg.Logger.Warn("cache invalidation failed", "code", out.Code, "err", err)
	}
	writeTagged(w, r, n.view(r, out))
}

func (n *node) handleDelete(w http.ResponseWriter, r *http.Request) {
	if !n.requireKey(w, r) {
		return
	}
	code := r.PathValue("code")
	err := n.deleteLink(r.Context(), code)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrNotFound):
		httpx.Error(w, r, httpx.NewProblem(http.StatusNotFound, "no such link"))
	case errors.Is(err, errChanged):
		httpx.Error(w, r, httpx.NewProblem(http.StatusConflict, "the link changed during the delete; read it again"))
	case errors.Is(err, saga.ErrExists):
		httpx.Error(w, r, httpx.NewProblem(http.StatusConflict, "a delete of this link is in progress"))
	case errors.Is(err, saga.ErrCompensated):
		httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "the link's stats could not be deleted; the link was restored, try again"))
	default:
		httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "delete failed: "+err.Error()))
	}
}

// deleteLink removes the link and its stats as a saga (see deleter): the
// link first — the step that must not lag, it stops redirects on every
// node — then the stats; a stats store that keeps failing restores the
// link.
func (n *node) deleteLink(ctx context.Context, code string) error {
	if !validCode(code) {
		return ErrNotFound
	}
	l, err := n.be.store.Get(ctx, code)
	if err != nil {
		return err
	}
	return n.del.Delete(ctx, l)
}

var listSpec = &httpx.CollectionSpec{
	DefaultLimit: 20, MaxLimit: 100,
	Sortable:    []string{"created_at", "code", "visits", "url"},
	DefaultSort: []httpx.SortField{{Name: "created_at", Desc: true}},
	Fields:      []string{"code", "url", "short_url", "created_at", "updated_at", "expires_at", "max_visits", "visits", "permanent", "version", "qr_png", "qr_svg", "stats"},
}

func (n *node) handleList(w http.ResponseWriter, r *http.Request) {
	c, err := httpx.ParseCollection(r, listSpec)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	q := ListQuery{Offset: c.Offset, Limit: c.Limit, Sort: "created_at", Desc: true}
	if len(c.Sort) > 0 {
		q.Sort, q.Desc = c.Sort[0].Name, c.Sort[0].Desc
	}
	ls, total, err := n.be.store.List(r.Context(), q)
	if err != nil {
		httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "link store unavailable"))
		return
	}
	items := make([]any, 0, len(ls))
	for _, l := range ls {
		v := n.view(r, l)
		if len(c.Fields) == 0 {
			items = append(items, v)
			continue
		}
		b, _ := json.Marshal(v)
		var all map[string]any
		_ = json.Unmarshal(b, &all)
		sel := make(map[string]any, len(c.Fields))
		for _, f := range c.Fields {
			if x, ok := all[f]; ok {
				sel[f] = x
			}
		}
		items = append(items, sel)
	}
	httpx.SetPageHeaders(w, r, c, httpx.Page{Total: total})
	writeTagged(w, r, map[string]any{"items": items, "total": total, "offset": c.Offset, "limit": c.Limit})
}
