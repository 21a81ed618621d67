package push

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// update is one live update as the dispatcher hands it to every socket of
// its user: immutable and shared, so a user's ten devices cost one frame.
type update struct {
	seq   uint64 // its sequence in the update stream; 0 for a signal (Handler.Signal)
	prev  uint64 // the user's previous sequence (0: none), for gap checks
	frame []byte // the JSON frame as sent
}

// hub maps the users connected to this process to their sockets. The first
// socket of a user subscribes to prefix.live.<uid> on the shared channel;
// the last one to leave unsubscribes. NATS then routes a user's updates
// only to the edges that hold one of their sockets.
type hub struct {
	nc *nats.Conn
	ch chan *nats.Msg // every live subscription delivers here

	mu    sync.Mutex           // guards users
	users map[int64]*userConns // connected users

	// Drops NATS reported on live subscriptions, for the repair loop. Its
	// own lock: NATS's callback must not wait for a stalled dispatcher.
	dmu     sync.Mutex         // guards dropped and dropAll
	dropped map[int64]struct{} // users whose subscription dropped updates
	dropAll bool               // a drop on a subscription it could not name: every user
	repair  chan struct{}      // cap 1: something was noted since the repair loop last looked
}

type userConns struct {
	sub   *nats.Subscription
	conns map[*conn]struct{}
}

func newHub(nc *nats.Conn, buffer int) *hub {
	return &hub{nc: nc, ch: make(chan *nats.Msg, buffer), users: make(map[int64]*userConns),
		dropped: make(map[int64]struct{}), repair: make(chan struct{}, 1)}
}

// add registers c; from then on its user's updates are queued for it.
func (hb *hub) add(c *conn, subject string) error {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	u := hb.users[c.uid]
	if u == nil {
		// A channel subscription costs no goroutine: the connection's read
		// loop puts messages on hb.ch. It is flushed by remove, not here:
		// updates stored before the interest reached the server are read
		// from the stream by the hello replay.
		sub, err := hb.nc.ChanSubscribe(subject, hb.ch)
		if err != nil {
			return fmt.Errorf("push: subscribe %s: %w", subject, err)
		}
		u = &userConns{sub: sub, conns: make(map[*conn]struct{}, 1)}
		hb.users[c.uid] = u
	}
	u.conns[c] = struct{}{}
	return nil
}

// remove drops c, and its user's subscription with its last socket.
func (hb *hub) remove(c *conn) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	u := hb.users[c.uid]
	if u == nil {
		return
	}
	delete(u.conns, c)
	if len(u.conns) == 0 {
		_ = u.sub.Unsubscribe() // fails only on a closed connection, which has no subscriptions left
		delete(hb.users, c.uid)
	}
}

// noteDrop records that NATS dropped messages of sub (a slow consumer: hb.ch
// was full) for the repair loop, and reports whether sub is a live
// subscription (prefix is SubjectPrefix.live.); nil sub means any.
func (hb *hub) noteDrop(sub *nats.Subscription, prefix string) bool {
	hb.dmu.Lock()
	if sub == nil {
		hb.dropAll = true
	} else {
		rest, ok := strings.CutPrefix(sub.Subject, prefix)
		uid, err := strconv.ParseInt(rest, 10, 64)
		if !ok || err != nil {
			hb.dmu.Unlock()
			return false
		}
		hb.dropped[uid] = struct{}{}
	}
	hb.dmu.Unlock()
	select {
	case hb.repair <- struct{}{}:
	default:
	}
	return true
}

