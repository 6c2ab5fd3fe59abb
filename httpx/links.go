package httpx

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// HeaderTotalCount carries the size of the whole collection.
const HeaderTotalCount = "X-Total-Count"

// Page describes the page a handler answers, for SetPageHeaders.
type Page struct {
	// Total is the number of items in the whole (filtered) collection, or
	// negative when unknown (counting is often too expensive); an unknown
	// total means no X-Total-Count and no rel="last" link.
	Total int64
	// HasNext says, when Total is unknown, whether another page follows
	// (fetch limit+1 rows to find out).
	HasNext bool
	// NextCursor and PrevCursor switch the links to cursor pagination:
	// rel="next" / rel="prev" carry these cursors, and rel="first" has no
	// cursor. Empty means no such page.
	NextCursor, PrevCursor string
}

// SetPageHeaders sets X-Total-Count (when p.Total is known) and a Link
// header (RFC 8288) with rel="first", "prev", "next" and "last" as they
// apply. Link targets are relative references to r's path with r's query
// parameters, with limit, offset and cursor replaced; a client resolves
// them against the request URL. Call it before writing the body.
//
// Offset pagination (no cursors in p and no cursor in c): prev and next
// step by c.Limit, next exists while offset+limit < Total (or, with
// Total unknown, when p.HasNext), last is the offset of the final page.
func SetPageHeaders(w http.ResponseWriter, r *http.Request, c *Collection, p Page) {
	h := w.Header()
	if p.Total >= 0 {
		h.Set(HeaderTotalCount, strconv.FormatInt(p.Total, 10))
	}
	base := r.URL.Query()
	limit := max(c.Limit, 1)
	link := func(sb *strings.Builder, rel string, set func(url.Values)) {
		q := url.Values{}
		for k, vs := range base {
			q[k] = vs
		}
		delete(q, ParamOffset)
		delete(q, ParamCursor)
		q.Set(ParamLimit, strconv.Itoa(limit))
		set(q)
		if sb.Len() > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("<")
		sb.WriteString((&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String())
		sb.WriteString(`>; rel="`)
		sb.WriteString(rel)
		sb.WriteString(`"`)
	}
	var sb strings.Builder
	if p.NextCursor != "" || p.PrevCursor != "" || c.Cursor != nil {
		link(&sb, "first", func(url.Values) {})
		if p.PrevCursor != "" {
			link(&sb, "prev", func(q url.Values) { q.Set(ParamCursor, p.PrevCursor) })
		}
		if p.NextCursor != "" {
			link(&sb, "next", func(q url.Values) { q.Set(ParamCursor, p.NextCursor) })
		}
	} else {
		off := max(c.Offset, 0)
		setOff := func(n int) func(url.Values) {
			return func(q url.Values) { q.Set(ParamOffset, strconv.Itoa(n)) }
		}
		link(&sb, "first", setOff(0))
		if off > 0 {
			link(&sb, "prev", setOff(max(off-limit, 0)))
		}
		if (p.Total >= 0 && int64(off)+int64(limit) < p.Total) || (p.Total < 0 && p.HasNext) {
			link(&sb, "next", setOff(off+limit))
		}
		if p.Total >= 0 {
			last := int64(0)
			if p.Total > 0 {
				last = (p.Total - 1) / int64(limit) * int64(limit)
			}
			link(&sb, "last", setOff(int(last)))
		}
	}
	h.Set("Link", sb.String())
}
