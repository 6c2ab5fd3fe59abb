package shard_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/shard"
)

func TestTokenRoundTrip(t *testing.T) {
	var tok shard.Token
	if !tok.IsZero() || tok.String() != "" {
		t.Fatal("zero token")
	}
	tok = tok.With("db1", 0x16B374D848).With("db0", 5).With("db1", 3)
	if tok.LSN("db1") != 0x16B374D848 || tok.LSN("db0") != 5 || tok.LSN("x") != 0 {
		t.Fatalf("%v", tok)
	}
	s := tok.String()
	if s != "db0=0/5;db1=16/B374D848" {
		t.Fatal(s)
	}
	back, err := shard.ParseToken(s)
	if err != nil || back.String() != s {
		t.Fatal(back, err)
	}
	m := back.Merge(shard.Token{}.With("db0", 9).With("db2", 1))
	if m.String() != "db0=0/9;db1=16/B374D848;db2=0/1" {
		t.Fatal(m)
	}
	for _, bad := range []string{"x", "=0/1", "a=1", "a=0/1;a=0/2", "a b=0/1", "a=0/zz", "a=123456789/0", "a=/1", strings.Repeat("a", 3000)} {
		if _, err := shard.ParseToken(bad); !errors.Is(err, shard.ErrBadArgument) {
			t.Errorf("ParseToken(%.20q) = %v", bad, err)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("db0=0/5;db1=16/B374D848")
	f.Add("a=0/0")
	f.Add(";;=")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := shard.ParseToken(s)
		if err != nil {
			return
		}
		again, err := shard.ParseToken(tok.String())
		if err != nil || again.String() != tok.String() {
			t.Fatalf("round trip of %q: %q %v", s, again.String(), err)
		}
	})
}