// resubscribeDropped takes the users noted by noteDrop and gives each still
// connected a new subscription in place of the one that dropped, and
// returns them. Why a new one: NATS reports a slow consumer once, when a
// subscription starts dropping, and again only after a message got
// through; a user whose every update is dropped would be reported once
// and then lose updates silently. A fresh subscription is reported anew.
// While both exist a message may arrive twice; sockets drop an update at
// or below the last seq they sent.
func (hb *hub) resubscribeDropped() []int64 {
	hb.dmu.Lock()
	noted, all := hb.dropped, hb.dropAll
	hb.dropped, hb.dropAll = make(map[int64]struct{}), false
	hb.dmu.Unlock()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if all {
		for uid := range hb.users {
			noted[uid] = struct{}{}
		}
	}
	out := make([]int64, 0, len(noted))
	for uid := range noted {
		u := hb.users[uid]
		if u == nil {
			continue // gone: nothing to catch up
		}
		if sub, err := hb.nc.ChanSubscribe(u.sub.Subject, hb.ch); err == nil {
			_ = u.sub.Unsubscribe()
			u.sub = sub
		} // else the old one stays: the sockets still catch up now
		out = append(out, uid)
	}
	return out
}

// catchUp has every socket of uids read its user's stream from the last
// update it sent (conn.run).
func (hb *hub) catchUp(uids []int64) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, uid := range uids {
		if uc := hb.users[uid]; uc != nil {
			for c := range uc.conns {
				select {
				case c.catchup <- struct{}{}:
				default: // one pending already: it reads up to the stream's end
				}
			}
		}
	}
}

// counts returns the connected users and sockets.
func (hb *hub) counts() (users, sockets int) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, u := range hb.users {
		sockets += len(u.conns)
	}
	return len(hb.users), sockets
}

// dispatch delivers one message of a live subscription: a presence probe is
// answered, an update is queued on every socket of its user without ever
// blocking (a full queue disconnects that socket, not the others).
func (hb *hub) dispatch(m *nats.Msg, prefix string) {
	uid, err := strconv.ParseInt(strings.TrimPrefix(m.Subject, prefix), 10, 64)
	if err != nil {
		return
	}
	if m.Header.Get(legacyCloseHeader) != "" {
		// An order to close from an edge of the version before
		// revocations had their own subject: never taken for an update,
		// and no longer obeyed (it cannot say which login ended).
		return
	}
	if m.Header.Get(signalHeader) != "" {
		hb.offerAll(uid, &update{frame: m.Data})
		return
	}
	seqHdr := m.Header.Get(jetstream.SequenceHeader)
	if seqHdr == "" {
		if m.Reply != "" { // presence probe
			hb.mu.Lock()
			here := hb.users[uid] != nil
			hb.mu.Unlock()
			if here {
				_ = m.Respond(nil) // the prober times out and assumes online
			}
		}
		return
	}
	seq, err1 := strconv.ParseUint(seqHdr, 10, 64)
	prev, err2 := strconv.ParseUint(m.Header.Get(jetstream.LastSequenceHeader), 10, 64)
	if err1 != nil || err2 != nil || seq == 0 {
		return
	}
	frame, ok := updateFrame(seq, m.Data)
	if !ok {
		return
	}
	hb.offerAll(uid, &update{seq: seq, prev: prev, frame: frame})
}

// offerAll queues u on every socket of uid on this process.
func (hb *hub) offerAll(uid int64, u *update) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if uc := hb.users[uid]; uc != nil {
		for c := range uc.conns {
			c.offer(u)
		}
	}
}

// closeMatching ends the sockets of uid on this process whose login
// matches (a revocation's) with cause. It only cancels: each socket's
// writer sees its context end, leaves the hub and sends the close frame
// (conn.finish), as for any other cause.
func (hb *hub) closeMatching(uid int64, match func(session uint64) bool, cause error) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if uc := hb.users[uid]; uc != nil {
		for c := range uc.conns {
			if match(c.session) {
				c.cancel(cause)
			}
		}
	}
}

// updateFrame splices type and seq into a stored update body (a JSON
// object): {"type":"update","seq":N,"kind":...}. No decode, no re-encode.
func updateFrame(seq uint64, body []byte) ([]byte, bool) {
	if len(body) < 2 || body[0] != '{' {
		return nil, false
	}
	f := make([]byte, 0, len(body)+40)
	f = append(f, `{"type":"update","seq":`...)
	f = strconv.AppendUint(f, seq, 10)
	if len(body) > 2 {
		f = append(f, ',')
	}
	return append(f, body[1:]...), true
}
