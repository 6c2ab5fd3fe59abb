package httpx

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// ErrInvalidETag is returned (wrapped) for a malformed entity tag or
// entity-tag list (If-Match, If-None-Match).
var ErrInvalidETag = badInput("httpx: invalid entity tag")

// ETag is an entity tag (RFC 9110 §8.8.3). Value is the opaque tag without
// quotes. The zero value is the empty strong tag "".
type ETag struct {
	Value string
	Weak  bool
}

// String returns the tag as it appears on the wire: "v" or W/"v".
func (e ETag) String() string {
	if e.Weak {
		return `W/"` + e.Value + `"`
	}
	return `"` + e.Value + `"`
}

// StrongMatch reports strong equality: both strong and the same value.
func (e ETag) StrongMatch(o ETag) bool { return !e.Weak && !o.Weak && e.Value == o.Value }

// WeakMatch reports weak equality: the same value, whatever the weakness.
func (e ETag) WeakMatch(o ETag) bool { return e.Value == o.Value }

// StrongETag returns a strong tag derived from the content: the first 16
// bytes of its SHA-256, base64url encoded.
func StrongETag(content []byte) ETag {
	sum := sha256.Sum256(content)
	return ETag{Value: base64.RawURLEncoding.EncodeToString(sum[:16])}
}

// WeakETag returns a weak tag with value v (for example a version number).
// v must consist of etagc characters (visible ASCII except '"').
func WeakETag(v string) ETag { return ETag{Value: v, Weak: true} }

func isETagc(c byte) bool { return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80 }

// ParseETag parses one entity tag.
func ParseETag(s string) (ETag, error) {
	e, rest, err := scanETag(strings.TrimSpace(s))
	if err != nil {
		return ETag{}, err
	}
	if rest != "" {
		return ETag{}, inputErrorf(ErrInvalidETag, "trailing %q", rest)
	}
	return e, nil
}

func scanETag(s string) (ETag, string, error) {
	var e ETag
	if strings.HasPrefix(s, "W/") {
		e.Weak, s = true, s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return ETag{}, "", inputErrorf(ErrInvalidETag, "%q is not quoted", s)
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return ETag{}, "", inputErrorf(ErrInvalidETag, "unterminated %q", s)
	}
	v := s[1 : 1+end]
	for i := 0; i < len(v); i++ {
		if !isETagc(v[i]) {
			return ETag{}, "", inputErrorf(ErrInvalidETag, "bad character %q", v[i])
		}
	}
	e.Value = v
	return e, s[2+end:], nil
}

// ETagList is a parsed If-Match or If-None-Match value: either Any ("*") or
// a list of tags.
type ETagList struct {
	Any  bool
	Tags []ETag
}

const maxETags = 128

// ParseETagList parses "*" or a comma-separated list of entity tags (empty
// elements allowed, as RFC 9110 §5.6.1 requires). At most 128 tags.
func ParseETagList(s string) (ETagList, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return ETagList{Any: true}, nil
	}
	var l ETagList
	for s != "" {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		if s[0] == ',' {
			s = s[1:]
			continue
		}
		e, rest, err := scanETag(s)
		if err != nil {
			return ETagList{}, err
		}
		if len(l.Tags) == maxETags {
			return ETagList{}, inputErrorf(ErrInvalidETag, "more than %d tags", maxETags)
		}
		l.Tags = append(l.Tags, e)
		rest = strings.TrimLeft(rest, " \t")
		if rest != "" && rest[0] != ',' {
			return ETagList{}, inputErrorf(ErrInvalidETag, "expected ',' before %q", rest)
		}
		s = rest
	}
	if len(l.Tags) == 0 {
		return ETagList{}, inputErrorf(ErrInvalidETag, "empty list")
	}
	return l, nil
}

// MatchStrong reports whether the list matches current under strong
// comparison (If-Match). "*" matches any existing representation; exists
// false means the resource has none.
func (l ETagList) MatchStrong(current ETag, exists bool) bool {
	if !exists {
		return false
	}
	if l.Any {
		return true
	}
	for _, t := range l.Tags {
		if t.StrongMatch(current) {
			return true
		}
	}
	return false
}

// MatchWeak reports whether the list matches current under weak comparison
// (If-None-Match).
func (l ETagList) MatchWeak(current ETag, exists bool) bool {
	if !exists {
		return false
	}
	if l.Any {
		return true
	}
	for _, t := range l.Tags {
		if t.WeakMatch(current) {
			return true
		}
	}
	return false
}
