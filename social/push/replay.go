package push

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// errResync is replay's answer when the stream no longer holds every update
// after since: the client must reload its state and take the stream from
// now on.
var errResync = errors.New("push: the updates after since are no longer kept")

// replay emits uid's updates after since, in stream order, from the update
// stream (direct gets by subject: no server-side consumer to create and
// clean up per reconnect; MaxPerUser bounds how many there are).
//
// Which "since" is too old: the stream drops a user's updates in two ways,
// both oldest first. MaxAge (and a recreated stream) moves the stream's
// first sequence, so since+1 below it may have lost some; MaxPerUser drops a
// user's oldest one once they have that many, so when the user is at the
// cap and since is below their oldest kept update, some may be gone. Both
// are checked from one stream-info request. The check errs on the safe
// side: a client whose last-seen update was dropped, and nothing after it,
// is told to resync though it missed nothing.
func (h *Handler) replay(ctx context.Context, uid int64, since uint64, emit func(seq uint64, frame []byte) error) error {
	subj := h.updSubject(uid)
	info, err := h.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return fmt.Errorf("push: stream info for %s: %w", subj, err)
	}
	st := info.State
	if since > st.LastSeq || since+1 < st.FirstSeq {
		return errResync
	}
	count := st.Subjects[subj]
	if count == 0 {
		return nil
	}
	if int64(count) >= h.cfg.MaxPerUser {
		oldest, err := h.stream.GetMsg(ctx, st.FirstSeq, jetstream.WithGetMsgSubject(subj))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return nil // all dropped since the info: the next check sees it
		case err != nil:
			return fmt.Errorf("push: oldest update of %d: %w", uid, err)
		case since < oldest.Sequence:
			return errResync
		}
	}
	for next, n := since+1, 0; n <= int(h.cfg.MaxPerUser); n++ {
		m, err := h.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("push: update of %d after %d: %w", uid, next-1, err)
		}
		if frame, ok := updateFrame(m.Sequence, m.Data); ok {
			if err := emit(m.Sequence, frame); err != nil {
				return err
			}
		}
		next = m.Sequence + 1
	}
	return nil
}
