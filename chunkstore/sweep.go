package chunkstore

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// SweepStats counts what one sweep removed.
type SweepStats struct {
	DeletedFiles   int // files whose chunks and row were removed
	ExpiredUploads int // unfinished uploads past their expiry, removed with their chunks
	Chunks         int // chunks removed
}

// SweepOnce finishes deletes (files marked deleting) and removes expired
// uploads. Finished uploads past expiry lose only their row: the file stays.
func (s *Store) SweepOnce(ctx context.Context) (SweepStats, error) {
	var st SweepStats
	var doomed []FileInfo
	err := s.b.ScanFiles(ctx, func(f FileInfo) error {
		if f.State == StateDeleting {
			doomed = append(doomed, f)
		}
		return nil
	})
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range doomed {
		if err := s.purgeFile(ctx, f); err != nil {
			errs = append(errs, err)
			continue
		}
		st.DeletedFiles++
		st.Chunks += f.Chunks()
	}
	now := s.now()
	var expired []UploadInfo
	err = s.b.ScanUploads(ctx, func(u UploadInfo) error {
		// A held lease means a writer is at work (it pushes ExpiresAt
		// forward when it commits); its upload is not idle.
		if now.After(u.ExpiresAt) && !u.Lease.Held(now, "") {
			expired = append(expired, u)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	for _, u := range expired {
		// Deletes are conditional on the version scanned: a row that changed
		// since (ErrConflict) was not idle after all and is left alone.
		if u.State == UploadFinishing {
			// A commit whose finisher died and that no HEAD or PATCH took
			// on within UploadTTL. The files row tells how far it got:
			// written, the chunks are the file's and only the row goes (as
			// for a finished upload); not written, nothing refers to the
			// chunks and the upload goes as an unfinished one.
			_, err := s.b.GetFile(ctx, u.ID)
			if err == nil {
				if err := s.b.DeleteUpload(ctx, u.ID, u.Version); err != nil && !errors.Is(err, ErrConflict) {
					errs = append(errs, err)
				}
				continue
			} else if !errors.Is(err, ErrNotFound) {
				errs = append(errs, err)
				continue
			}
		}
		if u.State == UploadFinished && !IsPartial(u) {
			if err := s.b.DeleteUpload(ctx, u.ID, u.Version); err != nil && !errors.Is(err, ErrConflict) {
				errs = append(errs, err)
			}
			continue
		}
		if err := s.purgeUpload(ctx, u); err != nil {
			if !errors.Is(err, ErrConflict) {
				errs = append(errs, err)
			}
			continue
		}
		st.ExpiredUploads++
		st.Chunks += int((u.Offset + int64(u.ChunkSize) - 1) / int64(max(1, u.ChunkSize))) // those that held data
	}
	return st, errors.Join(errs...)
}

// RunSweeper sweeps every SweepInterval until ctx ends or the store closes.
// onSweep, if set, sees each sweep's result (metrics hook).
func (s *Store) RunSweeper(ctx context.Context) { s.RunSweeperWith(ctx, nil, nil) }

// RunSweeperWith is RunSweeper with a logger and a per-sweep hook.
func (s *Store) RunSweeperWith(ctx context.Context, log *slog.Logger, onSweep func(SweepStats)) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		st, err := s.SweepOnce(ctx)
		if err != nil && log != nil && ctx.Err() == nil {
			log.Warn("sweep", "err", err)
		}
		if onSweep != nil {
			onSweep(st)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case <-t.C:
		}
	}
}
