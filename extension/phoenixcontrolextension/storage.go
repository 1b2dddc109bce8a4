// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	berrors "go.etcd.io/bbolt/errors"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// Storage statuses, as GET /api/v1/info and /metrics report them.
const (
	statusNone        = "none"        // no storage configured: switches last until restart
	statusPending     = "pending"     // configured, not opened yet
	statusOK          = "ok"          // persisting; no damage found since start
	statusDamaged     = "damaged"     // damage found: the file was moved aside, a fresh one persists
	statusUnavailable = "unavailable" // nothing persists (the file could not be opened, or moved aside)
)

// storageStatus is the state file's health.
type storageStatus struct {
	Status  string    `json:"status"`
	File    string    `json:"file,omitempty"`
	Error   string    `json:"error,omitempty"`
	MovedTo string    `json:"moved_to,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// reopenInterval is how often an unavailable file is tried again, on use.
const reopenInterval = 5 * time.Second

// errNoStorage: nothing persists now (see the status).
var errNoStorage = errors.New("storage unavailable")

// stateStore is phoenix_control's persistence: a storage extension's client behind a guard. The file only
// holds optional state (active variants, run history), so its damage must neither stop the collector nor
// panic in it: the guard moves a damaged file aside, opens a fresh one, writes back what this process knows,
// and reports the damage.
type stateStore struct {
	logger    *zap.Logger
	ext       storage.Extension
	storageID component.ID
	owner     component.ID // phoenix_control's ID, which names its client
	now       func() time.Time

	mu       sync.Mutex
	opened   bool
	openedAt time.Time         // the last attempt to open the file
	path     string            // the client's file when the storage is a file_storage; "": unknown, never moved
	client   storage.Client    // nil: not persisting
	known    map[string][]byte // every value read or written, written again into a fresh file
	status   storageStatus
	errors   uint64
}

func newStateStore(logger *zap.Logger, ext storage.Extension, storageID, owner component.ID) *stateStore {
	return &stateStore{logger: logger, ext: ext, storageID: storageID, owner: owner, now: time.Now,
		known: map[string][]byte{}, status: storageStatus{Status: statusPending}}
}

// configured locates the file in the collector's effective configuration and opens it. The service calls it
// once every extension has started and before any pipeline starts, so experiments, which register when their
// pipeline starts, restore from a checked file.
func (s *stateStore) configured(ctx context.Context, conf *confmap.Conf) {
	path, err := stateFilePath(conf, s.storageID, s.owner)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.logger.Warn("state file not located: damage to it will not be moved aside", zap.Error(err))
	}
	s.path = path
	switch {
	case !s.opened || s.client == nil:
		s.openLocked(ctx)
	default:
		s.verifyPathLocked()
	}
}

// ensureOpenLocked opens the file on first use when the configuration never came (a host that does not
// notify extensions of it): persistence works, but the file is unknown, so damage cannot be moved aside.
func (s *stateStore) ensureOpenLocked(ctx context.Context) {
	if !s.opened {
		s.logger.Warn("state opened before the collector's configuration was known: damage to its file will not be moved aside")
		s.openLocked(ctx)
	}
}

func (s *stateStore) openLocked(ctx context.Context) {
	s.opened, s.openedAt = true, s.now()
	if s.path != "" {
		if err := checkStateFile(s.path); err != nil && !s.moveAsideLocked(err) {
			return
		}
	}
	_, statErr := os.Lstat(s.path)
	created := s.path != "" && errors.Is(statErr, fs.ErrNotExist)
	client, err := s.getClient(ctx)
	if err != nil && created && transient(err) {
		_ = os.Remove(s.path) // what a full disk let bbolt write of a new file is not damage: it is nothing
	}
	if err != nil && s.path != "" && !transient(err) {
		if !s.moveAsideLocked(err) {
			return
		}
		client, err = s.getClient(ctx)
	}
	if err != nil {
		s.unavailableLocked(err)
		return
	}
	s.client = client
	s.verifyPathLocked()
	if s.status.Status != statusDamaged {
		s.setStatusLocked(storageStatus{Status: statusOK})
	}
	s.replayLocked(ctx)
}

// verifyPathLocked forgets a computed path that file_storage did not use: a wrong guess must never be moved.
func (s *stateStore) verifyPathLocked() {
	if s.path == "" {
		return
	}
	if fi, err := os.Stat(s.path); err != nil || !fi.Mode().IsRegular() {
		s.logger.Warn("state file not where file_storage was expected to keep it: damage to it will not be moved aside", zap.String("file", s.path))
		s.path = ""
	}
}

func (s *stateStore) getClient(ctx context.Context) (client storage.Client, err error) {
	err = guardStorage(func() error {
		client, err = s.ext.GetClient(ctx, component.KindExtension, s.owner, "")
		return err
	})
	return client, err
}

// moveAsideLocked renames a damaged file to <file>.damaged-<UTC time> for a post-mortem; it reports whether
// the path is free for a fresh file.
func (s *stateStore) moveAsideLocked(cause error) bool {
	s.errors++
	moved := s.path + ".damaged-" + s.now().UTC().Format("20060102T150405.000Z")
	for i := 2; ; i++ { // never over an earlier one
		if _, err := os.Lstat(moved); errors.Is(err, fs.ErrNotExist) {
			break
		}
		moved = fmt.Sprintf("%s.damaged-%s-%d", s.path, s.now().UTC().Format("20060102T150405.000Z"), i)
	}
	if err := os.Rename(s.path, moved); err != nil {
		s.unavailableLocked(fmt.Errorf("%w; moving the file aside failed: %w", cause, err))
		return false
	}
	s.logger.Error("state file damaged: moved aside; starting on the configured state with a fresh file",
		zap.String("file", s.path), zap.String("moved_to", moved), zap.Error(cause))
	s.setStatusLocked(storageStatus{Status: statusDamaged, Error: cause.Error(), MovedTo: moved})
	return true
}

func (s *stateStore) unavailableLocked(err error) {
	s.errors++
	s.logger.Error("state not persisted: switches and run history last until restart", zap.String("file", s.path), zap.Error(err))
	st := storageStatus{Status: statusUnavailable, Error: err.Error()}
	if s.status.Status == statusDamaged {
		st.MovedTo = s.status.MovedTo
	}
	s.setStatusLocked(st)
}

func (s *stateStore) setStatusLocked(st storageStatus) {
	st.File, st.Since = s.path, s.now()
	s.status = st
}

// recoverLocked handles damage found in use: the client is dropped (a panic inside a bbolt transaction may
// leave it unusable), the file moved aside and a fresh one opened with what this process knows. It reports
// whether persistence is back.
func (s *stateStore) recoverLocked(ctx context.Context, cause error) bool {
	closeClient(s.client)
	s.client = nil
	if s.path == "" {
		s.unavailableLocked(fmt.Errorf("%w (its file is not known, so it was not moved aside)", cause))
		return false
	}
	if !s.moveAsideLocked(cause) {
		return false
	}
	client, err := s.getClient(ctx)
	if err != nil {
		s.unavailableLocked(err)
		return false
	}
	s.client = client
	return s.replayLocked(ctx)
}

// replayLocked writes what this process knows into a fresh file.
func (s *stateStore) replayLocked(ctx context.Context) bool {
	for k, v := range s.known {
		if err := guardStorage(func() error { return s.client.Set(ctx, k, v) }); err != nil {
			closeClient(s.client)
			s.client = nil
			s.unavailableLocked(fmt.Errorf("writing the state again: %w", err))
			return false
		}
	}
	return true
}

// Get implements store; a value lost with a damaged file reads as absent.
func (s *stateStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v []byte
	err := s.doLocked(ctx, func(c storage.Client) (err error) {
		v, err = c.Get(ctx, key)
		return err
	})
	if err == nil && v != nil {
		s.known[key] = v
	}
	return v, err
}

// Set implements store.
func (s *stateStore) Set(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[key] = bytes.Clone(value) // the state in force, persisted or not
	return s.doLocked(ctx, func(c storage.Client) error { return c.Set(ctx, key, value) })
}

// doLocked runs op on the client. The file is checked first, since bbolt may panic out of reach on a damaged
// page (see checkStateFile); damage found then or during op (a panic, a corruption error) moves the file
// aside, and op runs again on a fresh one.
func (s *stateStore) doLocked(ctx context.Context, op func(storage.Client) error) error {
	s.ensureOpenLocked(ctx)
	if s.client == nil && s.now().Sub(s.openedAt) >= reopenInterval {
		s.openLocked(ctx) // a disk with room again, a volume writable again: the state in force is written back
	}
	for retried := false; ; retried = true {
		if s.client == nil {
			return errNoStorage
		}
		var err error
		if s.path != "" {
			err = checkStateFile(s.path)
		}
		if err == nil {
			if err = guardStorage(func() error { return op(s.client) }); err == nil {
				return nil
			}
			if !isDamage(err) {
				s.errors++
				return err
			}
		}
		if retried {
			closeClient(s.client)
			s.client = nil
			s.unavailableLocked(err)
			return err
		}
		if !s.recoverLocked(ctx, err) {
			return err
		}
	}
}

// Close closes the client; nothing persists afterwards.
func (s *stateStore) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	err := guardStorage(func() error { return s.client.Close(ctx) })
	s.client = nil
	return err
}

// health is the status and the count of damage found and failed operations since start.
func (s *stateStore) health() (storageStatus, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.errors
}

// errPanicked marks a panic of the storage client: bbolt panics on corrupt pages.
var errPanicked = errors.New("storage panicked")

// guardStorage runs f, turning a panic, and a fault on a memory-mapped file, into an error.
func guardStorage(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanicked, r)
		}
	}()
	return f()
}

// isDamage tells, of an error of a client in use, whether the file is damaged.
func isDamage(err error) bool {
	return errors.Is(err, errPanicked) || errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) || strings.Contains(err.Error(), "storage not initialized")
}

// transient tells, of an error opening the file, that nothing says the file is damaged (a lock held by
// another process, permissions, a missing directory, a full or read-only disk): it stays where it is.
func transient(err error) bool {
	return errors.Is(err, berrors.ErrTimeout) || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// closeClient closes a client that may be broken; a close that hangs (on a lock a panic left held) is
// abandoned: the fresh file does not need it.
func closeClient(c storage.Client) {
	if c == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = guardStorage(func() error { return c.Close(context.Background()) })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// checkStateFile looks for damage in the file before bbolt reads it: an empty file, which bbolt would
// re-initialise silently, and pages bbolt would panic on. bbolt (file_storage sets NoFreelistSync) scans every
// page in a goroutine of its own when it opens the file and whenever a write transaction rolls back, and a
// panic there cannot be recovered: the collector would crash. nil: no damage found, or no file yet.
func checkStateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil // none yet; any other problem is file_storage's open to report
	}
	switch {
	case fi.IsDir():
		return errors.New("a directory is in place of the file")
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	case fi.Size() == 0:
		return errors.New("empty file (0 bytes), which bbolt would re-initialise silently: its state is lost")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return checkBolt(data)
}

// bbolt's file format (version 2, little-endian), as far as checkBolt reads it.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltPageHeader   = 16 // id u64, flags u16, count u16, overflow u32
	boltElement      = 16 // branch: pos, ksize u32, child u64; leaf: flags, pos, ksize, vsize u32
	boltMetaSize     = 64 // magic, version, page size, flags u32; root bucket u64 x2; freelist, hwm, txid, checksum u64
	boltBranchPage   = 0x01
	boltLeafPage     = 0x02
	boltBucketLeaf   = 0x01
	boltBucketHeader = 16 // root page u64 (0: inline bucket), sequence u64
)

// checkBolt checks a bbolt file for what its page scan would panic or report on: no valid meta page, pages
// past the end of the file or the high water mark, pages not what they say they are, elements outside their
// page, pages referenced twice, keys out of order.
func checkBolt(data []byte) error {
	meta, err := boltMetaOf(data)
	if err != nil {
		return err
	}
	w := boltWalk{data: data, pageSize: meta.pageSize, pages: uint64(len(data)) / meta.pageSize, hwm: meta.hwm, seen: map[uint64]bool{}}
	p, err := w.page(meta.root)
	if err != nil {
		return err
	}
	return w.node(p, meta.root, nil, nil)
}

type boltMeta struct{ pageSize, root, hwm, txid uint64 }

// boltMetaOf is the meta bbolt uses: the valid one with the higher transaction ID.
func boltMetaOf(data []byte) (boltMeta, error) {
	m0, err0 := boltMetaAt(data, 0)
	second := []uint64{m0.pageSize}
	if err0 != nil { // the page size is in the meta: try the sizes bbolt tries
		second = second[:0]
		for i := range 15 {
			second = append(second, 1024<<i)
		}
	}
	var m1 boltMeta
	err1 := errors.New("no valid second meta page")
	for _, off := range second {
		m, err := boltMetaAt(data, off)
		if err == nil && m.pageSize != off {
			err = fmt.Errorf("second meta page: page size %d at offset %d", m.pageSize, off)
		}
		if err == nil {
			m1, err1 = m, nil
			break
		}
		if err0 == nil {
			err1 = err
		}
	}
	switch {
	case err0 == nil && (err1 != nil || m0.txid >= m1.txid):
		return m0, nil
	case err1 == nil:
		return m1, nil
	}
	return boltMeta{}, fmt.Errorf("no valid meta page: %w; %w", err0, err1)
}

func boltMetaAt(data []byte, off uint64) (boltMeta, error) {
	if off+boltPageHeader+boltMetaSize > uint64(len(data)) {
		return boltMeta{}, fmt.Errorf("file too small (%d bytes) for a meta page at %d", len(data), off)
	}
	m := data[off+boltPageHeader : off+boltPageHeader+boltMetaSize]
	le := binary.LittleEndian
	h := fnv.New64a()
	_, _ = h.Write(m[:56])
	switch {
	case le.Uint32(m) != boltMagic:
		return boltMeta{}, berrors.ErrInvalid
	case le.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, berrors.ErrVersionMismatch
	case h.Sum64() != le.Uint64(m[56:]):
		return boltMeta{}, berrors.ErrChecksum
	}
	meta := boltMeta{pageSize: uint64(le.Uint32(m[8:])), root: le.Uint64(m[16:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if meta.pageSize < 1024 || meta.pageSize > 1<<24 || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("invalid page size %d", meta.pageSize)
	}
	return meta, nil
}

type boltWalk struct {
	data            []byte
	pageSize, pages uint64
	hwm             uint64
	seen            map[uint64]bool
}

// page is page id with its overflow pages.
func (w *boltWalk) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("page %d: out of bounds (high water mark %d)", id, w.hwm)
	}
	if id >= w.pages {
		return nil, fmt.Errorf("page %d: past the end of the file (%d pages)", id, w.pages)
	}
	le := binary.LittleEndian
	p := w.data[id*w.pageSize:]
	if got := le.Uint64(p); got != id {
		return nil, fmt.Errorf("page %d: identifies as %d", id, got)
	}
	overflow := uint64(le.Uint32(p[12:]))
	if overflow >= w.pages-id {
		return nil, fmt.Errorf("page %d: %d overflow pages past the end of the file", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return nil, fmt.Errorf("page %d: referenced twice", i)
		}
		w.seen[i] = true
	}
	return p[:(overflow+1)*w.pageSize], nil
}

// node checks a branch or leaf page (id 0: an inline bucket's) and everything under it; its keys must lie in
// [lo, hi) (nil: unbounded).
func (w *boltWalk) node(p []byte, id uint64, lo, hi []byte) error {
	if len(p) < boltPageHeader {
		return fmt.Errorf("page %d: truncated", id)
	}
	le := binary.LittleEndian
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if flags != boltBranchPage && flags != boltLeafPage {
		return fmt.Errorf("page %d: neither a branch nor a leaf (flags %#x)", id, flags)
	}
	if boltPageHeader+count*boltElement > len(p) {
		return fmt.Errorf("page %d: %d elements overflow the page", id, count)
	}
	keys := make([][]byte, count)
	for i := range keys {
		e := p[boltPageHeader+i*boltElement:]
		pos, ksize := le.Uint32(e[4:]), le.Uint32(e[8:])
		if flags == boltBranchPage {
			pos, ksize = le.Uint32(e), le.Uint32(e[4:])
		}
		k, ok := within(p, boltPageHeader+i*boltElement, uint64(pos), uint64(ksize))
		if !ok {
			return fmt.Errorf("page %d: key %d outside the page", id, i)
		}
		if lo != nil && bytes.Compare(k, lo) < 0 || hi != nil && bytes.Compare(k, hi) >= 0 || i > 0 && bytes.Compare(keys[i-1], k) >= 0 {
			return fmt.Errorf("page %d: key %d out of order", id, i)
		}
		keys[i] = k
	}
	for i, k := range keys {
		e := p[boltPageHeader+i*boltElement:]
		if flags == boltBranchPage {
			child := le.Uint64(e[8:])
			next := hi
			if i+1 < len(keys) {
				next = keys[i+1]
			}
			cp, err := w.page(child)
			if err == nil {
				err = w.node(cp, child, k, next)
			}
			if err != nil {
				return err
			}
			continue
		}
		if le.Uint32(e)&boltBucketLeaf == 0 {
			if _, ok := within(p, boltPageHeader+i*boltElement, uint64(le.Uint32(e[4:]))+uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))); !ok {
				return fmt.Errorf("page %d: value %d outside the page", id, i)
			}
			continue
		}
		v, ok := within(p, boltPageHeader+i*boltElement, uint64(le.Uint32(e[4:]))+uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:])))
		if !ok || len(v) < boltBucketHeader {
			return fmt.Errorf("page %d: bucket %q outside the page", id, k)
		}
		var err error
		if root := le.Uint64(v); root == 0 {
			err = w.node(v[boltBucketHeader:], 0, nil, nil)
		} else if rp, perr := w.page(root); perr != nil {
			err = perr
		} else {
			err = w.node(rp, root, nil, nil)
		}
		if err != nil {
			return fmt.Errorf("bucket %q: %w", k, err)
		}
	}
	return nil
}

// within is the n bytes at off bytes past the element at elem, if they lie inside p.
func within(p []byte, elem int, off, n uint64) ([]byte, bool) {
	start := uint64(elem) + off
	if start > uint64(len(p)) || n > uint64(len(p))-start {
		return nil, false
	}
	return p[start : start+n], true
}

// stateFilePath is where file_storage keeps phoenix_control's client (GetClient in its extension.go):
// <directory>/extension_<type>_<name>, sanitized, or a SHA-256 of that when too long for a file name. The
// directory is read with file_storage's own config and defaults. "": not a file_storage.
func stateFilePath(conf *confmap.Conf, storageID, owner component.ID) (string, error) {
	f := filestorage.NewFactory()
	if storageID.Type() != f.Type() {
		return "", nil
	}
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	sub, err := conf.Sub("extensions")
	if err == nil {
		sub, err = sub.Sub(storageID.String())
	}
	if err == nil {
		err = sub.Unmarshal(cfg)
	}
	if err != nil {
		return "", fmt.Errorf("%s's directory: %w", storageID, err)
	}
	name := sanitizeFileName(fmt.Sprintf("extension_%s_%s", owner.Type(), owner.Name()))
	if len(name) > 255 {
		sum := sha256.Sum256([]byte(name))
		name = hex.EncodeToString(sum[:])
	}
	return filepath.Join(cfg.Directory, name), nil
}

// sanitizeFileName is file_storage's sanitize: characters other than A-Z a-z 0-9 . - _ become ~ and their
// hex code point (the tilde too).
func sanitizeFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "~%04X", r)
		}
	}
	return b.String()
}
