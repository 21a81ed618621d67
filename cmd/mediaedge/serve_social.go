package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/diskio"
	"github.com/mediaedge/mediaedge/social/chat"
	chatcassandra "github.com/mediaedge/mediaedge/social/chat/cassandrastore"
	chatpebble "github.com/mediaedge/mediaedge/social/chat/pebblestore"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/push"
	"github.com/mediaedge/mediaedge/social/ratelimit"
	"github.com/mediaedge/mediaedge/social/users"
	"github.com/mediaedge/mediaedge/social/users/cassandrastore"
	"github.com/mediaedge/mediaedge/social/users/pebblestore"
)

// social is the social tier as the composition root builds it: the users
// service over the same store as media (Cassandra's keyspace, or a Pebble
// database beside the embedded chunk store).
type social struct {
	users   *users.Handler
	push    *push.Handler
	chat    *chat.Service
	deliver *events.Consumer // chat's ordered delivery
	content *content         // posts, feed, stories, notifications
	bus     *events.Bus
	relay   *events.Relay
	handler http.Handler // every /v1 route
	db      *pebble.DB   // embedded only; nil on Cassandra
	ids     *ids.Generator
	cancel  context.CancelFunc
	done    chan struct{}
}

// buildSocial opens the social store on the media store's backend.
func buildSocial(cfg serveConfig, backend chunkstore.Backend, media *chunkstore.Store, log *slog.Logger) (*social, error) {
	gen, err := ids.New(cfg.NodeID)
	if err != nil {
		return nil, fmt.Errorf("--node-id: %w", err)
	}
	so := &social{ids: gen}
	var store users.Store
	var chats chat.Store
	var cs contentStores
	var outbox events.Outbox
	switch b := backend.(type) {
	case *cassandra.Backend:
		s, err := cassandrastore.New(b.Session(), cassandrastore.DefaultConfig())
		if err != nil {
			return nil, fmt.Errorf("social store: %w", err)
		}
		store = s
		if chats, err = chatcassandra.New(b.Session(), chatcassandra.DefaultConfig()); err != nil {
			return nil, fmt.Errorf("chat store: %w", err)
		}
		if cs, err = cassandraContent(b.Session()); err != nil {
			return nil, err
		}
		if outbox, err = events.NewCassandraOutbox(b.Session()); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
	default:
		// diskio.FS: each synced commit (a chat send, a sign-up) must not
		// hold the scheduler's P through its WAL sync (diskio's doc).
		db, err := pebble.Open(filepath.Join(cfg.Data, "social"), &pebble.Options{FS: diskio.FS(vfs.Default), Logger: quietPebble{}})
		if err != nil {
			return nil, fmt.Errorf("social store: %w", err)
		}
		so.db = db
		store = pebblestore.New(db, pebblestore.DefaultConfig())
		chats = chatpebble.New(db, chatpebble.DefaultConfig())
		cs = pebbleContent(db)
		outbox = events.NewPebbleOutbox(db)
	}
	// The event backbone: JetStream (embedded under DATA/nats, or the
	// cluster at --nats-url) and the relay that publishes the outbox the
	// services write in their data's batches.
	ecfg := cfg.Events
	ecfg.Dir = filepath.Join(cfg.Data, "nats")
	ecfg.Logger = log.With("component", "events")
	bus, err := events.Open(context.Background(), ecfg)
	if err != nil {
		so.close()
		return nil, fmt.Errorf("events: %w", err)
	}
	so.bus = bus
	if so.relay, err = events.StartRelay(bus, outbox); err != nil {
		so.close()
		return nil, fmt.Errorf("events relay: %w", err)
	}
	pcfg := push.DefaultConfig()
	ucfg := users.DefaultConfig()
	ucfg.Store, ucfg.IDs = store, gen
	// Revoking a user's sessions closes their sockets on every edge. The
	// gateway authenticates with h, so it is built after h: closes go
	// through the bus, on the gateway's subjects.
	ucfg.Sockets = push.NewCloser(bus, pcfg.SubjectPrefix)
	ucfg.Notify = so.relay.Notify
	ucfg.Logger = log.With("component", "users")
	ucfg.MediaExists = func(ctx context.Context, id string) (bool, error) {
		_, err := media.Stat(ctx, id)
		if err == nil {
			return true, nil
		}
		if isNotFound(err) {
			return false, nil
		}
		return false, err
	}
	h, err := users.New(ucfg)
	if err != nil {
		so.close()
		return nil, err
	}
	so.users = h
	key, err := pushKey(cfg)
	if err != nil {
		so.close()
		return nil, err
	}
	pcfg.Bus, pcfg.Auth, pcfg.TicketKey = bus, h, key
	pcfg.Replicas = cfg.Events.Replicas // one --nats-replicas for every social stream
	pcfg.Logger = log.With("component", "push")
	if cfg.PushWebhook != "" {
		pcfg.Pusher = push.NewWebhook(cfg.PushWebhook)
	}
	if so.push, err = push.New(context.Background(), pcfg); err != nil {
		so.close()
		return nil, fmt.Errorf("push: %w", err)
	}
	if so.chat, err = buildChat(cfg, chats, gen, h, store, so, media, log); err != nil {
		so.close()
		return nil, err
	}
	if so.deliver, err = so.chat.StartDelivery(context.Background(), bus); err != nil {
		so.close()
		return nil, fmt.Errorf("chat delivery: %w", err)
	}
	if so.content, err = buildContent(cfg, cs, so, store, chats, media, log); err != nil {
		so.close()
		return nil, err
	}
	mux := http.NewServeMux()
	h.Register(mux)
	so.push.Register(mux)
	so.chat.Register(mux)
	so.content.register(mux)
	so.handler = mux
	ctx, cancel := context.WithCancel(context.Background())
	so.cancel, so.done = cancel, make(chan struct{})
	go func() {
		defer close(so.done)
		h.RunSweeper(ctx, time.Minute) // expired sessions (Cassandra: TTL does it)
	}()
	return so, nil
}

