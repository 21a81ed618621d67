package fleet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Forwards are authenticated: HopHeader and FillHeader change how the
// receiving edge serves a request (it computes and caches the result itself
// instead of routing it), so a client that could set them would make every
// edge render a result the fleet computes once, and bypass bounded-load
// spills. Forward signs them, and Inbound strips them from a request that
// does not carry a valid signature, which is then served as a client's.
//
// The signature is HMAC-SHA256 over the method, the request URI, a timestamp
// and the two headers' values, under the receiving edge's hop key:
//
//   - with a fleet key (Config.SecretKey), a key derived from it, the same on
//     every edge: whoever holds the fleet key may join the fleet anyway;
//   - without one (a loopback or Insecure fleet, see Config.Validate), a
//     random key each edge makes at Join and advertises in its gossip
//     metadata: anyone who can reach the gossip port may join such a fleet,
//     but a client who reaches only the HTTP port cannot learn it. A sender
//     signs with the target's key, which it has from the same metadata as
//     the target's HTTP address, so a verifier needs nothing of the sender.
//
// A timestamp older (or newer) than hopMaxSkew fails, so a captured forward
// can be replayed for a minute at most. Considered and rejected: trusting
// the source address of the connection (NAT and containers rewrite it, and
// clients on an edge's own network share it) and mutual TLS between edges
// (a certificate authority to run for what a shared key does).

// FillHeader marks an edge's request that fills its cache miss from the
// key's owner: the receiver serves it from its cache or makes it, never
// asking a third edge. Honoured only on an authenticated forward.
const FillHeader = "X-Mediaedge-Fill"

// AuthHeader carries a forward's signature: "UNIX-SECONDS:BASE64URL-MAC".
const AuthHeader = "X-Mediaedge-Hop-Auth"

// hopMaxSkew is how far a forward's timestamp may be from the receiver's
// clock: the edges' clock skew (NTP keeps it under a second) plus the time
// between signing and the request's arrival (milliseconds), with room.
const hopMaxSkew = 60 * time.Second

// hopKeyLen is the size of a random hop key (a keyless fleet's).
const hopKeyLen = 32

// deriveHopKey is the hop key of a fleet with a secret key: a key of its own
// (domain-separated), so the gossip key is never used for two purposes.
func deriveHopKey(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mediaedge fleet hop authentication v1"))
	return string(m.Sum(nil))
}

// randomHopKey is a keyless fleet edge's hop key, advertised in its metadata.
func randomHopKey() (string, error) {
	b := make([]byte, hopKeyLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hopMAC is the signature of one forward.
func hopMAC(key, method, uri, hop, fill string, ts int64) []byte {
	m := hmac.New(sha256.New, []byte(key))
	// Every field is separated by a byte none of them may contain (header
	// values and request URIs never hold a NUL), so no two requests sign
	// the same bytes.
	for _, s := range []string{method, uri, hop, fill, strconv.FormatInt(ts, 10)} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// sign sets out's AuthHeader for the edge whose hop key is key, or removes
// it when there is no key to sign with (a member that advertises none: an
// older version, which trusts HopHeader as it is). uri is the request's URI
// as the receiving edge will see it: without the path of the target's
// --fleet-http, which only a proxy that strips it can serve.
func sign(out *http.Request, uri, key string, now time.Time) {
	if key == "" {
		out.Header.Del(AuthHeader)
		return
	}
	ts := now.Unix()
	mac := hopMAC(key, out.Method, uri, out.Header.Get(HopHeader), out.Header.Get(FillHeader), ts)
	out.Header.Set(AuthHeader, strconv.FormatInt(ts, 10)+":"+base64.RawURLEncoding.EncodeToString(mac))
}

// verify reports whether r carries a valid signature under key, made
// within hopMaxSkew of now.
func verify(r *http.Request, key string, now time.Time) bool {
	hop := r.Header.Get(HopHeader)
	auth := r.Header.Get(AuthHeader)
	if key == "" || hop == "" || auth == "" {
		return false
	}
	tsText, macText, ok := strings.Cut(auth, ":")
	if !ok {
		return false
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > hopMaxSkew || d < -hopMaxSkew {
		return false
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil {
		return false
	}
	uri := r.RequestURI // what the sender wrote on the request line
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	return hmac.Equal(mac, hopMAC(key, r.Method, uri, hop, r.Header.Get(FillHeader), ts))
}

// internalHeaders are the headers only another edge may set.
var internalHeaders = []string{HopHeader, FillHeader, AuthHeader}

// Inbound checks the fleet headers of a request as it arrives, before
// anything reads them: a forward from another edge (HopHeader with a valid
// signature) is left as it is and reported true; any other request loses
// HopHeader, FillHeader and AuthHeader and is reported false, to be served
// (and routed) as a client's. IsForwarded and FillHeader mean something
// only after it.
func (f *Fleet) Inbound(r *http.Request) bool {
	if r.Header.Get(HopHeader) == "" && r.Header.Get(FillHeader) == "" && r.Header.Get(AuthHeader) == "" {
		return false // a client's request, as nearly all are: no MAC to compute
	}
	if verify(r, f.hopKey, time.Now()) {
		return true
	}
	if f.cfg.Upgrading && r.Header.Get(HopHeader) != "" && r.Header.Get(AuthHeader) == "" {
		// An edge of the version before signatures, during a rolling
		// upgrade: taken as it would take ours. Without this, its
		// forwards and fills would be routed again, and could bounce.
		return true
	}
	f.log.Debug("request with fleet headers but no valid signature; serving it as a client's",
		"hop", r.Header.Get(HopHeader), "remote", r.RemoteAddr, "uri", r.RequestURI)
	for _, h := range internalHeaders {
		r.Header.Del(h)
	}
	return false
}

// keyFor is the hop key a forward to m is signed with.
func (f *Fleet) keyFor(m Member) string {
	if len(f.cfg.SecretKey) > 0 {
		return f.hopKey
	}
	return m.hopKey
}
