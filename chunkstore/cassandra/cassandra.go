package cassandra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// Config says how to reach the cluster.
type Config struct {
	// Hosts are contact points, host or host:port.
	Hosts []string
	// Keyspace holds the mediaedge tables (created by `mediaedge schema apply`).
	Keyspace string
	// Consistency for reads and writes: LOCAL_QUORUM (default), QUORUM, ONE, ...
	Consistency string
	// LocalDC, when set, keeps queries in this data centre (DC-aware routing);
	// LWTs then use LOCAL_SERIAL.
	LocalDC string
	// Timeout is the per-query client timeout; it must exceed the server's
	// request timeouts, so that a server timeout (which says how many
	// replicas answered) arrives before the client gives up. It is also what
	// a write sent to a hung coordinator costs before it is retried on the
	// next replica.
	Timeout time.Duration
	// ConnectTimeout bounds dialling and connection set-up.
	ConnectTimeout time.Duration
	// Retries is how many times an idempotent statement is retried after an
	// error another node may not give (a timeout, an unavailable or
	// overloaded replica, a reset connection), each time on the next replica
	// of the query plan. Lightweight transactions are never retried this way.
	Retries int
	// SpeculativeDelay: an idempotent read with no answer after this long is
	// also sent to the next replica, and the first answer wins, so a hung
	// node (a GC pause, SIGSTOP) costs a read this delay instead of Timeout.
	// Pick it above the reads' usual p99. Zero disables speculation.
	SpeculativeDelay time.Duration
	// SpeculativeAttempts is how many extra replicas a slow read may be sent
	// to (2 reaches every replica at RF 3). Zero disables speculation.
	SpeculativeAttempts int
	// WriteHedgeDelay: an idempotent write (a chunk) with no answer after
	// this long is also sent to another replica as coordinator. Pick it above
	// the server's write_request_timeout (2 s by default): a live coordinator
	// answers by then, with a timeout error if need be, so only a hung one is
	// hedged and healthy writes are never doubled. Zero disables it.
	WriteHedgeDelay time.Duration
	// ReconnectInterval is how often the driver tries to reconnect to nodes
	// it holds for down, in case it missed the UP event of a restarted one.
	ReconnectInterval time.Duration
	// NumConns is the number of connections per host. gocql multiplexes many
	// streams on each connection, so a few suffice; more help only when one
	// connection's socket buffers become the limit for 1 MiB chunks.
	NumConns int
	// WriteConcurrency is informational: the chunk writes a Store keeps in
	// flight (chunkstore.Config.WriteConcurrency). The backend does not limit
	// concurrency itself; NumConns*32768 streams are far above it.
	WriteConcurrency int
	// Username and Password for PasswordAuthenticator, when set.
	Username, Password string
	// Logger receives the driver's own log lines (host up/down, reconnects);
	// nil discards them, the driver's default.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// DefaultConfig is a local single node.
func DefaultConfig() Config {
	return Config{
		Hosts:               []string{"127.0.0.1"},
		Keyspace:            "mediaedge",
		Consistency:         "LOCAL_QUORUM",
		Timeout:             12 * time.Second,
		ConnectTimeout:      5 * time.Second,
		Retries:             3,
		SpeculativeDelay:    300 * time.Millisecond,
		SpeculativeAttempts: 2,
		WriteHedgeDelay:     3 * time.Second,
		ReconnectInterval:   10 * time.Second,
		NumConns:            2,
		WriteConcurrency:    4,
	}
}

var keyspaceRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,47}$`)

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Hosts) == 0 {
		errs = append(errs, errors.New("cassandra: hosts: at least one contact point needed"))
	}
	if c.Keyspace != "" && !keyspaceRe.MatchString(c.Keyspace) {
		errs = append(errs, fmt.Errorf("cassandra: keyspace %q: want a letter then letters, digits or _", c.Keyspace))
	}
	if _, err := gocql.ParseConsistencyWrapper(strings.ToUpper(c.consistency())); err != nil {
		errs = append(errs, fmt.Errorf("cassandra: consistency %q: %w", c.Consistency, err))
	}
	if c.Timeout < 0 || c.ConnectTimeout < 0 || c.NumConns < 0 || c.WriteConcurrency < 0 ||
		c.Retries < 0 || c.SpeculativeDelay < 0 || c.SpeculativeAttempts < 0 || c.ReconnectInterval < 0 || c.WriteHedgeDelay < 0 {
		errs = append(errs, errors.New("cassandra: timeouts, retries, speculation, num-conns and write-concurrency must not be negative"))
	}
	if c.Timeout > 0 && c.SpeculativeDelay >= c.Timeout {
		errs = append(errs, fmt.Errorf("cassandra: speculative delay %v must be below the timeout %v", c.SpeculativeDelay, c.Timeout))
	}
	if c.Timeout > 0 && c.WriteHedgeDelay >= c.Timeout {
		errs = append(errs, fmt.Errorf("cassandra: write hedge delay %v must be below the timeout %v", c.WriteHedgeDelay, c.Timeout))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("cassandra: password given without a username"))
	}
	return errors.Join(errs...)
}

func (c Config) consistency() string {
	if c.Consistency == "" {
		return "LOCAL_QUORUM"
	}
	return c.Consistency
}

// NewSession opens a gocql session; bound to cfg.Keyspace unless it is empty.
func NewSession(cfg Config) (*gocql.Session, error) {
	cl, err := clusterConfig(cfg)
	if err != nil {
		return nil, err
	}
	s, err := cl.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("cassandra: connect to %s: %w", strings.Join(cfg.Hosts, ","), err)
	}
	return s, nil
}

// clusterConfig is the driver configuration NewSession connects with.
func clusterConfig(cfg Config) (*gocql.ClusterConfig, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl := gocql.NewCluster(cfg.Hosts...)
	cl.Keyspace = cfg.Keyspace
	cl.Consistency = gocql.ParseConsistency(strings.ToUpper(cfg.consistency()))
	if cfg.Timeout > 0 {
		cl.Timeout = cfg.Timeout
	}
	if cfg.ConnectTimeout > 0 {
		cl.ConnectTimeout = cfg.ConnectTimeout
	}
	if cfg.NumConns > 0 {
		cl.NumConns = cfg.NumConns
	}
	if cfg.ReconnectInterval > 0 {
		cl.ReconnectInterval = cfg.ReconnectInterval
	}
	fallback := gocql.RoundRobinHostPolicy()
	cl.SerialConsistency = gocql.Serial
	if cfg.LocalDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(cfg.LocalDC)
		cl.SerialConsistency = gocql.LocalSerial
	}
	// Token-aware with the replicas shuffled: each statement goes straight
	// to an owner of its partition, a different one each time, so the
	// replicas share the load and a retry or speculative read goes to
	// another owner (see policy.go).
	cl.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback, gocql.ShuffleReplicas())
	cl.RetryPolicy = cfg.retryPolicy()
	if cfg.Logger != nil {
		cl.Logger = slogAdapter{cfg.Logger}
	}
	if cfg.Username != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	return cl, nil
}

// Backend implements chunkstore.Backend.
type Backend struct {
	s     *gocql.Session
	cfg   Config
	hedge hedging           // for idempotent reads
	wedge hedging           // for chunk writes
	retry gocql.RetryPolicy // the session's, for idempotent statements
}

var _ chunkstore.Backend = (*Backend)(nil)

// Open connects to the cluster and checks the keyspace has the files table.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Keyspace == "" {
		return nil, errors.New("cassandra: keyspace is required")
	}
	s, err := NewSession(cfg)
	if err != nil {
		return nil, err
	}
	b := &Backend{s: s, cfg: cfg, retry: cfg.retryPolicy()}
	b.hedge, b.wedge = cfg.hedging(b.manyHosts), cfg.writeHedging(b.manyHosts)
	if err := b.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return b, nil
}

// read is an idempotent single-partition read, retried on the next replica
// after an error; callers run it through hedged so a slow one is re-sent.
func (b *Backend) read(stmt string, args ...any) *gocql.Query {
	return b.s.Query(stmt, args...).Idempotent(true)
}

// manyHosts reports whether the driver knows another node to hedge to; on a
// single node a hedge would only queue behind the slow attempt.
func (b *Backend) manyHosts() bool { return len(b.s.GetHosts()) > 1 }

// Session exposes the session for benchmarks and schema tools.
func (b *Backend) Session() *gocql.Session { return b.s }

// Query strings are constants so that the driver's prepared-statement cache hits.
const (
	qPutChunk    = `INSERT INTO chunks (id, idx, data, crc32c) VALUES (?, ?, ?, ?)`
	qGetChunk    = `SELECT data, crc32c FROM chunks WHERE id = ? AND idx = ?`
	qDeleteChunk = `DELETE FROM chunks WHERE id = ? AND idx = ?`
	qHasChunk    = `SELECT crc32c FROM chunks WHERE id = ? AND idx = ?`

	fileCols    = `id, size, chunk_size, content_type, sha256, width, height, duration_ms, owner, created_at, state`
	qPutFile    = `INSERT INTO files (` + fileCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qGetFile    = `SELECT ` + fileCols + ` FROM files WHERE id = ?`
	qScanFiles  = `SELECT ` + fileCols + ` FROM files`
	qDeleteFile = `DELETE FROM files WHERE id = ?`
	qPutOwned   = `INSERT INTO files_by_owner (owner, id, size) VALUES (?, ?, ?)`
	qDelOwned   = `DELETE FROM files_by_owner WHERE owner = ? AND id = ?`
	qUsage      = `SELECT sum(size) FROM files_by_owner WHERE owner = ?`

	// Fenced chunk writes: the lease's fence is the cells' timestamp, so a
	// stale holder's write or delete loses to a newer holder's whatever
	// order they arrive in (last write wins by timestamp; on a tie the
	// delete wins, so a holder's own drop removes its own write).
	qPutUploadChunk    = `INSERT INTO chunks (id, idx, data, crc32c) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`
	qDeleteUploadChunk = `DELETE FROM chunks USING TIMESTAMP ? WHERE id = ? AND idx = ?`

	// The uploads row is written by lightweight transactions only (never
	// mixed with plain writes: their timestamps would not order with the
	// Paxos ballots). chunk_size is set on every row and never changes; the
	// updates name it in their condition so that one cannot create a row
	// that was deleted (a condition on a null version alone would hold).
	uploadCols    = `id, length, offset, defer_length, metadata, owner, expires_at, concat_parts, state, chunk_size, hash_state, created_at, version, lease_holder, lease_until, fence`
	qCreateUpload = `INSERT INTO uploads (` + uploadCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`
	qUpdateUpload = `UPDATE uploads SET length = ?, offset = ?, metadata = ?, expires_at = ?, state = ?, hash_state = ?, ` +
		`version = ?, lease_holder = ?, lease_until = ?, fence = ? WHERE id = ? IF version = ? AND chunk_size = ?`
	qGetUpload    = `SELECT ` + uploadCols + ` FROM uploads WHERE id = ?`
	qScanUploads  = `SELECT ` + uploadCols + ` FROM uploads`
	qDeleteUpload = `DELETE FROM uploads WHERE id = ? IF version = ?`

	qGetDerived    = `SELECT file_id FROM derived WHERE source_id = ? AND variant = ?`
	qClaimDerived  = `INSERT INTO derived (source_id, variant, file_id) VALUES (?, ?, ?) IF NOT EXISTS`
	qDeleteDerived = `DELETE FROM derived WHERE source_id = ? AND variant = ?`

	qPing = `SELECT id FROM files LIMIT 1`
)

// scanPageSize rows per page keeps a scan's memory small (an uploads row
// carries a few hundred bytes of hash state) while costing few round trips.
const scanPageSize = 500

func notFound(err error) error {
	if errors.Is(err, gocql.ErrNotFound) {
		return chunkstore.ErrNotFound
	}
	return err
}

// PutChunk overwrites chunk (id, idx).
func (b *Backend) PutChunk(ctx context.Context, id string, idx int, data []byte, crc uint32) error {
	if data == nil {
		data = []byte{} // a nil blob reads back as null; keep empty chunks distinct
	}
	_, err := hedged(ctx, b.wedge, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.s.Query(qPutChunk, id, idx, data, int32(crc)).Idempotent(true).ExecContext(ctx)
	})
	if err != nil {
		return fmt.Errorf("put chunk %d of %s: %w", idx, id, err)
	}
	return nil
}