// close stops the social tier: the sockets and their consumer, the relay,
// the bus, then the store.
func (so *social) close() error {
	if so.cancel != nil {
		so.cancel()
		<-so.done
	}
	var errs []error
	if so.content != nil {
		errs = append(errs, so.content.close())
	}
	if so.deliver != nil {
		errs = append(errs, so.deliver.Close())
	}
	if so.push != nil {
		errs = append(errs, so.push.Close())
	}
	if so.relay != nil {
		errs = append(errs, so.relay.Close())
	}
	if so.bus != nil {
		errs = append(errs, so.bus.Close())
	}
	if so.db != nil {
		errs = append(errs, so.db.Close())
	}
	return errors.Join(errs...)
}

// buildChat is the chat service over the social store, delivering live
// through the push gateway.
func buildChat(cfg serveConfig, chats chat.Store, gen *ids.Generator, auth chat.Authenticator, accounts users.Store,
	so *social, media *chunkstore.Store, log *slog.Logger) (*chat.Service, error) {
	ccfg := chat.DefaultConfig()
	ccfg.Store, ccfg.IDs, ccfg.Auth, ccfg.Live = chats, gen, auth, so.push
	ccfg.Notify = so.relay.Notify
	ccfg.Logger = log.With("component", "chat")
	ccfg.Blocks = accounts // a block between two users closes their direct chat
	ccfg.MediaOwner = func(ctx context.Context, id string) (string, error) {
		info, err := media.Stat(ctx, id)
		if isNotFound(err) {
			return "", chat.ErrNoMedia
		}
		return info.Owner, err
	}
	ccfg.UsersExist = func(ctx context.Context, want []int64) ([]int64, error) {
		got, err := accounts.GetUsers(ctx, want)
		if err != nil {
			return nil, err
		}
		have := make(map[int64]bool, len(got))
		for _, u := range got {
			have[u.ID] = true
		}
		var missing []int64
		for _, id := range want {
			if !have[id] {
				missing = append(missing, id)
			}
		}
		return missing, nil
	}
	if cfg.ChatSendRate > 0 {
		ccfg.SendRate = ratelimit.Limit{Every: time.Duration(float64(time.Second) / cfg.ChatSendRate), Burst: max(1, int(3*cfg.ChatSendRate))}
	}
	if cfg.ChatMaxMembers > 0 {
		ccfg.MaxMembers = cfg.ChatMaxMembers
	}
	ccfg.MaxBacklog = cfg.ChatMaxBacklog
	svc, err := chat.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	return svc, nil
}

// pushKey is the socket tickets' HMAC key: --push-key (hex; the same on
// every edge of a fleet), or one generated on the first start and kept in
// DATA/push-key (0600) so tickets survive a restart of a single server.
func pushKey(cfg serveConfig) ([]byte, error) {
	if cfg.PushKey != "" {
		b, err := hex.DecodeString(cfg.PushKey)
		if err != nil || len(b) < 32 {
			return nil, errors.New("--push-key: want at least 64 hex digits")
		}
		return b, nil
	}
	path := filepath.Join(cfg.Data, "push-key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) < 32 {
			return nil, fmt.Errorf("%s: not a key of 64 hex digits; fix or delete the file", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read push key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write push key: %w", err)
	}
	return k, nil
}

// quietPebble keeps Pebble's informational lines out of the server's log.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)      {}
func (quietPebble) Errorf(f string, a ...any) { slog.Error(fmt.Sprintf("social store: "+f, a...)) }
func (quietPebble) Fatalf(f string, a ...any) { panic(fmt.Sprintf("social store: "+f, a...)) }

func isNotFound(err error) bool { return errors.Is(err, chunkstore.ErrNotFound) }
