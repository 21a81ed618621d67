// Package httpbody reads request bodies the way nginx and Apache guard them:
// a deadline on the gap between two reads (nginx's client_body_timeout, pushed
// forward as bytes arrive, so a slow but live client keeps going and a
// stalled one is cut) and a minimum rate over a window (Apache
// mod_reqtimeout's minrate), so a client that trickles one byte a second,
// which a gap deadline alone never cuts, cannot hold a connection, a
// goroutine and an upload lock for hours.
//
// Both the tus handler and the one-shot upload read their bodies through a
// Reader; Guard is the edge's middleware side of the same rule for routes
// that never read their body (see edge/writer.go).
package httpbody
