package shard

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxTokenLen bounds an encoded Token; longer input is rejected by
// ParseToken.
const MaxTokenLen = 2048

// Token is a read-your-writes session token: for each shard a session
// wrote to, the primary's WAL position (LSN) just after the write. A read
// may go to a replica only once the replica has replayed that position.
// The zero Token is empty (no constraint). A Token is an immutable value;
// With returns a new one. It is not authenticated: a forged token can only
// make its bearer's reads slower (sent to the primary), never stale.
type Token struct{ e []tokenEntry } // sorted by shard

type tokenEntry struct {
	shard string
	lsn   uint64
}

// With returns t with shard's position raised to lsn (positions never go
// backwards).
func (t Token) With(shard string, lsn uint64) Token {
	i, found := slices.BinarySearchFunc(t.e, shard, func(e tokenEntry, s string) int { return strings.Compare(e.shard, s) })
	out := slices.Clone(t.e)
	if found {
		out[i].lsn = max(out[i].lsn, lsn)
	} else {
		out = slices.Insert(out, i, tokenEntry{shard, lsn})
	}
	return Token{out}
}

// LSN returns shard's position in t (0: none).
func (t Token) LSN(shard string) uint64 {
	i, found := slices.BinarySearchFunc(t.e, shard, func(e tokenEntry, s string) int { return strings.Compare(e.shard, s) })
	if !found {
		return 0
	}
	return t.e[i].lsn
}

// Merge returns the per-shard maximum of t and u.
func (t Token) Merge(u Token) Token {
	for _, e := range u.e {
		t = t.With(e.shard, e.lsn)
	}
	return t
}

// IsZero reports whether t holds no position.
func (t Token) IsZero() bool { return len(t.e) == 0 }

// FormatLSN formats a WAL position as PostgreSQL does ("16/B374D848").
func FormatLSN(lsn uint64) string {
	return strconv.FormatUint(lsn>>32, 16) + "/" + strings.ToUpper(strconv.FormatUint(lsn&0xffffffff, 16))
}

// ParseLSN parses PostgreSQL's "hi/lo" hexadecimal WAL position.
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("shard.ParseLSN %q: %w", s, ErrBadArgument)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("shard.ParseLSN %q: %w", s, ErrBadArgument)
	}
	return h<<32 | l, nil
}

// String encodes t as "shard=LSN;shard=LSN" (shard names sorted), safe in
// an HTTP header and a cookie value.
func (t Token) String() string {
	var b strings.Builder
	for i, e := range t.e {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(e.shard)
		b.WriteByte('=')
		b.WriteString(FormatLSN(e.lsn))
	}
	return b.String()
}

func validShardName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ParseToken decodes String's output. The empty string is the zero Token.
// Malformed input (bad names, bad LSNs, duplicates, too long) is an error
// wrapping ErrBadArgument.
func ParseToken(s string) (Token, error) {
	if s == "" {
		return Token{}, nil
	}
	if len(s) > MaxTokenLen {
		return Token{}, fmt.Errorf("shard.ParseToken: %d bytes > %d: %w", len(s), MaxTokenLen, ErrBadArgument)
	}
	var t Token
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		name, lsn, ok := strings.Cut(part, "=")
		if !ok || !validShardName(name) || seen[name] {
			return Token{}, fmt.Errorf("shard.ParseToken: bad entry %q: %w", part, ErrBadArgument)
		}
		seen[name] = true
		v, err := ParseLSN(lsn)
		if err != nil {
			return Token{}, fmt.Errorf("shard.ParseToken: %w", err)
		}
		t = t.With(name, v)
	}
	return t, nil
}
