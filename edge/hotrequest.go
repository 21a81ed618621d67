package edge

import (
	"bytes"

	"golang.org/x/net/http/httpguts"
)

// hotVerdict is what the hot loop does with the bytes a connection sent.
type hotVerdict int

const (
	hotMore    hotVerdict = iota // the header is not complete yet: read more
	hotHandOff                   // not a request the loop answers: net/http takes the connection
	hotAnswer                    // a plain GET the loop may answer from memory
)

// maxHotTarget bounds the request targets the loop looks up.
const maxHotTarget = 2048

// parseHotRequest reads one request header from buf, the bytes received so
// far. hotAnswer comes with the request target and the header's length n
// (where the next request starts).
//
// Anything the loop does not answer goes to net/http untouched, which
// parses it from the first byte and answers or refuses it as it always
// has; so this parser must be sure of what it accepts and never has to be
// of what it refuses. It accepts only:
//
//   - "GET /m/... HTTP/1.1", the target printable ASCII without spaces;
//   - every line ending in CRLF: a bare LF, a lone CR or a folded line
//     (obs-fold) hands off;
//   - header names that are tokens and values without control characters,
//     as net/http checks them (httpguts), and exactly one valid Host;
//   - no header that gives the request a body or changes its answer:
//     Content-Length, Transfer-Encoding, Range, any If-*, Expect, Upgrade,
//     TE, Trailer, and Connection other than keep-alive. A GET without
//     Content-Length or Transfer-Encoding has no body (RFC 9112 6.3), so
//     the next request starts right after the blank line, as net/http
//     reads it: no request can be smuggled across the two parsers.
//
// The target is then only answered if the hot tier has it as an alias,
// which net/http recorded after parsing, routing and checking that same
// target (see hotFirst): a target net/http would refuse is never there.
func parseHotRequest(buf []byte) (v hotVerdict, target []byte, n int) {
	// Anything else (uploads, HEAD, a TLS hello) is handed off at its
	// first bytes, not after its header.
	const start = "GET /m/"
	if k := min(len(buf), len(start)); !bytes.Equal(buf[:k], []byte(start[:k])) {
		return hotHandOff, nil, 0
	}
	line, rest, v := hotLine(buf)
	if v != hotAnswer {
		return v, nil, 0
	}
	const method, proto = "GET ", " HTTP/1.1"
	if !bytes.HasPrefix(line, []byte(method+"/m/")) || !bytes.HasSuffix(line, []byte(proto)) {
		return hotHandOff, nil, 0
	}
	target = line[len(method) : len(line)-len(proto)]
	if len(target) > maxHotTarget {
		return hotHandOff, nil, 0
	}
	for _, b := range target {
		if b <= ' ' || b >= 0x7f {
			return hotHandOff, nil, 0
		}
	}
	hosts := 0
	for {
		line, rest, v = hotLine(rest)
		if v != hotAnswer {
			return v, nil, 0
		}
		if len(line) == 0 { // the blank line: the header is complete
			break
		}
		name, value, ok := hotField(line)
		if !ok {
			return hotHandOff, nil, 0
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			hosts++
			if !httpguts.ValidHostHeader(string(value)) {
				return hotHandOff, nil, 0
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if !bytes.EqualFold(value, []byte("keep-alive")) {
				return hotHandOff, nil, 0
			}
		case len(name) > 3 && bytes.EqualFold(name[:3], []byte("If-")),
			bytes.EqualFold(name, []byte("Content-Length")),
			bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Range")),
			bytes.EqualFold(name, []byte("Expect")),
			bytes.EqualFold(name, []byte("Upgrade")),
			bytes.EqualFold(name, []byte("TE")),
			bytes.EqualFold(name, []byte("Trailer")):
			return hotHandOff, nil, 0
		}
	}
	if hosts != 1 {
		return hotHandOff, nil, 0
	}
	return hotAnswer, target, len(buf) - len(rest)
}

// hotLine splits the first CRLF-terminated line off buf: hotAnswer with the
// line (without CRLF) and the rest, hotMore when no LF has arrived yet,
// hotHandOff for a line ending in a bare LF or holding a CR anywhere else.
func hotLine(buf []byte) (line, rest []byte, v hotVerdict) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		if bytes.IndexByte(buf, '\r') >= 0 && buf[len(buf)-1] != '\r' {
			return nil, nil, hotHandOff // a CR not followed by LF
		}
		return nil, nil, hotMore
	}
	if i == 0 || buf[i-1] != '\r' {
		return nil, nil, hotHandOff
	}
	line = buf[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, hotHandOff
	}
	return line, buf[i+1:], hotAnswer
}

// hotField splits a header line into its name and its value without the
// surrounding spaces, checked as net/http checks them; ok=false for a
// folded line, a name that is not a token or a value with a control byte.
func hotField(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, false // no name (or a folded line's leading space: not a token)
	}
	name = line[:colon]
	for _, b := range name {
		if !httpguts.IsTokenRune(rune(b)) {
			return nil, nil, false
		}
	}
	value = bytes.Trim(line[colon+1:], " \t")
	for _, b := range value {
		if (b < ' ' && b != '\t') || b == 0x7f {
			return nil, nil, false
		}
	}
	return name, value, true
}