// GetChunk reads chunk (id, idx); the Store checks the CRC.
func (b *Backend) GetChunk(ctx context.Context, id string, idx int) ([]byte, uint32, error) {
	type chunk struct {
		data []byte
		crc  int32
	}
	c, err := hedged(ctx, b.hedge, func(ctx context.Context) (c chunk, err error) {
		err = b.read(qGetChunk, id, idx).ScanContext(ctx, &c.data, &c.crc)
		return c, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, notFound(err))
	}
	return c.data, uint32(c.crc), nil
}

// HasChunk says whether chunk (id, idx) exists, reading its checksum
// column only (chunkstore.ChunkExister).
func (b *Backend) HasChunk(ctx context.Context, id string, idx int) (bool, error) {
	var crc int32
	err := b.read(qHasChunk, id, idx).ScanContext(ctx, &crc)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("probe chunk %d of %s: %w", idx, id, err)
	}
	return true, nil
}

// DeleteChunk removes chunk (id, idx); deleting a missing chunk is not an error.
func (b *Backend) DeleteChunk(ctx context.Context, id string, idx int) error {
	if err := b.s.Query(qDeleteChunk, id, idx).Idempotent(true).ExecContext(ctx); err != nil {
		return fmt.Errorf("delete chunk %d of %s: %w", idx, id, err)
	}
	return nil
}

