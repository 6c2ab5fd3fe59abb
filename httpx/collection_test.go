package httpx_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/httpx"
)

var testKey = []byte("0123456789abcdef-test-key")

func mustCodec(t testing.TB, keys ...[]byte) *httpx.CursorCodec {
	t.Helper()
	c, err := httpx.NewCursorCodec(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCursorCodec(t *testing.T) {
	c := mustCodec(t, testKey)
	type pos struct {
		Created int64  `json:"c"`
		ID      string `json:"id"`
	}
	cur, err := c.Encode(pos{Created: 1700, ID: "x9"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(cur, "+/=") {
		t.Fatalf("cursor %q is not URL-safe", cur)
	}
	var back pos
	if err := c.Decode(cur, &back); err != nil || back != (pos{1700, "x9"}) {
		t.Fatalf("decode: %+v %v", back, err)
	}
	// Tampering: flip each character in turn.
	for i := range cur {
		b := []byte(cur)
		b[i] ^= 1
		if err := c.Decode(string(b), &back); !errors.Is(err, httpx.ErrInvalidCursor) {
			t.Fatalf("tampered at %d accepted: %v", i, err)
		}
	}
	other := mustCodec(t, []byte("another-key-of-16+bytes"))
	for _, bad := range []string{"", "!!!", "abc", strings.Repeat("A", 3000)} {
		if _, err := c.DecodeBytes(bad); !errors.Is(err, httpx.ErrInvalidCursor) {
			t.Errorf("DecodeBytes(%.20q) err %v", bad, err)
		}
	}
	if _, err := other.DecodeBytes(cur); !errors.Is(err, httpx.ErrInvalidCursor) {
		t.Fatal("foreign cursor accepted")
	}
	// Rotation: a codec with the new key first still verifies old cursors.
	rotated := mustCodec(t, []byte("another-key-of-16+bytes"), testKey)
	if err := rotated.Decode(cur, &back); err != nil {
		t.Fatalf("rotated: %v", err)
	}
	// Valid signature, wrong shape.
	num := c.EncodeBytes([]byte(`42`))
	if err := c.Decode(num, &back); !errors.Is(err, httpx.ErrInvalidCursor) {
		t.Fatalf("wrong shape: %v", err)
	}
	if _, err := httpx.NewCursorCodec([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := httpx.NewCursorCodec(); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := c.Encode(func() {}); err == nil {
		t.Fatal("unencodable accepted")
	}
}

func TestParseSort(t *testing.T) {
	allowed := []string{"created", "name", "price"}
	got, err := httpx.ParseSort("-created,+name, price", allowed...)
	want := []httpx.SortField{{"created", true}, {"name", false}, {"price", false}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%v %v", got, err)
	}
	if got[0].String() != "-created" || got[1].String() != "name" {
		t.Fatal("String")
	}
	for _, bad := range []string{"", ",", "-", "--name", "secret", "name,name", "-name,+name", "na me", "name;drop", "1abc",
		strings.Repeat("name,", 17), strings.Repeat("x", 2000)} {
		if _, err := httpx.ParseSort(bad, allowed...); !errors.Is(err, httpx.ErrInvalidSort) {
			t.Errorf("ParseSort(%.30q) err %v", bad, err)
		}
	}
	if _, err := httpx.ParseSort("name"); !errors.Is(err, httpx.ErrInvalidSort) {
		t.Fatal("sort allowed with no sortable fields")
	}
}

func TestParseFields(t *testing.T) {
	got, err := httpx.ParseFields("id, name,meta.tags", "id", "name", "meta.tags")
	if err != nil || !reflect.DeepEqual(got, []string{"id", "name", "meta.tags"}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "id,", "id,id", "password", "id name", ".x"} {
		if _, err := httpx.ParseFields(bad, "id", "name"); !errors.Is(err, httpx.ErrInvalidFields) {
			t.Errorf("ParseFields(%q) err %v", bad, err)
		}
	}
}

func TestParseCollection(t *testing.T) {
	codec := mustCodec(t, testKey)
	spec := &httpx.CollectionSpec{
		DefaultLimit: 20, MaxLimit: 50, MaxOffset: 1000,
		Sortable:    []string{"created", "name"},
		DefaultSort: []httpx.SortField{{Name: "created", Desc: true}},
		Fields:      []string{"id", "name"},
		Filters:     map[string][]string{"status": nil, "price": {httpx.OpGte, httpx.OpLt}, "tag": {httpx.OpIn}},
		Cursors:     codec,
	}
	c, err := httpx.ParseCollection(get("/items"), spec)
	if err != nil || c.Limit != 20 || c.Offset != 0 || !reflect.DeepEqual(c.Sort, spec.DefaultSort) || c.Fields != nil || c.Filters != nil {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = httpx.ParseCollection(get("/items?limit=50&offset=40&sort=+name,-created&fields=id&status=open&price[gte]=10&tag[in]=a,b&other=x"), spec)
	if err != nil {
		t.Fatal(err)
	}
	wantFilters := []httpx.Filter{
		{Field: "price", Op: "gte", Values: []string{"10"}},
		{Field: "status", Op: "eq", Values: []string{"open"}},
		{Field: "tag", Op: "in", Values: []string{"a", "b"}},
	}
	if c.Limit != 50 || c.Offset != 40 || c.Sort[0] != (httpx.SortField{Name: "name"}) || !reflect.DeepEqual(c.Fields, []string{"id"}) ||
		!reflect.DeepEqual(c.Filters, wantFilters) {
		t.Fatalf("parsed %+v", c)
	}
	if f, ok := c.Filter("tag"); !ok || f.Op != "in" {
		t.Fatal("Filter lookup")
	}
	cur := codec.EncodeBytes([]byte(`{"after":7}`))
	c, err = httpx.ParseCollection(get("/items?cursor="+cur), spec)
	if err != nil || string(c.Cursor) != `{"after":7}` {
		t.Fatalf("cursor: %+v %v", c, err)
	}

	bad := map[string]error{
		"limit=abc":                   httpx.ErrInvalidLimit,
		"limit=0":                     httpx.ErrInvalidLimit,
		"limit=51":                    httpx.ErrInvalidLimit,
		"limit=-1":                    httpx.ErrInvalidLimit,
		"limit=1e3":                   httpx.ErrInvalidLimit,
		"limit=+5":                    httpx.ErrInvalidLimit,
		"limit=":                      httpx.ErrInvalidLimit,
		"limit=99999999999999999999":  httpx.ErrInvalidLimit,
		"offset=1001":                 httpx.ErrInvalidOffset,
		"offset=x":                    httpx.ErrInvalidOffset,
		"sort=password":               httpx.ErrInvalidSort,
		"sort=":                       httpx.ErrInvalidSort,
		"fields=secret":               httpx.ErrInvalidFields,
		"cursor=garbage":              httpx.ErrInvalidCursor,
		"cursor=" + cur + "&offset=3": httpx.ErrInvalidCursor,
		"price=5":                     httpx.ErrInvalidFilter, // eq not allowed on price
		"price[lte]=5":                httpx.ErrInvalidFilter,
		"price[foo]=5":                httpx.ErrInvalidFilter,
		"secret[eq]=1":                httpx.ErrInvalidFilter,
		"status[eq=1":                 httpx.ErrInvalidFilter,
		"status=a&status=b":           httpx.ErrInvalidFilter,
	}
	for q, want := range bad {
		_, err := httpx.ParseCollection(get("/items?"+q), spec)
		if !errors.Is(err, want) {
			t.Errorf("%s: err %v, want %v", q, err, want)
		}
		// Every one of them is a 400 problem, never a 500.
		w := serveErr(err)
		problemOf(t, w, http.StatusBadRequest)
	}
	for _, q := range []string{"limit=1&limit=2", "a=%zz", "sort=name&sort=created"} {
		if _, err := httpx.ParseCollection(get("/items?"+q), spec); err == nil || httpx.ProblemFor(err).Status != 400 {
			t.Errorf("%s: err %v", q, err)
		}
	}
	// Strict refuses unknown parameters; no cursor codec refuses cursors.
	if _, err := httpx.ParseCollection(get("/items?other=1"), &httpx.CollectionSpec{Strict: true}); !errors.Is(err, httpx.ErrInvalidFilter) {
		t.Fatal("strict")
	}
	if _, err := httpx.ParseCollection(get("/items?cursor="+cur), nil); !errors.Is(err, httpx.ErrInvalidCursor) {
		t.Fatal("cursor without codec")
	}
	if c, _ := httpx.ParseCollection(get("/items"), &httpx.CollectionSpec{MaxLimit: 5}); c.Limit != 5 {
		t.Fatalf("default limit above max: %d", c.Limit)
	}
}

func serveErr(err error) *responseRecorder {
	w := newRecorder()
	httpx.Error(w, get("/"), err)
	return w
}

func TestSetPageHeadersOffset(t *testing.T) {
	cases := []struct {
		target string
		total  int64
		more   bool
		link   string
	}{
		{"/items?limit=10&status=open", 35, false,
			`</items?limit=10&offset=0&status=open>; rel="first", </items?limit=10&offset=10&status=open>; rel="next", </items?limit=10&offset=30&status=open>; rel="last"`},
		{"/items?limit=10&offset=30", 35, false,
			`</items?limit=10&offset=0>; rel="first", </items?limit=10&offset=20>; rel="prev", </items?limit=10&offset=30>; rel="last"`},
		{"/items?limit=10&offset=5", 40, false,
			`</items?limit=10&offset=0>; rel="first", </items?limit=10&offset=0>; rel="prev", </items?limit=10&offset=15>; rel="next", </items?limit=10&offset=30>; rel="last"`},
		{"/items?limit=10", 0, false, `</items?limit=10&offset=0>; rel="first", </items?limit=10&offset=0>; rel="last"`},
		{"/items?limit=10", -1, true, `</items?limit=10&offset=0>; rel="first", </items?limit=10&offset=10>; rel="next"`},
	}
	for _, c := range cases {
		r := get(c.target)
		col, err := httpx.ParseCollection(r, &httpx.CollectionSpec{Filters: map[string][]string{"status": nil}})
		if err != nil {
			t.Fatal(err)
		}
		w := newRecorder()
		httpx.SetPageHeaders(w, r, col, httpx.Page{Total: c.total, HasNext: c.more})
		if got := w.Header().Get("Link"); got != c.link {
			t.Errorf("%s total %d:\n got %s\nwant %s", c.target, c.total, got, c.link)
		}
		tc := w.Header().Get("X-Total-Count")
		if (c.total >= 0) != (tc != "") {
			t.Errorf("X-Total-Count %q for total %d", tc, c.total)
		}
	}
}

func TestSetPageHeadersCursor(t *testing.T) {
	codec := mustCodec(t, testKey)
	cur := codec.EncodeBytes([]byte("p2"))
	r := get("/items?limit=5&cursor=" + cur)
	col, err := httpx.ParseCollection(r, &httpx.CollectionSpec{Cursors: codec})
	if err != nil {
		t.Fatal(err)
	}
	w := newRecorder()
	httpx.SetPageHeaders(w, r, col, httpx.Page{Total: -1, NextCursor: "N3", PrevCursor: "P1"})
	want := `</items?limit=5>; rel="first", </items?cursor=P1&limit=5>; rel="prev", </items?cursor=N3&limit=5>; rel="next"`
	if got := w.Header().Get("Link"); got != want {
		t.Fatalf("got %s", got)
	}
}
