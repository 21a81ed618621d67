package edge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// heldStore is a Store of rows in a map whose calls can be held: once
// holdStat is set, the next Stat reads its row, says so on statRead and
// waits for statFree before it returns (a database read that lands before a
// delete and answers after it); once holdDelete is set, the next Delete says
// so on deleting and waits for deleteFree before it deletes.
type heldStore struct {
	Store                // nil: the cache calls only Stat and Delete
	holdStat, holdDelete atomic.Bool
	statRead, deleting   chan struct{}
	statFree, deleteFree chan struct{}
	stats                atomic.Int64
	mu                   sync.Mutex // guards rows
	rows                 map[string]chunkstore.FileInfo
}

func (s *heldStore) Stat(_ context.Context, id string) (chunkstore.FileInfo, error) {
	s.stats.Add(1)
	s.mu.Lock()
	f, ok := s.rows[id]
	s.mu.Unlock()
	if s.holdStat.CompareAndSwap(true, false) {
		s.statRead <- struct{}{}
		<-s.statFree
	}
	if !ok {
		return chunkstore.FileInfo{}, fmt.Errorf("stat %s: %w", id, chunkstore.ErrNotFound)
	}
	return f, nil
}

func (s *heldStore) Delete(_ context.Context, id string) error {
	if s.holdDelete.CompareAndSwap(true, false) {
		s.deleting <- struct{}{}
		<-s.deleteFree
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rows, id)
	return nil
}

// TestStatCacheDeleteWins: a Stat that read a row before its delete landed
// and answers after the delete returned does not put the row back in the
// cache, where it would keep the deleted file served for up to StatCacheTTL,
// whether the Stat began before the delete or while the store was deleting.
func TestStatCacheDeleteWins(t *testing.T) {
	tests := []struct {
		name string
		// race runs a held Stat of "a" (start) and c.Delete of "a" in
		// the order of the case; it returns when both are done.
		race func(t *testing.T, s *heldStore, c *statCache, start func() <-chan error)
	}{
		{"stat begins before the delete", func(t *testing.T, s *heldStore, c *statCache, start func() <-chan error) {
			stale := start()
			<-s.statRead
			if err := c.Delete(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			close(s.statFree)
			if err := <-stale; err != nil {
				t.Fatalf("the held Stat: %v", err)
			}
		}},
		{"stat begins while the store deletes", func(t *testing.T, s *heldStore, c *statCache, start func() <-chan error) {
			s.holdDelete.Store(true)
			deleted := make(chan error, 1)
			go func() { deleted <- c.Delete(context.Background(), "a") }()
			<-s.deleting // the cache's row is dropped, the store's is not yet
			stale := start()
			<-s.statRead
			close(s.deleteFree)
			if err := <-deleted; err != nil {
				t.Fatal(err)
			}
			close(s.statFree)
			if err := <-stale; err != nil {
				t.Fatalf("the held Stat: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := &heldStore{
				statRead: make(chan struct{}), statFree: make(chan struct{}),
				deleting: make(chan struct{}), deleteFree: make(chan struct{}),
				rows: map[string]chunkstore.FileInfo{"a": {ID: "a", Size: 1}, "b": {ID: "b", Size: 2}},
			}
			c := newStatCache(s, 10, time.Hour)
			start := func() <-chan error {
				s.holdStat.Store(true)
				done := make(chan error, 1)
				go func() {
					_, err := c.Stat(ctx, "a")
					done <- err
				}()
				return done
			}
			tt.race(t, s, c, start)
			if f, err := c.Stat(ctx, "a"); !errors.Is(err, chunkstore.ErrNotFound) {
				t.Fatalf("Stat after the delete: %+v, %v; want ErrNotFound", f, err)
			}
			// Without a delete in the way, rows are still cached.
			n := s.stats.Load()
			for range 3 {
				if f, err := c.Stat(ctx, "b"); err != nil || f.ID != "b" {
					t.Fatalf("Stat b: %+v, %v", f, err)
				}
			}
			if got := s.stats.Load() - n; got != 1 {
				t.Fatalf("3 Stats of b reached the store %d times, want 1", got)
			}
		})
	}
}
