package idgen

import (
	"errors"
	"fmt"
	"math/bits"
)

// ErrInvalidEncoding is wrapped by every decoding error of DecodeBase62 and
// DecodeBase32.
var ErrInvalidEncoding = errors.New("idgen: invalid encoding")

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base32Alphabet is Douglas Crockford's: no I, L, O or U.
const base32Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var base62Index, base32Index [256]int8

func init() {
	for i := range base62Index {
		base62Index[i] = -1
		base32Index[i] = -1
	}
	for i := 0; i < len(base62Alphabet); i++ {
		base62Index[base62Alphabet[i]] = int8(i)
	}
	for i := 0; i < len(base32Alphabet); i++ {
		c := base32Alphabet[i]
		base32Index[c] = int8(i)
		if c >= 'A' && c <= 'Z' {
			base32Index[c+'a'-'A'] = int8(i)
		}
	}
	// Crockford: I and L read as 1, O as 0, in either case.
	for _, c := range "IiLl" {
		base32Index[c] = 1
	}
	base32Index['O'], base32Index['o'] = 0, 0
}

// EncodeBase62 returns n in base 62 with the digits 0-9, A-Z, a-z: URL-safe,
// at most 11 characters for a uint64, 7 for IDs below 62^7 (3.5 trillion),
// the usual key of a short link. Zero encodes as "0". Negative int64 IDs
// should be converted with uint64 only if that is what the caller means;
// Snowflake and Segment IDs are never negative.
func EncodeBase62(n uint64) string {
	var buf [11]byte
	return string(appendBase(buf[:0], n, 62, base62Alphabet))
}

// AppendBase62 appends the base62 form of n to dst, without allocating when
// dst has room.
func AppendBase62(dst []byte, n uint64) []byte { return appendBase(dst, n, 62, base62Alphabet) }

// EncodeBase32 returns n in Crockford's base 32 (digits 0-9 and A-Z without
// I, L, O, U): case-insensitive and hard to misread aloud, at most 13
// characters for a uint64.
func EncodeBase32(n uint64) string {
	var buf [13]byte
	return string(appendBase(buf[:0], n, 32, base32Alphabet))
}

// AppendBase32 appends the Crockford base32 form of n to dst.
func AppendBase32(dst []byte, n uint64) []byte { return appendBase(dst, n, 32, base32Alphabet) }

func appendBase(dst []byte, n uint64, base uint64, alphabet string) []byte {
	var tmp [13]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = alphabet[n%base]
		n /= base
		if n == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// DecodeBase62 parses a string produced by EncodeBase62. It returns an error
// wrapping ErrInvalidEncoding for an empty string, a character outside the
// alphabet, or a value that overflows uint64. Leading zeros are accepted.
func DecodeBase62(s string) (uint64, error) {
	return decodeBase(s, 62, &base62Index, false, "base62")
}

// DecodeBase32 parses Crockford base32: case-insensitive, with I and L read
// as 1, O as 0, and hyphens ignored (they may group digits for humans). It
// returns an error wrapping ErrInvalidEncoding for an empty string, a
// character outside the alphabet (U included), or overflow.
func DecodeBase32(s string) (uint64, error) {
	return decodeBase(s, 32, &base32Index, true, "base32")
}

func decodeBase(s string, base uint64, index *[256]int8, hyphens bool, name string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty %s string", ErrInvalidEncoding, name)
	}
	var n uint64
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if hyphens && c == '-' {
			continue
		}
		d := index[c]
		if d < 0 {
			return 0, fmt.Errorf("%w: %s string %q has invalid character %q at offset %d", ErrInvalidEncoding, name, truncate(s), c, i)
		}
		hi, lo := bits.Mul64(n, base)
		lo2, carry := bits.Add64(lo, uint64(d), 0)
		if hi != 0 || carry != 0 {
			return 0, fmt.Errorf("%w: %s string %q overflows 64 bits", ErrInvalidEncoding, name, truncate(s))
		}
		n = lo2
		digits++
	}
	if digits == 0 {
		return 0, fmt.Errorf("%w: %s string %q has no digits", ErrInvalidEncoding, name, truncate(s))
	}
	return n, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
