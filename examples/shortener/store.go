package main

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"
)

// Errors of the link store. Handlers map them to HTTP statuses.
var (
	ErrNotFound = errors.New("shortener: no such link")
	ErrExists   = errors.New("shortener: code already taken")
	ErrGone     = errors.New("shortener: link expired or over its visit limit")
	ErrConflict = errors.New("shortener: link changed concurrently")
)

// Link is one short link as stored.
type Link struct {
	Code      string     `json:"code"`
	URL       string     `json:"url"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// MaxVisits limits redirects; 0 means unlimited. Links with a limit
	// count visits synchronously in the store (Visit); the others count
	// them asynchronously through the click queue.
	MaxVisits int64 `json:"max_visits,omitempty"`
	Visits    int64 `json:"visits"`
	// Permanent answers 301 instead of 302.
	Permanent bool `json:"permanent"`
	// Version grows with every change; it is the ETag and the
	// compare-and-set token of Update.
	Version int64 `json:"version"`
}

// Live reports whether the link may redirect at now.
func (l *Link) Live(now time.Time) bool {
	if l.ExpiresAt != nil && !now.Before(*l.ExpiresAt) {
		return false
	}
	return l.MaxVisits == 0 || l.Visits < l.MaxVisits
}

// ListQuery selects a page of links.
type ListQuery struct {
	Offset, Limit int
	Sort          string // "created_at", "code", "visits" or "url"
	Desc          bool
}

// LinkStore keeps links. Implementations: memStore (memory), pgStore
// (PostgreSQL) and shardedStore (physical stores routed by code through
// package shard's two-level map). All are safe for concurrent use.
type LinkStore interface {
	// Create stores l; ErrExists when its code is taken.
	Create(ctx context.Context, l Link) error
	// Get returns the link; ErrNotFound when absent.
	Get(ctx context.Context, code string) (Link, error)
	// Update replaces the link if its stored Version is still
	// l.Version, and returns it with Version+1; ErrConflict otherwise,
	// ErrNotFound when absent.
	Update(ctx context.Context, l Link) (Link, error)
	// Delete removes the link; ErrNotFound when absent.
	Delete(ctx context.Context, code string) error
	// Visit counts one visit of a link with a visit limit, atomically:
	// ErrGone when the limit is already reached.
	Visit(ctx context.Context, code string) (Link, error)
	// List returns a page and the total number of links.
	List(ctx context.Context, q ListQuery) ([]Link, int64, error)
	// Codes calls fn with every code (used to fill the alias Bloom filter).
	Codes(ctx context.Context, fn func(code string)) error
	// Close releases the store's resources.
	Close() error
}

// memStore is the in-memory LinkStore.
type memStore struct {
	mu    sync.RWMutex
	links map[string]*Link
}

func newMemStore() *memStore { return &memStore{links: make(map[string]*Link)} }

func (s *memStore) Create(_ context.Context, l Link) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.links[l.Code]; ok {
		return ErrExists
	}
	s.links[l.Code] = &l
	return nil
}

func (s *memStore) Get(_ context.Context, code string) (Link, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.links[code]
	if !ok {
		return Link{}, ErrNotFound
	}
	return *l, nil
}

func (s *memStore) Update(_ context.Context, l Link) (Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.links[l.Code]
	if !ok {
		return Link{}, ErrNotFound
	}
	if cur.Version != l.Version {
		return Link{}, ErrConflict
	}
	l.Version++
	l.Visits = cur.Visits
	*cur = l
	return l, nil
}

func (s *memStore) Delete(_ context.Context, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.links[code]; !ok {
		return ErrNotFound
	}
	delete(s.links, code)
	return nil
}

func (s *memStore) Visit(_ context.Context, code string) (Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[code]
	if !ok {
		return Link{}, ErrNotFound
	}
	if l.MaxVisits > 0 && l.Visits >= l.MaxVisits {
		return *l, ErrGone
	}
	l.Visits++
	return *l, nil
}

func (s *memStore) List(_ context.Context, q ListQuery) ([]Link, int64, error) {
	s.mu.RLock()
	all := make([]Link, 0, len(s.links))
	for _, l := range s.links {
		all = append(all, *l)
	}
	s.mu.RUnlock()
	sortLinks(all, q.Sort, q.Desc)
	return page(all, q.Offset, q.Limit), int64(len(all)), nil
}

func (s *memStore) Codes(_ context.Context, fn func(string)) error {
	s.mu.RLock()
	codes := make([]string, 0, len(s.links))
	for c := range s.links {
		codes = append(codes, c)
	}
	s.mu.RUnlock()
	for _, c := range codes {
		fn(c)
	}
	return nil
}

func (s *memStore) Close() error { return nil }

// linkCompare returns the order of links by field (ties broken by code,
// so pages are stable and per-shard pages merge into the same order).
func linkCompare(field string, desc bool) func(a, b Link) int {
	return func(a, b Link) int {
		c := 0
		switch field {
		case "code":
		case "visits":
			c = cmpInt(a.Visits, b.Visits)
		case "url":
			c = strings.Compare(a.URL, b.URL)
		default: // created_at
			c = a.CreatedAt.Compare(b.CreatedAt)
		}
		if c == 0 {
			c = strings.Compare(a.Code, b.Code)
		}
		if desc {
			return -c
		}
		return c
	}
}

// sortLinks orders links by field (see linkCompare).
func sortLinks(ls []Link, field string, desc bool) {
	cmp := linkCompare(field, desc)
	sort.SliceStable(ls, func(i, j int) bool { return cmp(ls[i], ls[j]) < 0 })
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func page(ls []Link, offset, limit int) []Link {
	if offset >= len(ls) {
		return []Link{}
	}
	ls = ls[offset:]
	if limit >= 0 && limit < len(ls) {
		ls = ls[:limit]
	}
	return ls
}
