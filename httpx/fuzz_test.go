package httpx_test

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/httpx"
)

// isBadRequest reports whether err maps to a 400 problem.
func isBadRequest(err error) bool { return httpx.ProblemFor(err).Status == 400 }

func FuzzCursor(f *testing.F) {
	c := mustCodec(f, testKey)
	f.Add(c.EncodeBytes([]byte(`{"id":1}`)), []byte(`{"id":1}`))
	f.Add("", []byte{})
	f.Add("AAAA", []byte{0xff})
	f.Add(strings.Repeat("_", 40), []byte("x"))
	f.Fuzz(func(t *testing.T, cursor string, payload []byte) {
		// Arbitrary input is rejected cleanly or verifies.
		if _, err := c.DecodeBytes(cursor); err != nil && (!errors.Is(err, httpx.ErrInvalidCursor) || !isBadRequest(err)) {
			t.Fatalf("DecodeBytes(%q): %v", cursor, err)
		}
		// Every payload round-trips, and no edit of its cursor verifies.
		if len(payload) > 1000 {
			return
		}
		enc := c.EncodeBytes(payload)
		got, err := c.DecodeBytes(enc)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("round trip of %q: %q %v", payload, got, err)
		}
		if cursor != enc {
			if got, err := c.DecodeBytes(cursor); err == nil && !bytes.Equal(got, payload) && strings.HasPrefix(enc, cursor) {
				t.Fatalf("a prefix of a valid cursor verified: %q", cursor)
			}
		}
	})
}

func FuzzParseSort(f *testing.F) {
	for _, s := range []string{"-a,+b", " b", "a,a", "", ",", "-", "a.b,-c_d", "+-a"} {
		f.Add(s)
	}
	allowed := []string{"a", "b", "a.b", "c_d"}
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := httpx.ParseSort(s, allowed...)
		if err != nil {
			if !errors.Is(err, httpx.ErrInvalidSort) || !isBadRequest(err) {
				t.Fatalf("ParseSort(%q): %v", s, err)
			}
			return
		}
		seen := map[string]bool{}
		var parts []string
		for _, f := range fields {
			if seen[f.Name] || !strings.Contains(","+strings.Join(allowed, ",")+",", ","+f.Name+",") {
				t.Fatalf("ParseSort(%q) = %v", s, fields)
			}
			seen[f.Name] = true
			parts = append(parts, f.String())
		}
		// The canonical form parses to the same fields.
		again, err := httpx.ParseSort(strings.Join(parts, ","), allowed...)
		if err != nil || len(again) != len(fields) {
			t.Fatalf("canonical %v of %q: %v %v", parts, s, again, err)
		}
	})
}

func FuzzParseFields(f *testing.F) {
	for _, s := range []string{"id,name", "id,,name", " id ", "id,id", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := httpx.ParseFields(s, "id", "name", "meta.tags")
		if err != nil {
			if !errors.Is(err, httpx.ErrInvalidFields) || !isBadRequest(err) {
				t.Fatalf("ParseFields(%q): %v", s, err)
			}
			return
		}
		if len(fields) == 0 {
			t.Fatalf("ParseFields(%q) accepted nothing", s)
		}
	})
}

func FuzzParseCollectionQuery(f *testing.F) {
	for _, s := range []string{"limit=5&offset=10&sort=-id&fields=id&status=open&price[gte]=3&tag[in]=a,b", "limit=abc", "x[=1", "cursor=zz"} {
		f.Add(s)
	}
	spec := &httpx.CollectionSpec{Sortable: []string{"id"}, Fields: []string{"id"}, Cursors: mustCodec(f, testKey),
		Filters: map[string][]string{"status": nil, "price": {httpx.OpGte}, "tag": {httpx.OpIn}}}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		c, err := httpx.ParseCollectionQuery(q, spec)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("%q: %v is not a 400", raw, err)
			}
			return
		}
		if c.Limit < 1 || c.Limit > 100 || c.Offset < 0 || c.Offset > 10_000 {
			t.Fatalf("%q: limit %d offset %d", raw, c.Limit, c.Offset)
		}
	})
}

func FuzzParseETagList(f *testing.F) {
	for _, s := range []string{`"a", W/"b"`, `*`, `,,"x",`, `W/"`, `"a" "b"`, "\"\x80\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := httpx.ParseETagList(s)
		if err != nil {
			if !errors.Is(err, httpx.ErrInvalidETag) || !isBadRequest(err) {
				t.Fatalf("ParseETagList(%q): %v", s, err)
			}
			return
		}
		if l.Any {
			return
		}
		// Every tag re-serialises to something that parses to itself.
		var parts []string
		for _, tag := range l.Tags {
			back, err := httpx.ParseETag(tag.String())
			if err != nil || back != tag {
				t.Fatalf("tag %+v of %q: %+v %v", tag, s, back, err)
			}
			parts = append(parts, tag.String())
		}
		again, err := httpx.ParseETagList(strings.Join(parts, ", "))
		if err != nil || len(again.Tags) != len(l.Tags) {
			t.Fatalf("re-join of %q: %v", s, err)
		}
	})
}

func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip, deflate;q=0.5", "*;q=0", "br;q=1.000", "gzip;q=", ";", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := httpx.ParseAcceptEncoding(s)
		if err != nil {
			if !errors.Is(err, httpx.ErrInvalidAcceptEncoding) || !isBadRequest(err) {
				t.Fatalf("ParseAcceptEncoding(%q): %v", s, err)
			}
		}
		for _, c := range cs {
			if c.Q < 0 || c.Q > 1 || c.Name == "" {
				t.Fatalf("%q: %+v", s, c)
			}
		}
		enc, err := httpx.NegotiateEncoding(s)
		if enc != "" && enc != "gzip" && enc != "deflate" || (err != nil && enc != "") {
			t.Fatalf("NegotiateEncoding(%q) = %q, %v", s, enc, err)
		}
	})
}

func FuzzAccept(f *testing.F) {
	for _, s := range []string{"application/json", "text/*;q=0.5, */*;q=0.1", "a/b;c=d", "*/x", "", ";q=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ranges, err := httpx.ParseAccept(s)
		if err != nil {
			if !errors.Is(err, httpx.ErrInvalidAccept) || !isBadRequest(err) {
				t.Fatalf("ParseAccept(%q): %v", s, err)
			}
		}
		for _, mr := range ranges {
			if mr.Q < 0 || mr.Q > 1 || mr.Type == "" || mr.Subtype == "" {
				t.Fatalf("%q: %+v", s, mr)
			}
		}
		r := get("/")
		r.Header.Set("Accept", s)
		got, err := httpx.Negotiate(r, "application/json", "text/html")
		if err == nil && got != "application/json" && got != "text/html" {
			t.Fatalf("Negotiate(%q) = %q", s, got)
		}
		if err != nil && httpx.ProblemFor(err).Status != 400 && httpx.ProblemFor(err).Status != 406 {
			t.Fatalf("Negotiate(%q): %v", s, err)
		}
	})
}
