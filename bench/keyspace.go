package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/schema"
)

// freshKeyspace makes a keyspace named prefix+random on hosts with the
// whole schema applied (as `schema apply` does), for one Cassandra run of
// a benchmark; drop removes it and closes the admin session.
func freshKeyspace(ctx context.Context, hosts []string, prefix string) (ks string, drop func(), err error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ks = prefix + hex.EncodeToString(b)
	ccfg := cassandra.DefaultConfig()
	ccfg.Hosts, ccfg.Keyspace = hosts, ""
	admin, err := cassandra.NewSession(ccfg)
	if err != nil {
		return "", nil, err
	}
	drop = func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		_ = schema.Drop(dctx, admin, ks)
		admin.Close()
	}
	sc := schema.DefaultConfig()
	sc.Keyspace = ks
	actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := schema.Apply(actx, admin, sc); err != nil {
		drop()
		return "", nil, fmt.Errorf("schema: %w", err)
	}
	return ks, drop, nil
}
