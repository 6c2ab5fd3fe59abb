package httpx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidCursor is returned (wrapped) for a pagination cursor that is
// malformed, was not issued by this server's key, or does not decode into
// the target. It maps to 400.
var ErrInvalidCursor = badInput("httpx: invalid cursor")

// maxCursorLen bounds an accepted cursor, in characters.
const maxCursorLen = 2048

// cursorMACLen is how many bytes of the HMAC-SHA256 a cursor carries.
const cursorMACLen = 16

// CursorCodec turns pagination state (for example the sort key and ID of
// the last row of a page) into an opaque, URL-safe cursor and back. A
// cursor is the payload followed by a truncated HMAC-SHA256 under the
// codec's key, base64url encoded: clients cannot forge or edit one, and a
// tampered or foreign cursor is rejected with ErrInvalidCursor. The payload
// is signed, not encrypted; do not put secrets in it.
//
// Keys rotate: the first key signs, every key verifies. A CursorCodec is
// immutable and safe for concurrent use; create one with NewCursorCodec.
type CursorCodec struct {
	keys [][]byte
}

// NewCursorCodec returns a codec signing with keys[0] and accepting
// cursors signed by any of keys. Each key must be at least 16 bytes.
func NewCursorCodec(keys ...[]byte) (*CursorCodec, error) {
	if len(keys) == 0 {
		return nil, errors.New("httpx: cursor codec needs a key")
	}
	c := &CursorCodec{}
	for i, k := range keys {
		if len(k) < 16 {
			return nil, fmt.Errorf("httpx: cursor key %d is %d bytes, want at least 16", i, len(k))
		}
		c.keys = append(c.keys, append([]byte(nil), k...))
	}
	return c, nil
}

func cursorMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("httpx-cursor\x00"))
	m.Write(payload)
	return m.Sum(nil)[:cursorMACLen]
}

// EncodeBytes returns the cursor of payload.
func (c *CursorCodec) EncodeBytes(payload []byte) string {
	buf := make([]byte, 0, len(payload)+cursorMACLen)
	buf = append(buf, payload...)
	buf = append(buf, cursorMAC(c.keys[0], payload)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// DecodeBytes verifies cursor and returns its payload.
func (c *CursorCodec) DecodeBytes(cursor string) ([]byte, error) {
	if cursor == "" {
		return nil, inputErrorf(ErrInvalidCursor, "empty")
	}
	if len(cursor) > maxCursorLen {
		return nil, inputErrorf(ErrInvalidCursor, "longer than %d characters", maxCursorLen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < cursorMACLen {
		return nil, inputErrorf(ErrInvalidCursor, "not a cursor issued by this server")
	}
	payload, mac := raw[:len(raw)-cursorMACLen], raw[len(raw)-cursorMACLen:]
	for _, k := range c.keys {
		if hmac.Equal(mac, cursorMAC(k, payload)) {
			return payload, nil
		}
	}
	return nil, inputErrorf(ErrInvalidCursor, "signature mismatch")
}

// Encode returns the cursor of v encoded as JSON.
func (c *CursorCodec) Encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("httpx: encode cursor: %w", err)
	}
	return c.EncodeBytes(b), nil
}

// Decode verifies cursor and decodes its JSON payload into v. Every
// failure wraps ErrInvalidCursor.
func (c *CursorCodec) Decode(cursor string, v any) error {
	b, err := c.DecodeBytes(cursor)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return inputErrorf(ErrInvalidCursor, "%v", err)
	}
	return nil
}
