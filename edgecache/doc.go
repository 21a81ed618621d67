// Package edgecache is the edge's multi-disk result cache: originals and derived
// results (resized images, MP4s, HLS segments) keyed by a string, stored as files
// on several disks, each with a byte budget, and served by sendfile.
//
// # API
//
//	cfg := edgecache.DefaultConfig()
//	d, _ := edgecache.ParseDisk("/mnt/ssd1:200GiB")      // --cache-dir PATH[:SIZE]
//	cfg.Disks = append(cfg.Disks, d)
//	c, _ := edgecache.Open(ctx, cfg, logger)             // fails for a bad config or a folder in use
//	e, err := c.GetOrFill(ctx, key, func(ctx context.Context, w io.Writer) (edgecache.Meta, error) {
//	        ... stream the result into w ...
//	        return edgecache.Meta{ContentType: "image/webp", ETag: `"..."`}, nil
//	})
//	if errors.Is(err, edgecache.ErrUnavailable) || errors.Is(err, edgecache.ErrTooLarge) {
//	        ... serve uncached ...
//	}
//	defer e.Close()
//	http.ServeContent(w, r, "", e.ModTime, e.File)       // e.File is the *os.File: sendfile
//
// Get(ctx, key) is the lookup alone (ErrMiss when absent). Purge(ctx, MatchID(id)),
// Rebalance(ctx, dryRun, progress), Verify(ctx, progress), Stats(), Probe(ctx),
// WaitReady(ctx) and Close() serve the CLI (`mediaedge cache ...`) and /readyz
// (Usable). Keys are the caller's; the edge keys an original by its media id and a
// derived result by the id followed by a non-id character and the canonical spec
// (MatchID relies on that).
//
// # Files: a body and a sidecar
//
// Each entry is two files in a fan-out folder: the body, exactly the bytes served,
// and a small JSON sidecar (".meta") with the key, length, xxhash64 checksum,
// content type, ETag and creation time. The body has no header or trailer because
// http.ServeContent sizes its content by Seek(0, io.SeekEnd) and sends it with
// io.CopyN: a header would need an io.SectionReader and a trailer a wrapper, and
// either hides the *os.File from net's sendfile path (a type assertion to
// syscall.Conn). Extended attributes would keep one file but are not on every file
// system (tmpfs before Linux 6.6). The cost of the sidecar is a second inode and
// rename per fill; the start-up scan reads one small file per entry either way.
//
// A fill streams into a temp file in the disk's tmp/ folder (so the rename stays
// on one file system), hashing as it goes; then the body is fsynced, the sidecar
// written and fsynced, the sidecar renamed into place, the body renamed into place
// (the commit point) and the folder fsynced. A crash leaves at worst temp files or a
// sidecar without its body, which the next scan removes; a body is never visible
// without a complete sidecar. File names are KEYHASH-GENERATION with a generation
// unique to each fill (it starts at the clock and grows across restarts), so the
// unlink of an evicted entry can never hit a newer fill of the same key, and the
// scan can tell files of fills running now from leftovers.
//
// # Checksums are checked once
//
// Hashing a whole 50 KB entry on every hit would cost more than serving it. A fill
// is hashed on the way in; an entry found by the scan is checked in full on its
// first open and the verdict kept in the index until restart. A bad entry (wrong
// length or checksum) is removed and reported as a miss (ErrMiss and ErrCorrupt),
// so GetOrFill refills it. Every hand-out also preads one byte (page cache, well
// under a microsecond) so a disk whose reads fail is caught before the response
// starts. `cache verify` re-checks everything.
//
// # Placement
//
// Weighted rendezvous hashing on xxhash (see placement.go): the disk with the best
// score for a key among the disks not offline takes the fill, weights are budgets.
// Losing or adding a disk moves only that disk's share. The index is global (key ->
// entry on whichever disk holds it), so after a disk is added every entry is still
// found where it is; Rebalance moves entries to the disk placement names now
// (copy, switch the index, remove the old copy; safe to interrupt, since the scan
// keeps the copy on the placement disk when it finds two).
//
// # Index and eviction
//
// The index lives in memory and is rebuilt from the disks in the background at
// start, one goroutine per disk, while the cache already serves: until a disk's
// scan reaches an entry it is a miss, and a refill simply wins over the older copy.
// Each disk has its own byte budget and Evictor. S3-FIFO is the default; LRU
// (golang-lru/v2) is the alternative. bench/eviction.go replays a Zipf(0.9) trace
// of 100k keys (4 KiB..512 KiB, 2M requests) and measured, with the cache at 10%
// of the working set's bytes: LRU 60.6% hits (56.7% bytes), S3-FIFO 67.7% (64.3%);
// at 1%: LRU 34.3%, S3-FIFO 45.2%. S3-FIFO hits also touch no list.
// Recency is not persisted: after a restart entries re-enter in scan order.
//
// # Disk health
//
// A disk is online, failing (after an I/O error: EIO, ENOSPC, EROFS, ENOTDIR when
// the folder is gone, a write or fsync past Config.WriteDeadline) or offline
// (FailThreshold errors in a row with no successful write or probe between).
// Stalled writes are abandoned (fills buffer into memory they own, so an abandoned
// write cannot race), and a fill whose disk fails is rerun on the next disk in
// rendezvous order, so requests keep succeeding. An offline disk leaves placement
// and its entries leave the index (its files stay); every ProbeInterval failing and
// offline disks are probed (write, fsync, read back, remove in tmp/), and a disk
// that passes is online again and rescanned. A missing folder is not created
// unless CreateDirs is set: it usually means an unmounted disk.
//
// # Open files
//
// Closing an Entry returns its file to a small cache of idle open files (at most
// OpenFileCache in all, 4 per entry, least recently released closed first), so a
// hot entry is served without open(2). A handle is never shared by two requests:
// ServeContent seeks and sendfile uses the file offset. An entry evicted or purged
// while open stays readable through its open handles (it is unlinked; Linux keeps
// the inode until the last close) and its handles are closed as they come back.
//
// # Stats
//
// Per-disk hit and miss counters (a miss counts on the disk placement names) are
// written every StatsInterval and at Close to ROOT/stats.json (temp + rename),
// cumulative across restarts, only when they changed, so `mediaedge cache stats`
// (which opens the cache ReadOnly: nothing written, nothing evicted) shows the
// server's hit ratio without talking to it.
//
// # One writer per folder
//
// A read-write cache holds flock(2) on ROOT/mediaedge.lock (with its pid in it)
// from Open to Close, and Open fails with ErrInUse when another process holds
// it. Two writers cannot share a folder: each one's start-up scan removes the
// temp files it did not write, failing the other's fills. So `cache verify`,
// `purge` and `rebalance` refuse while the server runs. ReadOnly takes no lock
// (a shared one would fail beside the server's exclusive lock) and writes
// nothing, so `cache stats` and `rebalance --dry-run` run beside a server. The
// maintenance commands set NoEvict: their budgets are what was typed, and
// evicting to them would delete what the server's budgets keep. Should a temp
// file still vanish before its commit, the fill fails (the caller serves it
// uncached) without counting against the disk: its folders are all there.
//
// # Limits
//
// Purge reaches only disks that are not offline. An entry
// larger than its disk's budget is not cached (ErrTooLarge) and the fill's work is
// lost; the caller serves it uncached. A read error in the middle of a response
// (after the first byte was checked) is not seen by the cache.
package edgecache
