package shardhttp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/shardhttp"
)

func TestHeaderAndCookie(t *testing.T) {
	tok := shard.Token{}.With("db0", 42).With("db1", 7)
	rec := httptest.NewRecorder()
	shardhttp.SetHeader(rec.Header(), tok)
	shardhttp.SetCookie(rec, shard.Token{}.With("db0", 50), nil)
	resp := rec.Result()
	got, err := shardhttp.FromResponse(resp)
	if err != nil || got.String() != tok.String() {
		t.Fatal(got, err)
	}
	c := resp.Cookies()[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 300 {
		t.Fatalf("cookie attributes %+v", c)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(shardhttp.Header, tok.String())
	req.AddCookie(c)
	merged, err := shardhttp.FromRequest(req)
	if err != nil || merged.LSN("db0") != 50 || merged.LSN("db1") != 7 {
		t.Fatal(merged, err)
	}
	bad := httptest.NewRequest("GET", "/", nil)
	bad.Header.Set(shardhttp.Header, "db0=zz")
	if _, err := shardhttp.FromRequest(bad); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	empty := httptest.NewRecorder()
	shardhttp.SetHeader(empty.Header(), shard.Token{})
	if empty.Header().Get(shardhttp.Header) != "" {
		t.Fatal("zero token set a header")
	}
}

func ExampleFromRequest() {
	req := httptest.NewRequest("GET", "/orders", nil)
	req.Header.Set(shardhttp.Header, "db0=0/16B3748")
	tok, err := shardhttp.FromRequest(req)
	fmt.Println(shard.FormatLSN(tok.LSN("db0")), err)
	// Output: 0/16B3748 <nil>
}