// PutFile writes the files row: the commit point of a file.
func (b *Backend) PutFile(ctx context.Context, f chunkstore.FileInfo) error {
	args := []any{f.ID, f.Size, f.ChunkSize, f.ContentType, f.SHA256, f.Width, f.Height,
		f.DurationMS, f.Owner, f.CreatedAt, f.State}
	var err error
	if f.Owner == "" {
		err = b.s.Query(qPutFile, args...).Idempotent(true).ExecContext(ctx)
	} else {
		// The owner's index changes in the same LOGGED batch (atomic, if
		// eventually): a complete file counts toward its owner's usage, one
		// being deleted no longer does. Both statements are idempotent
		// (overwrites), so the batch is too. The entries are in the order
		// execBatch's fallback runs them one by one: the index entry added
		// after the files row, removed before it.
		file := gocql.BatchEntry{Stmt: qPutFile, Args: args, Idempotent: true}
		var entries []gocql.BatchEntry
		if f.State == chunkstore.StateComplete {
			entries = []gocql.BatchEntry{file, {Stmt: qPutOwned, Args: []any{f.Owner, f.ID, f.Size}, Idempotent: true}}
		} else {
			entries = []gocql.BatchEntry{{Stmt: qDelOwned, Args: []any{f.Owner, f.ID}, Idempotent: true}, file}
		}
		err = b.execBatch(ctx, entries)
	}
	if err != nil {
		return fmt.Errorf("put file %s: %w", f.ID, err)
	}
	return nil
}

