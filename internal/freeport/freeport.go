// Package freeport finds loopback ports for the servers tests and
// benchmarks start.
package freeport

import (
	"errors"
	"net"
	"strconv"
)

// Gossip is a 127.0.0.1 address whose port is free for both TCP and UDP, as
// memberlist binds both on one port (--fleet-bind). A port is only known
// free at the moment it is probed; callers bind it soon after.
func Gossip() (string, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr, nil
		}
	}
	return "", errors.New("freeport: no port free for both TCP and UDP in 50 tries")
}
