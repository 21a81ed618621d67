package tus

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// uploadState is what the client remembers about an unfinished upload, one
// small JSON file per (endpoint, absolute path, size, modification time): a
// changed file is a new upload, an unchanged one resumes.
type uploadState struct {
	URL     string    `json:"url"`
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	Created time.Time `json:"created"`

	file string // where it is kept; "" when state is not kept
}

// stateDir is StateDir or its default.
func (c *Client) stateDir() (string, error) {
	if c.StateDir != "" {
		return c.StateDir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		// No home (a service account): keep state in the temp folder rather
		// than not at all.
		base = os.TempDir()
	}
	return filepath.Join(base, "mediaedge", "uploads"), nil
}

// openState loads the remembered upload of this file, or a new empty state.
func (c *Client) openState(abs string, fi os.FileInfo) (*uploadState, error) {
	dir, err := c.stateDir()
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(c.Endpoint + "\x00" + abs + "\x00" + strconv.FormatInt(fi.Size(), 10) +
		"\x00" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)))
	st := &uploadState{Path: abs, Size: fi.Size(), ModTime: fi.ModTime(),
		file: filepath.Join(dir, hex.EncodeToString(key[:16])+".json")}
	b, err := os.ReadFile(st.file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("read upload state: %w", err)
	}
	var old uploadState
	if json.Unmarshal(b, &old) != nil || old.Path != abs || old.Size != fi.Size() {
		return st, nil // damaged or a hash collision: start afresh
	}
	st.URL, st.Created = old.URL, old.Created
	return st, nil
}

// save writes the state atomically (temp file + rename): a crash never
// leaves a half-written state that would lose the upload URL.
func (s *uploadState) save() error {
	if s.Created.IsZero() {
		s.Created = time.Now().UTC()
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return permanent{fmt.Errorf("encode upload state: %w", err)}
	}
	if err := os.MkdirAll(filepath.Dir(s.file), 0o700); err != nil {
		return permanent{fmt.Errorf("save upload state: %w", err)}
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.file), ".state-*")
	if err != nil {
		return permanent{fmt.Errorf("save upload state: %w", err)}
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return permanent{fmt.Errorf("save upload state: %w", err)}
	}
	if err := os.Rename(tmp.Name(), s.file); err != nil {
		os.Remove(tmp.Name())
		return permanent{fmt.Errorf("save upload state: %w", err)}
	}
	return nil
}

// remove forgets the upload (finished, or gone on the server).
func (s *uploadState) remove() {
	_ = os.Remove(s.file)
}
