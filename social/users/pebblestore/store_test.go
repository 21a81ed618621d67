package pebblestore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/users"
	"github.com/mediaedge/mediaedge/social/users/pebblestore"
	"github.com/mediaedge/mediaedge/social/users/userstest"
)

// open gives each case a fresh database in a temp folder.
func open(t *testing.T) userstest.Backend {
	db := socialtest.Pebble(t)
	return userstest.Backend{Store: pebblestore.New(db, pebblestore.DefaultConfig()), Outbox: socialtest.PebbleOutbox(t, db)}
}

func TestConformance(t *testing.T) { userstest.Run(t, open) }

func TestHTTP(t *testing.T) { userstest.RunHTTP(t, open) }

// TestRunSweeper: the handler's sweeper deletes sessions expired by its
// clock. With a cancelled context it sweeps once and returns.
func TestRunSweeper(t *testing.T) {
	b := open(t)
	gen, err := ids.New(7)
	if err != nil {
		t.Fatal(err)
	}
	clock := socialtest.NewClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := users.DefaultConfig()
	cfg.Store, cfg.IDs, cfg.Now, cfg.Hasher = b.Store, gen, clock.Now, userstest.NewCountingHasher()
	h, err := users.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	old := users.Session{TokenHash: []byte("old-old-old-old-old-old-old-old!"), UserID: 1, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	live := users.Session{TokenHash: []byte("live-live-live-live-live-live-li"), UserID: 1, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ctx := context.Background()
	for _, s := range []users.Session{old, live} {
		if err := b.Store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	h.RunSweeper(done, time.Hour)
	if _, err := b.Store.GetSession(ctx, old.TokenHash); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if _, err := b.Store.GetSession(ctx, live.TokenHash); err != nil {
		t.Fatalf("live session: %v", err)
	}
	// The swept session left the user's index too: only the live one is there.
	if n, err := b.Store.DeleteUserSessions(ctx, 1, nil); err != nil || n != 1 {
		t.Fatalf("revoke the user's sessions after the sweep: %d %v, want 1", n, err)
	}
}
