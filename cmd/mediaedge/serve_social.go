package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/users"
	"github.com/mediaedge/mediaedge/social/users/cassandrastore"
	"github.com/mediaedge/mediaedge/social/users/pebblestore"
)

// social is the social tier as the composition root builds it: the users
// service over the same store as media (Cassandra's keyspace, or a Pebble
// database beside the embedded chunk store).
type social struct {
	users  *users.Handler
	db     *pebble.DB // embedded only; nil on Cassandra
	ids    *ids.Generator
	cancel context.CancelFunc
	done   chan struct{}
}

// buildSocial opens the social store on the media store's backend.
func buildSocial(cfg serveConfig, backend chunkstore.Backend, media *chunkstore.Store, log *slog.Logger) (*social, error) {
	gen, err := ids.New(cfg.NodeID)
	if err != nil {
		return nil, fmt.Errorf("--node-id: %w", err)
	}
	so := &social{ids: gen}
	var store users.Store
	switch b := backend.(type) {
	case *cassandra.Backend:
		s, err := cassandrastore.New(b.Session(), cassandrastore.DefaultConfig())
		if err != nil {
			return nil, fmt.Errorf("social store: %w", err)
		}
		store = s
	default:
		db, err := pebble.Open(filepath.Join(cfg.Data, "social"), &pebble.Options{Logger: quietPebble{}})
		if err != nil {
			return nil, fmt.Errorf("social store: %w", err)
		}
		so.db = db
		store = pebblestore.New(db, pebblestore.DefaultConfig())
	}
	ucfg := users.DefaultConfig()
	ucfg.Store, ucfg.IDs = store, gen
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
	ctx, cancel := context.WithCancel(context.Background())
	so.cancel, so.done = cancel, make(chan struct{})
	go func() {
		defer close(so.done)
		h.RunSweeper(ctx, time.Minute) // expired sessions (Cassandra: TTL does it)
	}()
	return so, nil
}

func (so *social) close() error {
	if so.cancel != nil {
		so.cancel()
		<-so.done
	}
	if so.db != nil {
		return so.db.Close()
	}
	return nil
}

// quietPebble keeps Pebble's informational lines out of the server's log.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)      {}
func (quietPebble) Errorf(f string, a ...any) { slog.Error(fmt.Sprintf("social store: "+f, a...)) }
func (quietPebble) Fatalf(f string, a ...any) { panic(fmt.Sprintf("social store: "+f, a...)) }

func isNotFound(err error) bool { return errors.Is(err, chunkstore.ErrNotFound) }