// execBatch runs idempotent entries as a LOGGED batch, and when the batchlog
// could not be written, as single statements one after another, in order.
//
// A logged batch first stores itself on two nodes other than its
// coordinator (the batchlog), chosen among those gossip holds for alive. In a
// 3-node cluster those are the two others, so while one node is lost and not
// yet convicted (about 18 s after a kill -9 at phi 8; for as long as a hung
// node stays hung) every logged batch times out writing its batchlog, on
// every coordinator, and retrying on the next host cannot help. A BATCH_LOG
// write timeout means nothing of the batch was applied, so the statements
// are sent again, each at the session's consistency, which the surviving
// replicas meet.
//
// They go one at a time, each acknowledged before the next is sent, and not
// as an UNLOGGED batch: an unlogged batch's mutations travel to their
// replicas concurrently, so a coordinator dying mid-way could leave any
// subset applied. In order, the only states a failure can leave are
// prefixes of the list, and callers order entries so that every prefix is
// harmless and the caller's retry completes it: the owner index never lists
// a file that is not complete (an entry is added after the files row and
// removed before it), so the worst case is a complete file briefly not
// counted toward its owner's quota, never one counted that cannot be seen
// or deleted. What is given up, in that window only, is the batchlog's
// replay when the caller does not retry.
func (b *Backend) execBatch(ctx context.Context, entries []gocql.BatchEntry) error {
	logged := b.s.Batch(gocql.LoggedBatch).RetryPolicy(batchlogRethrow{b.retry})
	logged.Entries = entries
	err := logged.ExecContext(ctx)
	if !batchlogTimedOut(err) {
		return err
	}
	for _, e := range entries {
		q := b.s.Query(e.Stmt, e.Args...).Idempotent(e.Idempotent)
		if err := q.ExecContext(ctx); err != nil {
			return err
		}
	}
	return nil
}

