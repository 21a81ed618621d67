package chunkstore

import (
	"errors"
	"fmt"
	"time"
)

// Config is the Store's configuration.
type Config struct {
	// ChunkSize is the size of every chunk but a file's last; 256 KiB to 4 MiB.
	// 1 MiB keeps Cassandra partitions small and a hot file spread over the
	// ring while costing one request per MiB.
	ChunkSize int
	// WriteConcurrency is the number of chunk writes in flight per writer; it
	// bounds a writer's memory to (WriteConcurrency+1) chunks.
	WriteConcurrency int
	// ReadAhead is the number of chunks fetched ahead of a sequential reader.
	ReadAhead int
	// MaxFileSize bounds a file or upload; beyond it ErrTooLarge.
	MaxFileSize int64
	// UploadTTL is how long an upload lives after its last activity.
	UploadTTL time.Duration
	// LeaseTTL is how long an upload's writer lease lasts unless renewed.
	// An Append renews it every LeaseTTL/3 while it writes, so it bounds
	// only how long a crashed writer blocks its upload (others get
	// ErrLocked, tus 423, meanwhile). Keep it above a store write's worst
	// latency: a holder that cannot renew in time may lose the upload to
	// another writer (safely: its bytes since its last checkpoint are then
	// not kept, and its client resumes). 15 s: a client whose edge died
	// waits that long at most, and a renewal (one LWT) every 5 s per
	// upload being written costs little.
	LeaseTTL time.Duration
	// SweepInterval is how often the sweeper looks for deleted files and
	// expired uploads.
	SweepInterval time.Duration
	// Clock returns the current time; nil is time.Now. Tests move it forward
	// to expire uploads without sleeping.
	Clock func() time.Time
}

// DefaultConfig follows DESIGN.md "Storage" and "Limits".
func DefaultConfig() Config {
	return Config{
		ChunkSize:        1 << 20,
		WriteConcurrency: 4,
		ReadAhead:        2,
		MaxFileSize:      5 << 30,
		UploadTTL:        24 * time.Hour,
		LeaseTTL:         15 * time.Second,
		SweepInterval:    time.Minute,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.ChunkSize < 256<<10 || c.ChunkSize > 4<<20 {
		errs = append(errs, fmt.Errorf("chunk size %d: want 256 KiB to 4 MiB", c.ChunkSize))
	}
	if c.WriteConcurrency < 1 || c.WriteConcurrency > 64 {
		errs = append(errs, fmt.Errorf("write concurrency %d: want 1 to 64", c.WriteConcurrency))
	}
	if c.ReadAhead < 0 || c.ReadAhead > 16 {
		errs = append(errs, fmt.Errorf("read ahead %d: want 0 to 16", c.ReadAhead))
	}
	if c.MaxFileSize <= 0 {
		errs = append(errs, errors.New("max file size must be positive"))
	}
	if c.UploadTTL <= 0 || c.SweepInterval <= 0 {
		errs = append(errs, errors.New("upload TTL and sweep interval must be positive"))
	}
	if c.LeaseTTL < 30*time.Millisecond {
		errs = append(errs, fmt.Errorf("lease TTL %s: want at least 30ms", c.LeaseTTL))
	}
	return errors.Join(errs...)
}
