package edge

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestWriteAllMovesTheDeadline: SendTimeout bounds how long a client may
// take no bytes, not the whole answer. A client reading slowly but steadily
// gets all of an answer that takes several times the gap; one that stops
// reading is cut.
func TestWriteAllMovesTheDeadline(t *testing.T) {
	const gap = 300 * time.Millisecond
	pair := func() (*net.TCPConn, *net.TCPConn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close(); sc.Close() })
		client, server := cc.(*net.TCPConn), sc.(*net.TCPConn)
		// Small socket buffers, so the answer cannot sit in the kernel
		// (the reader's stays above loopback's 64 KiB segments: a smaller
		// window would wait on TCP's persist timer, not on the reader).
		_ = client.SetReadBuffer(256 << 10)
		_ = server.SetWriteBuffer(4096)
		return client, server
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 2<<20/16) // 2 MiB

	client, server := pair()
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 32<<10)
		for b.Len() < len(body)+5 {
			n, err := client.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond) // about 3 MB/s at most: well over the gap in all
		}
		got <- b.Bytes()
	}()
	start := time.Now()
	if err := writeAll(server, net.Buffers{[]byte("head:"), body}, gap); err != nil {
		t.Fatalf("steady slow reader cut after %v: %v", time.Since(start), err)
	}
	if b := <-got; !bytes.Equal(b, append([]byte("head:"), body...)) {
		t.Fatalf("the reader got %d bytes, not the answer", len(b))
	}
	t.Logf("answered a steady slow reader in %v with a %v gap", time.Since(start), gap)

	_, server = pair() // a client that never reads
	done := make(chan error, 1)
	go func() { done <- writeAll(server, net.Buffers{body, body, body, body}, gap) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a client that never reads took 8 MiB")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a client that never reads was not cut")
	}
}