// OwnerUsage is the bytes of owner's complete files (one partition read).
func (b *Backend) OwnerUsage(ctx context.Context, owner string) (int64, error) {
	n, err := hedged(ctx, b.hedge, func(ctx context.Context) (n int64, err error) {
		err = b.read(qUsage, owner).ScanContext(ctx, &n)
		return n, err
	})
	if err != nil {
		return 0, fmt.Errorf("usage of %s: %w", owner, err)
	}
	return n, nil
}

func scanFile(sc interface{ Scan(...any) error }) (chunkstore.FileInfo, error) {
	var f chunkstore.FileInfo
	err := sc.Scan(&f.ID, &f.Size, &f.ChunkSize, &f.ContentType, &f.SHA256, &f.Width, &f.Height,
		&f.DurationMS, &f.Owner, &f.CreatedAt, &f.State)
	return f, err
}

// GetFile reads the files row.
func (b *Backend) GetFile(ctx context.Context, id string) (chunkstore.FileInfo, error) {
	f, err := hedged(ctx, b.hedge, func(ctx context.Context) (chunkstore.FileInfo, error) {
		return scanFile(queryScanner{b.read(qGetFile, id), ctx})
	})
	if err != nil {
		return chunkstore.FileInfo{}, fmt.Errorf("get file %s: %w", id, notFound(err))
	}
	return f, nil
}

// DeleteFile removes the files row.
func (b *Backend) DeleteFile(ctx context.Context, id string) error {
	f, err := b.GetFile(ctx, id)
	if errors.Is(err, chunkstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete file %s: %w", id, err)
	}
	// The index entry goes first (see execBatch): if only it is removed, the
	// file is still there and a retried delete finds its owner again.
	var entries []gocql.BatchEntry
	if f.Owner != "" {
		entries = append(entries, gocql.BatchEntry{Stmt: qDelOwned, Args: []any{f.Owner, id}, Idempotent: true})
	}
	entries = append(entries, gocql.BatchEntry{Stmt: qDeleteFile, Args: []any{id}, Idempotent: true})
	if err := b.execBatch(ctx, entries); err != nil {
		return fmt.Errorf("delete file %s: %w", id, err)
	}
	return nil
}

// ScanFiles pages through every files row.
func (b *Backend) ScanFiles(ctx context.Context, fn func(chunkstore.FileInfo) error) error {
	sc := b.s.Query(qScanFiles).PageSize(scanPageSize).Idempotent(true).IterContext(ctx).Scanner()
	for sc.Next() {
		f, err := scanFile(sc)
		if err != nil {
			_ = sc.Err() // releases the iterator; the first error is the one to report
			return fmt.Errorf("scan files: %w", err)
		}
		if err := fn(f); err != nil {
			_ = sc.Err()
			return err // the caller's own error, as the Backend contract says
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("scan files: %w", err)
	}
	return nil
}

// PutUploadChunk writes chunk (id, idx) of an upload with the fence as its
// timestamp: it never replaces a chunk a newer holder wrote.
func (b *Backend) PutUploadChunk(ctx context.Context, id string, idx int, data []byte, crc uint32, fence int64) error {
	if data == nil {
		data = []byte{}
	}
	err := b.s.Query(qPutUploadChunk, id, idx, data, int32(crc), fence).Idempotent(true).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("put chunk %d of upload %s: %w", idx, id, err)
	}
	return nil
}

// DeleteUploadChunks removes chunks [from, to) of an upload with the fence
// as the tombstones' timestamp: a newer holder's chunks survive it.
func (b *Backend) DeleteUploadChunks(ctx context.Context, id string, from, to int, fence int64) error {
	var firstErr error
	for i := from; i < to; i++ {
		err := b.s.Query(qDeleteUploadChunk, fence, id, i).Idempotent(true).ExecContext(ctx)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("delete chunk %d of upload %s: %w", i, id, err)
		}
	}
	return firstErr
}

