package freeport

import (
	"net"
	"testing"
)

func TestGossipIsFreeForTCPAndUDP(t *testing.T) {
	addr, err := Gossip()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("tcp %s: %v", addr, err)
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("udp %s: %v", addr, err)
	}
	u.Close()
}
