package edge

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

const hotGET = "GET /m/abc?w=40 HTTP/1.1\r\nHost: cdn.example\r\nUser-Agent: t\r\n\r\n"

func TestParseHotRequest(t *testing.T) {
	answer := []struct{ name, req, target string }{
		{"plain", hotGET, "/m/abc?w=40"},
		{"keep-alive and odd case", "GET /m/x HTTP/1.1\r\nhOsT: a:8080\r\nconnection: Keep-Alive\r\nAccept:  */* \t\r\n\r\n", "/m/x"},
		{"empty value", "GET /m/x HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", "/m/x"},
		{"obs-text value", "GET /m/x HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n", "/m/x"},
	}
	for _, c := range answer {
		v, target, n := parseHotRequest([]byte(c.req + "GET /m/next"))
		if v != hotAnswer || string(target) != c.target || n != len(c.req) {
			t.Errorf("%s: %v %q %d, want answer %q %d", c.name, v, target, n, c.target, len(c.req))
		}
	}
	more := []string{"", "G", "GET /m/abc HTTP/1.1\r", "GET /m/abc HTTP/1.1\r\nHost: a\r\n", "GET /m/abc HTTP/1.1\r\nHost: a\r\n\r"}
	for _, req := range more {
		if v, _, _ := parseHotRequest([]byte(req)); v != hotMore {
			t.Errorf("%q: %v, want more", req, v)
		}
	}
	handOff := map[string]string{
		"HEAD":                 "HEAD /m/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST":                 "POST /m/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"not media":            "GET /files/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"absolute form":        "GET http://a/m/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"HTTP/1.0":             "GET /m/x HTTP/1.0\r\nHost: a\r\n\r\n",
		"space in target":      "GET /m/x y HTTP/1.1\r\nHost: a\r\n\r\n",
		"control in target":    "GET /m/x\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
		"non-ASCII target":     "GET /m/\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
		"bare LF":              "GET /m/x HTTP/1.1\nHost: a\n\n",
		"bare LF later":        "GET /m/x HTTP/1.1\r\nHost: a\n\r\n",
		"lone CR":              "GET /m/x HTTP/1.1\r\nHost: a\rb\r\n\r\n",
		"lone CR, incomplete":  "GET /m/x HTTP/1.1\r\nHost: a\rb",
		"no Host":              "GET /m/x HTTP/1.1\r\nAccept: */*\r\n\r\n",
		"two Hosts":            "GET /m/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"bad Host":             "GET /m/x HTTP/1.1\r\nHost: a b\r\n\r\n",
		"Content-Length":       "GET /m/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"Content-Length 0":     "GET /m/x HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n",
		"Transfer-Encoding":    "GET /m/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"Range":                "GET /m/x HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n",
		"If-None-Match":        "GET /m/x HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n",
		"if-modified-since":    "GET /m/x HTTP/1.1\r\nHost: a\r\nif-modified-since: x\r\n\r\n",
		"Expect":               "GET /m/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
		"Upgrade":              "GET /m/x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
		"Connection: close":    "GET /m/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"TE":                   "GET /m/x HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n",
		"folded line":          "GET /m/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
		"space before colon":   "GET /m/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
		"no colon":             "GET /m/x HTTP/1.1\r\nHost: a\r\nbroken\r\n\r\n",
		"control in value":     "GET /m/x HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
		"two spaces in line":   "GET  /m/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"TLS client hello":     "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"PATCH, first bytes":   "PAT",
		"media HEAD, early":    "HEAD /m/",
		"HTTP/2 preface":       "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"target over the size": "GET /m/" + strings.Repeat("a", maxHotTarget) + " HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	for name, req := range handOff {
		if v, _, _ := parseHotRequest([]byte(req)); v != hotHandOff {
			t.Errorf("%s: %v, want hand-off", name, v)
		}
	}
}

// FuzzParseHotRequest holds the parser to its one promise: whatever it
// answers, net/http reads the same way (a GET of the same target, no body,
// no validator, a request its server accepts) and ends at the same byte,
// so the next request on the connection is the same for both.
func FuzzParseHotRequest(f *testing.F) {
	f.Add([]byte(hotGET))
	f.Add([]byte("GET /m/x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"))
	f.Add([]byte("GET /m/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("GET /m/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("GET /m/x HTTP/1.1\nHost: a\n\n"))
	f.Add([]byte("GET /m/%zz HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, target, n := parseHotRequest(data)
		if v != hotAnswer {
			return
		}
		const next = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
		br := bufio.NewReader(bytes.NewReader(append(bytes.Clone(data[:n]), next...)))
		req, err := http.ReadRequest(br)
		if err != nil {
			// A target net/http cannot parse is never an alias (aliases are
			// targets net/http served), so answering nothing for it is safe;
			// anything else is a disagreement.
			if !strings.Contains(err.Error(), "invalid URI") && !strings.Contains(err.Error(), "invalid URL") {
				t.Fatalf("answered %q, net/http: %v", data[:n], err)
			}
			return
		}
		if req.Method != http.MethodGet || req.RequestURI != string(target) || req.ContentLength != 0 ||
			len(req.TransferEncoding) != 0 || req.Close || conditional(req) || req.ProtoMinor != 1 {
			t.Fatalf("answered %q: net/http reads %s %q, length %d, TE %v, close %v", data[:n], req.Method, req.RequestURI, req.ContentLength, req.TransferEncoding, req.Close)
		}
		// ReadRequest drops the Host lines; the server checks them first.
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data[:n])))
		_, _ = tp.ReadLine()
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("answered %q: textproto: %v", data[:n], err)
		}
		if hosts := hdr["Host"]; len(hosts) != 1 || !httpguts.ValidHostHeader(hosts[0]) {
			t.Fatalf("answered %q: net/http's server refuses its Host %q", data[:n], hosts)
		}
		for k, vs := range hdr {
			for _, v := range vs {
				if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("answered %q: net/http's server refuses header %q: %q", data[:n], k, v)
				}
			}
		}
		if after, err := http.ReadRequest(br); err != nil || after.RequestURI != "/next" {
			t.Fatalf("answered %q (%d bytes): the next request does not start where net/http's does (%v)", data[:n], n, err)
		}
	})
}
