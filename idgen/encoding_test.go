package idgen

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestBase62Vectors(t *testing.T) {
	for _, c := range []struct {
		n uint64
		s string
	}{
		{0, "0"}, {9, "9"}, {10, "A"}, {35, "Z"}, {36, "a"}, {61, "z"}, {62, "10"},
		{3843, "zz"}, {3844, "100"}, {math.MaxUint64, "LygHa16AHYF"},
	} {
		if got := EncodeBase62(c.n); got != c.s {
			t.Errorf("EncodeBase62(%d) = %q, want %q", c.n, got, c.s)
		}
		if got, err := DecodeBase62(c.s); err != nil || got != c.n {
			t.Errorf("DecodeBase62(%q) = %d, %v; want %d", c.s, got, err, c.n)
		}
	}
	if got := string(AppendBase62([]byte("id:"), 62)); got != "id:10" {
		t.Errorf("AppendBase62 = %q", got)
	}
}

func TestBase32Vectors(t *testing.T) {
	for _, c := range []struct {
		n uint64
		s string
	}{
		{0, "0"}, {10, "A"}, {17, "H"}, {18, "J"}, {31, "Z"}, {32, "10"},
		{1234567890, "14SC0PJ"}, {math.MaxUint64, "FZZZZZZZZZZZZ"},
	} {
		if got := EncodeBase32(c.n); got != c.s {
			t.Errorf("EncodeBase32(%d) = %q, want %q", c.n, got, c.s)
		}
		if got, err := DecodeBase32(c.s); err != nil || got != c.n {
			t.Errorf("DecodeBase32(%q) = %d, %v; want %d", c.s, got, err, c.n)
		}
	}
	// Crockford's reading rules: case-insensitive, I/L → 1, O → 0, hyphens ignored.
	for in, want := range map[string]uint64{"14sc0pj": 1234567890, "14SCoPJ": 1234567890, "I": 1, "l": 1, "o": 0, "14-SC0-PJ": 1234567890} {
		if got, err := DecodeBase32(in); err != nil || got != want {
			t.Errorf("DecodeBase32(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if got := string(AppendBase32(nil, 32)); got != "10" {
		t.Errorf("AppendBase32 = %q", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		decode func(string) (uint64, error)
		in     string
		msg    string
	}{
		{"base62 empty", DecodeBase62, "", "empty"},
		{"base62 bad char", DecodeBase62, "ab-c", "invalid character '-'"},
		{"base62 space", DecodeBase62, " 1", "invalid character"},
		{"base62 non-ASCII", DecodeBase62, "é", "invalid character"},
		{"base62 overflow", DecodeBase62, "LygHa16AHYG", "overflows"},
		{"base62 long overflow", DecodeBase62, strings.Repeat("z", 100), "overflows"},
		{"base32 empty", DecodeBase32, "", "empty"},
		{"base32 only hyphens", DecodeBase32, "---", "no digits"},
		{"base32 U", DecodeBase32, "U", "invalid character"},
		{"base32 overflow", DecodeBase32, "G000000000000", "overflows"},
	} {
		_, err := c.decode(c.in)
		if !errors.Is(err, ErrInvalidEncoding) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want ErrInvalidEncoding mentioning %q", c.name, err, c.msg)
		}
	}
	// Leading zeros decode to the same value.
	if n, err := DecodeBase62("00010"); err != nil || n != 62 {
		t.Errorf("DecodeBase62 with leading zeros = %d, %v", n, err)
	}
}

// Encoding preserves order for equal-length strings, so base62 short keys
// of IDs below 62^7 sort like the IDs once left-padded.
func TestBase62OrderWithinLength(t *testing.T) {
	prev := EncodeBase62(62 * 62)
	for n := uint64(62*62 + 1); n < 62*62*62; n += 97 {
		s := EncodeBase62(n)
		if len(s) == len(prev) && s <= prev {
			t.Fatalf("EncodeBase62(%d) = %q sorts before %q", n, s, prev)
		}
		prev = s
	}
}

func FuzzBase62(f *testing.F) {
	for _, s := range []string{"", "0", "zz", "LygHa16AHYF", "LygHa16AHYG", "a-b", "\xff"} {
		f.Add(s, uint64(len(s))*7919)
	}
	f.Fuzz(func(t *testing.T, s string, n uint64) {
		if got, err := DecodeBase62(EncodeBase62(n)); err != nil || got != n {
			t.Fatalf("round trip of %d = %d, %v", n, got, err)
		}
		v, err := DecodeBase62(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidEncoding) {
				t.Fatalf("DecodeBase62(%q) error %v does not wrap ErrInvalidEncoding", s, err)
			}
			return
		}
		// A valid string re-encodes to itself minus leading zeros.
		if want := strings.TrimLeft(s, "0"); EncodeBase62(v) != want && !(want == "" && v == 0) {
			t.Fatalf("DecodeBase62(%q) = %d, which encodes as %q", s, v, EncodeBase62(v))
		}
	})
}

func FuzzBase32(f *testing.F) {
	for _, s := range []string{"", "0", "14-SC0-PJ", "FZZZZZZZZZZZZ", "G000000000000", "iLoU", "\x00"} {
		f.Add(s, uint64(len(s))*104729)
	}
	f.Fuzz(func(t *testing.T, s string, n uint64) {
		if got, err := DecodeBase32(EncodeBase32(n)); err != nil || got != n {
			t.Fatalf("round trip of %d = %d, %v", n, got, err)
		}
		v, err := DecodeBase32(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidEncoding) {
				t.Fatalf("DecodeBase32(%q) error %v does not wrap ErrInvalidEncoding", s, err)
			}
			return
		}
		if got, err := DecodeBase32(EncodeBase32(v)); err != nil || got != v {
			t.Fatalf("canonical form of %q does not round trip: %d, %v", s, got, err)
		}
	})
}
