package users

import (
	"net"
	"net/http"
)

// clientAddr is the default Config.ClientAddr: RemoteAddr's host, an IPv6
// address cut to its /64 (one subscriber usually has a whole /64, so
// limiting single addresses would give an attacker 2^64 of them).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// accountKey is the per-account limiter key of a login name as typed:
// normalised like usernames, and bounded, so that names that cannot exist
// are limited too (a limit only on real accounts would tell which exist).
func accountKey(name string) string {
	k := NormaliseUsername(name)
	if len(k) > 64 {
		k = k[:64]
	}
	return k
}