// nullTime binds the zero time as null (a free lease has no expiry).
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nullVersion binds version 0 as null: rows made before versions existed.
func nullVersion(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// CreateUpload inserts a new upload row (a lightweight transaction).
func (b *Backend) CreateUpload(ctx context.Context, u chunkstore.UploadInfo) error {
	prev := map[string]any{}
	applied, err := b.s.Query(qCreateUpload, u.ID, u.Length, u.Offset, u.DeferLength, u.Metadata, u.Owner, u.ExpiresAt,
		u.ConcatParts, u.State, u.ChunkSize, u.HashState, u.CreatedAt, u.Version, u.Lease.Holder, nullTime(u.Lease.Until),
		u.Lease.Fence).MapScanCASContext(ctx, prev)
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	if !applied {
		return fmt.Errorf("create upload %s: %w", u.ID, chunkstore.ErrExists)
	}
	return nil
}

// UpdateUpload writes u's mutable columns if the row is at version prev (a
// lightweight transaction at the session's serial consistency). On a lost
// condition, or a timeout that leaves it unknown whether the write applied,
// the row is read at serial consistency to answer.
func (b *Backend) UpdateUpload(ctx context.Context, u chunkstore.UploadInfo, prev int64) (chunkstore.UploadInfo, error) {
	next := u
	next.Version = prev + 1
	applied, err := b.s.Query(qUpdateUpload, next.Length, next.Offset, next.Metadata, next.ExpiresAt, next.State,
		next.HashState, next.Version, next.Lease.Holder, nullTime(next.Lease.Until), next.Lease.Fence,
		next.ID, nullVersion(prev), next.ChunkSize).MapScanCASContext(ctx, map[string]any{})
	if err == nil && applied {
		return next, nil
	}
	cur, rerr := b.getUploadSerial(ctx, u.ID)
	switch {
	case rerr != nil && err != nil:
		return chunkstore.UploadInfo{}, fmt.Errorf("update upload %s: %w (and the serial read: %v)", u.ID, err, rerr)
	case rerr != nil:
		return chunkstore.UploadInfo{}, fmt.Errorf("update upload %s: %w", u.ID, rerr)
	case err != nil && cur.Version == next.Version && cur.Offset == next.Offset &&
		cur.Lease.Holder == next.Lease.Holder && cur.Lease.Fence == next.Lease.Fence:
		// The write timed out but applied: only a CAS on version prev can
		// have made version prev+1, and this one is ours.
		return cur, nil
	case err != nil && cur.Version == prev:
		return chunkstore.UploadInfo{}, fmt.Errorf("update upload %s: %w", u.ID, err)
	}
	return cur, fmt.Errorf("update upload %s at version %d, stored %d: %w", u.ID, prev, cur.Version, chunkstore.ErrConflict)
}

// getUploadSerial reads the row linearizably: it completes (or discards)
// any lightweight transaction still in flight on the row first.
func (b *Backend) getUploadSerial(ctx context.Context, id string) (chunkstore.UploadInfo, error) {
	u, err := scanUpload(queryScanner{b.s.Query(qGetUpload, id).Consistency(b.serial()).Idempotent(true), ctx})
	if err != nil {
		return chunkstore.UploadInfo{}, fmt.Errorf("get upload %s: %w", id, notFound(err))
	}
	return u, nil
}

func scanUpload(sc interface{ Scan(...any) error }) (chunkstore.UploadInfo, error) {
	var u chunkstore.UploadInfo
	var until *time.Time
	err := sc.Scan(&u.ID, &u.Length, &u.Offset, &u.DeferLength, &u.Metadata, &u.Owner, &u.ExpiresAt,
		&u.ConcatParts, &u.State, &u.ChunkSize, &u.HashState, &u.CreatedAt, &u.Version, &u.Lease.Holder, &until, &u.Lease.Fence)
	if until != nil {
		u.Lease.Until = *until
	}
	return u, err
}

type queryScanner struct {
	q   *gocql.Query
	ctx context.Context
}

func (qs queryScanner) Scan(dest ...any) error { return qs.q.ScanContext(qs.ctx, dest...) }

// GetUpload reads an upload row (at the session's consistency: it may miss a
// lightweight transaction still in flight; UpdateUpload is the arbiter).
func (b *Backend) GetUpload(ctx context.Context, id string) (chunkstore.UploadInfo, error) {
	u, err := hedged(ctx, b.hedge, func(ctx context.Context) (chunkstore.UploadInfo, error) {
		return scanUpload(queryScanner{b.read(qGetUpload, id), ctx})
	})
	if err != nil {
		return chunkstore.UploadInfo{}, fmt.Errorf("get upload %s: %w", id, notFound(err))
	}
	return u, nil
}

// DeleteUpload removes an upload row if it is at version (a lightweight
// transaction).
func (b *Backend) DeleteUpload(ctx context.Context, id string, version int64) error {
	prev := map[string]any{}
	applied, err := b.s.Query(qDeleteUpload, id, nullVersion(version)).MapScanCASContext(ctx, prev)
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	if !applied && len(prev) > 0 {
		// A missing row answers not applied with no columns: that is done.
		return fmt.Errorf("delete upload %s at version %d: %w", id, version, chunkstore.ErrConflict)
	}
	return nil
}

// ScanUploads pages through every upload row.
func (b *Backend) ScanUploads(ctx context.Context, fn func(chunkstore.UploadInfo) error) error {
	sc := b.s.Query(qScanUploads).PageSize(scanPageSize).Idempotent(true).IterContext(ctx).Scanner()
	for sc.Next() {
		u, err := scanUpload(sc)
		if err != nil {
			_ = sc.Err() // releases the iterator; the first error is the one to report
			return fmt.Errorf("scan uploads: %w", err)
		}
		if err := fn(u); err != nil {
			_ = sc.Err()
			return err // the caller's own error, as the Backend contract says
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("scan uploads: %w", err)
	}
	return nil
}

// GetDerived reads the file id recorded for (sourceID, variant).
func (b *Backend) GetDerived(ctx context.Context, sourceID, variant string) (string, error) {
	id, err := hedged(ctx, b.hedge, func(ctx context.Context) (id string, err error) {
		err = b.read(qGetDerived, sourceID, variant).ScanContext(ctx, &id)
		return id, err
	})
	if err != nil {
		return "", fmt.Errorf("get derived %s/%s: %w", sourceID, variant, notFound(err))
	}
	return id, nil
}

// DeleteDerived removes the record for (sourceID, variant).
func (b *Backend) DeleteDerived(ctx context.Context, sourceID, variant string) error {
	if err := b.s.Query(qDeleteDerived, sourceID, variant).Idempotent(true).ExecContext(ctx); err != nil {
		return fmt.Errorf("delete derived %s/%s: %w", sourceID, variant, err)
	}
	return nil
}

// Ping checks the keyspace answers a query.
func (b *Backend) Ping(ctx context.Context) error {
	iter := b.s.Query(qPing).Consistency(gocql.One).IterContext(ctx)
	var id string
	iter.Scan(&id)
	if err := iter.Close(); err != nil {
		return fmt.Errorf("cassandra ping: %w", err)
	}
	return nil
}

// Close ends the session.
func (b *Backend) Close() error {
	b.s.Close()
	return nil
}

// slogAdapter hands the driver's log lines to log/slog. Hand-written because
// the driver ships adapters for zap and zerolog only; it is four one-liners.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Error(msg string, f ...gocql.LogField)   { a.l.Error(msg, attrs(f)...) }
func (a slogAdapter) Warning(msg string, f ...gocql.LogField) { a.l.Warn(msg, attrs(f)...) }
func (a slogAdapter) Info(msg string, f ...gocql.LogField)    { a.l.Info(msg, attrs(f)...) }
func (a slogAdapter) Debug(msg string, f ...gocql.LogField)   { a.l.Debug(msg, attrs(f)...) }

func attrs(fields []gocql.LogField) []any {
	out := make([]any, 0, len(fields)+1)
	out = append(out, slog.String("component", "gocql"))
	for _, f := range fields {
		out = append(out, slog.Any(f.Name, f.Value.Any()))
	}
	return out
}
