package shardhttp

import (
	"net/http"
	"time"

	"github.com/scalekit-go/scalekit/shard"
)

// Header is the HTTP header that carries the token.
const Header = "Scalekit-Shard-Token"

// CookieName is the cookie that carries the token.
const CookieName = "sk_shard_token"

// SetHeader stores tok in h (removing the header for a zero token).
func SetHeader(h http.Header, tok shard.Token) {
	if tok.IsZero() {
		h.Del(Header)
		return
	}
	h.Set(Header, tok.String())
}

// CookieOptions configures SetCookie. Nil means defaults.
type CookieOptions struct {
	// MaxAge of the cookie; 0 means 5 minutes (a token only matters
	// while replicas may still lag).
	MaxAge time.Duration
	// Path of the cookie; "" means "/".
	Path string
	// Insecure drops the Secure attribute (plain-HTTP development only).
	Insecure bool
}

// SetCookie stores tok in a cookie on w: HttpOnly, SameSite=Lax, Secure
// unless opts.Insecure.
func SetCookie(w http.ResponseWriter, tok shard.Token, opts *CookieOptions) {
	var o CookieOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * time.Minute
	}
	if o.Path == "" {
		o.Path = "/"
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: tok.String(), Path: o.Path,
		MaxAge: int(o.MaxAge / time.Second), HttpOnly: true,
		Secure: !o.Insecure, SameSite: http.SameSiteLaxMode,
	})
}

// FromRequest returns the token of r: the merge of the header's and the
// cookie's tokens (either may be absent). A malformed value is an error
// wrapping shard.ErrBadArgument; callers usually answer 400 or ignore it
// and read from primaries.
func FromRequest(r *http.Request) (shard.Token, error) {
	tok, err := shard.ParseToken(r.Header.Get(Header))
	if err != nil {
		return shard.Token{}, err
	}
	if c, err := r.Cookie(CookieName); err == nil {
		ct, err := shard.ParseToken(c.Value)
		if err != nil {
			return shard.Token{}, err
		}
		tok = tok.Merge(ct)
	}
	return tok, nil
}

// FromResponse returns the token a server set in resp's header, for
// clients that forward it to their next request.
func FromResponse(resp *http.Response) (shard.Token, error) {
	return shard.ParseToken(resp.Header.Get(Header))
}
