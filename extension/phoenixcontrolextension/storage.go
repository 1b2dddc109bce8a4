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
	"hash"
	"hash/fnv"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
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
	statusDamaged     = "damaged"     // damage found (the file moved aside), or the file changed underneath; a file persists
	statusUnavailable = "unavailable" // nothing persists, or a write failed (see the error)
)

// storageStatus is the state file's health.
type storageStatus struct {
	Status  string    `json:"status"`
	File    string    `json:"file,omitempty"`
	Error   string    `json:"error,omitempty"`
	MovedTo string    `json:"moved_to,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// reopenInterval is how often an unavailable file is tried again, and failed writes written again.
const reopenInterval = 5 * time.Second

// maxStateFileSize bounds the state file: phoenix_control's state is tens of KiB (bbolt's file 32 KiB), so a
// larger file is damage, moved aside unread (a sparse 100 GB file must not be read into memory).
const maxStateFileSize = 16 << 20

// errNoStorage: nothing persists now (see the status).
var errNoStorage = errors.New("storage unavailable")

// stateStore is phoenix_control's persistence: a storage extension's client behind a guard. The file only
// holds optional state (active variants, run history), so its damage must neither stop the collector nor
// panic in it: the guard moves a damaged file aside, opens a fresh one, writes back what this process knows,
// and reports the damage. A file changed underneath bbolt (deleted, replaced, copied over) is never handed to
// the client that had it open: the client is dropped and the path reopened.
type stateStore struct {
	logger    *zap.Logger
	ext       storage.Extension
	storageID component.ID
	owner     component.ID // phoenix_control's ID, which names its client
	now       func() time.Time
	// onStoredValues, when set, is called after a file holding values was opened late (it was unavailable)
	// or found changed underneath: the file's values stand for the keys this process did not set (setHere
	// false), and the registry applies them. It runs in a goroutine of its own: the store is not locked.
	onStoredValues func(setHere func(key string) bool)

	mu       sync.Mutex
	opened   bool
	closed   bool
	openedAt time.Time         // the last attempt to open the file
	path     string            // the client's file when the storage is a file_storage; "": unknown, never moved
	client   storage.Client    // nil: not persisting
	seen     fileState         // the file as this process's last operation left it
	known    map[string][]byte // the state in force: every value read or written
	set      map[string]bool   // keys this process changed since start: its value stands over a file's
	dirty    map[string]bool   // keys whose value in force the file may not hold (not persisted, a failed write)
	damage   *storageStatus    // the damage reported, which stands until restart
	status   storageStatus
	errors   uint64
	retry    *time.Timer    // tries again while unavailable
	hooks    sync.WaitGroup // onStoredValues running
}

func newStateStore(logger *zap.Logger, ext storage.Extension, storageID, owner component.ID) *stateStore {
	return &stateStore{logger: logger, ext: ext, storageID: storageID, owner: owner, now: time.Now,
		known: map[string][]byte{}, set: map[string]bool{}, dirty: map[string]bool{}, status: storageStatus{Status: statusPending}}
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
	case s.closed:
	case !s.opened || s.client == nil:
		s.openLocked(ctx)
	default:
		s.verifyPathLocked()
		s.seen = s.fileLocked()
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

// openLocked opens the file at the path, checked first. A fresh file gets the state in force; a file that
// holds values (one opened late, or put in place by someone else) keeps them but for the keys this process
// set since start, which are written to it, and onStoredValues applies them.
func (s *stateStore) openLocked(ctx context.Context) {
	late := s.opened
	s.opened, s.openedAt = true, s.now()
	stored := s.path == "" // a file not known may hold values
	if s.path != "" {
		f, err := checkStateFile(s.path)
		if err != nil && !s.moveAsideLocked(err) {
			return
		}
		stored = err == nil && (f.info != nil || f.unreadable)
	}
	client, err := s.getClient(ctx)
	if err != nil && s.path != "" && !stored && errors.Is(err, syscall.ENOSPC) {
		_ = os.Remove(s.path) // what a full disk let bbolt write of a new file is not damage: it is nothing
	}
	if err != nil && s.path != "" && !transient(err) {
		if !s.moveAsideLocked(err) {
			return
		}
		stored = false
		client, err = s.getClient(ctx)
	}
	if err != nil {
		s.unavailableLocked(openError(err))
		return
	}
	s.client = client
	s.verifyPathLocked()
	s.seen = s.fileLocked()
	if stored {
		if !s.adoptLocked(ctx) {
			return
		}
	} else {
		for k := range s.known {
			s.dirty[k] = true
		}
	}
	s.setStatusLocked(s.healthLocked())
	s.flushLocked(ctx)
	if late && stored && s.onStoredValues != nil {
		s.hooks.Add(1)
		go func() {
			defer s.hooks.Done()
			s.onStoredValues(s.setHere)
		}()
	}
}

// adoptLocked makes an opened file's values the state in force, except for the keys this process set since
// start or could not write, which are written to it.
func (s *stateStore) adoptLocked(ctx context.Context) bool {
	for _, k := range slices.Sorted(maps.Keys(s.known)) {
		if s.set[k] || s.dirty[k] {
			continue
		}
		var v []byte
		if err := s.attemptLocked(func(c storage.Client) (err error) {
			v, err = c.Get(ctx, k)
			return err
		}); err != nil {
			s.dropLocked()
			s.unavailableLocked(fmt.Errorf("reading the stored state: %w", err))
			return false
		}
		if v == nil {
			delete(s.known, k)
		} else {
			s.known[k] = v
		}
	}
	for k := range s.set {
		s.dirty[k] = true
	}
	return true
}

// setHere tells whether this process set key since start (or could not write it): its value stands.
func (s *stateStore) setHere(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set[key] || s.dirty[key]
}

// openError says, of a file that could not be opened for writing, when it is read-only.
func openError(err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: another process holds the file's lock (another collector on the same directory?)", err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("read-only: the state directory is on a read-only volume: %w", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("read-only: the state file or its directory may not be written by this collector: %w", err)
	}
	return err
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

// fileLocked is the file as it is now; the zero fileState when unknown or damaged (the next operation's
// check finds the damage).
func (s *stateStore) fileLocked() fileState {
	if s.path == "" {
		return fileState{}
	}
	f, err := checkStateFile(s.path)
	if err != nil {
		return fileState{}
	}
	return f
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
	s.damagedLocked(storageStatus{Status: statusDamaged, Error: cause.Error(), MovedTo: moved})
	return true
}

// changedLocked reports a file changed underneath bbolt (deleted, replaced, copied over).
func (s *stateStore) changedLocked(cause error) {
	s.errors++
	s.logger.Error("state file changed underneath the collector (deleted, replaced or copied over while it ran): reopened; "+
		"its values stand but for those this collector set since start", zap.String("file", s.path), zap.Error(cause))
	s.damagedLocked(storageStatus{Status: statusDamaged, Error: cause.Error()})
}

func (s *stateStore) damagedLocked(st storageStatus) {
	s.setStatusLocked(st)
	d := s.status
	s.damage = &d
}

// healthLocked is the status of a file that persists: ok, or the damage reported since start.
func (s *stateStore) healthLocked() storageStatus {
	if s.damage != nil {
		return *s.damage
	}
	return storageStatus{Status: statusOK}
}

// unavailableLocked reports that nothing persists, or that an operation failed, and tries again later.
func (s *stateStore) unavailableLocked(err error) {
	s.errors++
	st := storageStatus{Status: statusUnavailable, Error: err.Error()}
	if s.damage != nil {
		st.MovedTo = s.damage.MovedTo
	}
	if s.status.Status != st.Status || s.status.Error != st.Error { // once, not at every try
		s.logger.Error("state not persisted: switches and run history last until restart, unless storage comes back",
			zap.String("file", s.path), zap.Error(err))
		s.setStatusLocked(st)
	}
	if s.retry == nil && !s.closed {
		s.retry = time.AfterFunc(reopenInterval, s.retryNow)
	}
}

// retryNow opens an unavailable file again, or writes again what failed to be written.
func (s *stateStore) retryNow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retry = nil
	if s.closed || s.status.Status != statusUnavailable {
		return
	}
	if s.client == nil {
		s.openLocked(context.Background())
		return
	}
	_ = s.doLocked(context.Background(), nil)
}

func (s *stateStore) setStatusLocked(st storageStatus) {
	st.File = s.path
	if st.Since.IsZero() {
		st.Since = s.now()
	}
	s.status = st
}

// dropLocked closes the client; a client that had its file damaged or changed underneath gets no other
// operation.
func (s *stateStore) dropLocked() {
	closeClient(s.client)
	s.client = nil
}

// recoverLocked handles damage found in use, and a file changed underneath: the client is dropped (a panic
// inside a bbolt transaction may leave it unusable; a file changed underneath it would make it panic out of
// reach, or write to an unlinked file), a damaged file moved aside, and the path opened again. It reports
// whether persistence is back.
func (s *stateStore) recoverLocked(ctx context.Context, fault *stateFault) bool {
	s.dropLocked()
	if s.path == "" {
		s.unavailableLocked(fmt.Errorf("%w (its file is not known, so it was not moved aside)", fault.err))
		return false
	}
	if fault.changed {
		s.changedLocked(fault.err)
	} else if !s.moveAsideLocked(fault.err) {
		return false
	}
	s.openLocked(ctx)
	return s.client != nil
}

// flushLocked writes the values the file may not hold; a failed write leaves them to the next operation, and
// the storage unavailable until then.
func (s *stateStore) flushLocked(ctx context.Context) {
	for _, k := range slices.Sorted(maps.Keys(s.dirty)) {
		v := s.known[k]
		if err := s.attemptLocked(func(c storage.Client) error { return c.Set(ctx, k, v) }); err != nil {
			s.unavailableLocked(fmt.Errorf("writing the state in force (%s): %w", k, err))
			return
		}
		delete(s.dirty, k)
	}
	if s.status.Status == statusUnavailable {
		s.setStatusLocked(s.healthLocked())
	}
}

// Get implements store; a value lost with a damaged file reads as absent.
func (s *stateStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dirty := s.dirty[key]
	var v []byte
	err := s.doLocked(ctx, func(c storage.Client) (err error) {
		v, err = c.Get(ctx, key)
		return err
	})
	switch {
	case err != nil:
	case dirty || s.dirty[key]: // the file's value is older than the one in force
		v = bytes.Clone(s.known[key])
	case v != nil:
		s.known[key] = v
	case !s.set[key]:
		delete(s.known, key)
	}
	return v, err
}

// Set implements store.
func (s *stateStore) Set(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.known[key]; !ok || !bytes.Equal(prev, value) {
		s.set[key] = true
	}
	s.known[key] = bytes.Clone(value) // the state in force, persisted or not
	err := s.doLocked(ctx, func(c storage.Client) error { return c.Set(ctx, key, value) })
	if err != nil {
		s.dirty[key] = true // written at the next operation that succeeds, or the next open
	}
	return err
}

// doLocked runs op (nil: none) on the client, then writes what earlier writes failed to. Damage found
// before or during op (a panic, a corruption error) moves the file aside, and a file changed underneath is
// reopened; op runs again on what is at the path then. A failed op keeps the client and makes the storage
// unavailable until an operation succeeds.
func (s *stateStore) doLocked(ctx context.Context, op func(storage.Client) error) error {
	if s.closed {
		return errNoStorage
	}
	s.ensureOpenLocked(ctx)
	if s.client == nil && s.now().Sub(s.openedAt) >= reopenInterval {
		s.openLocked(ctx) // a disk with room again, a volume writable again, a lock released
	}
	for retried := false; ; retried = true {
		if s.client == nil {
			return errNoStorage
		}
		err := s.attemptLocked(op)
		var fault *stateFault
		switch {
		case err == nil:
			s.flushLocked(ctx)
			return nil
		case !errors.As(err, &fault): // a failed read or write: nothing says the file is damaged
			s.unavailableLocked(err)
			return err
		case retried:
			s.dropLocked()
			s.unavailableLocked(err)
			return err
		}
		if !s.recoverLocked(ctx, fault) {
			return err
		}
	}
}

// stateFault is damage, or a file changed underneath the client.
type stateFault struct {
	err     error
	changed bool
}

func (f *stateFault) Error() string { return f.err.Error() }
func (f *stateFault) Unwrap() error { return f.err }

// copyGrace is how long damage found in use is given to become a whole file (an operator's cp in progress)
// before the file is moved aside.
const copyGrace = 100 * time.Millisecond

// attemptLocked runs op once on the client. The file is checked first, since bbolt may panic out of reach
// on a damaged page (see checkStateFile), and compared with what this process's last operation left: a
// file changed since must not reach the client. After op it must be the same file, one transaction on, or
// op's write may have gone to a file no longer at the path.
func (s *stateStore) attemptLocked(op func(storage.Client) error) error {
	if s.path == "" {
		if op == nil {
			return nil
		}
		if err := guardStorage(func() error { return op(s.client) }); err != nil {
			if isDamage(err) {
				return &stateFault{err: err}
			}
			return err
		}
		return nil
	}
	cur, err := checkStateFile(s.path)
	if err != nil && s.seen.info != nil {
		time.Sleep(copyGrace) // a file being copied over is damage only until the copy ends
		cur, err = checkStateFile(s.path)
	}
	if err != nil {
		return &stateFault{err: err}
	}
	if why := s.seen.changedTo(cur); why != "" {
		return &stateFault{err: errors.New("changed underneath: " + why), changed: true}
	}
	if op == nil {
		return nil
	}
	opErr := guardStorage(func() error { return op(s.client) })
	if opErr != nil && isDamage(opErr) {
		return &stateFault{err: opErr}
	}
	after, err := checkStateFile(s.path)
	switch {
	case err != nil:
		return &stateFault{err: err}
	case !s.seen.followedBy(after):
		why := s.seen.changedTo(after)
		if why == "" {
			why = "another writer's transaction"
		}
		return &stateFault{err: errors.New("changed underneath during an operation: " + why), changed: true}
	case !after.unreadable:
		s.seen = after
	}
	return opErr
}

// Close closes the client; nothing persists afterwards.
func (s *stateStore) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	if s.retry != nil {
		s.retry.Stop()
		s.retry = nil
	}
	var err error
	if s.client != nil {
		err = guardStorage(func() error { return s.client.Close(ctx) })
		s.client = nil
	}
	s.mu.Unlock()
	s.hooks.Wait()
	return err
}

// health is the status and the count of damage found and failed operations since start.
func (s *stateStore) health() (storageStatus, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.errors
}

// applyStored applies a state file's values that stand after it opened late or changed underneath: each
// experiment's persisted active variant and run history, as at its registration, unless this process set
// them since start (its own stand). stateStore.onStoredValues calls it.
func (r *registry) applyStored(setHere func(key string) bool) {
	for _, name := range r.experimentNames() {
		e, err := r.experiment(name)
		if err != nil {
			continue
		}
		if !setHere(variantsKey(name)) {
			r.restoreVariants(e)
		}
		if !setHere(activeKey(name)) {
			r.restore(e)
		}
		if !setHere(runsKey(name)) {
			r.runs.loaded(e)
		}
	}
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

// fileState is the state file as checkStateFile found it: its identity (device and inode) and the content
// bbolt reads (the meta page in use and every page reachable from it).
type fileState struct {
	info       os.FileInfo // nil: no file
	unreadable bool        // there, but not readable by this process: only file_storage can tell
	txid       uint64      // the meta page's transaction ID
	sum        uint64      // FNV-64a of the meta page's checksum and the pages reachable from it
}

// changedTo says how the file changed from was to now; "": it did not.
func (was fileState) changedTo(now fileState) string {
	switch {
	case now.unreadable:
		return ""
	case now.info == nil:
		return "the file was deleted or moved away while the collector ran; a fresh one holds the state in force"
	case was.info == nil || !os.SameFile(was.info, now.info):
		return "another file was moved to its place while the collector ran"
	case now.txid != was.txid || now.sum != was.sum:
		return "its content was replaced (copied over) while the collector ran"
	}
	return ""
}

// followedBy tells whether now is was after at most one transaction of this process.
func (was fileState) followedBy(now fileState) bool {
	if now.unreadable {
		return true
	}
	return was.info != nil && now.info != nil && os.SameFile(was.info, now.info) &&
		(now.txid == was.txid+1 || now.txid == was.txid && now.sum == was.sum)
}

// checkStateFile looks for damage in the file before bbolt reads it: an empty file, which bbolt would
// re-initialise silently, a file larger than phoenix_control's state can be (not read), and pages bbolt would
// panic on. bbolt (file_storage sets NoFreelistSync) scans every page reachable from the meta page in use in
// a goroutine of its own when it opens the file and whenever a write transaction rolls back, and a panic there
// cannot be recovered: the collector would crash. Only the meta pages and the pages reachable from the root
// are read. No file yet, or one this process cannot read: no damage found.
func checkStateFile(path string) (fileState, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{}, nil
	}
	if err != nil {
		return fileState{unreadable: true}, nil // file_storage's open reports it
	}
	if err := checkFileInfo(fi); err != nil {
		return fileState{info: fi}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return fileState{unreadable: true}, nil
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil { // the file read, should another have taken the name meanwhile
		return fileState{unreadable: true}, nil
	}
	if err := checkFileInfo(fi); err != nil {
		return fileState{info: fi}, err
	}
	meta, sum, err := checkBolt(boltFile{r: f, size: fi.Size()})
	var rerr *boltReadError
	if errors.As(err, &rerr) {
		return fileState{unreadable: true}, nil
	}
	return fileState{info: fi, txid: meta.txid, sum: sum}, err
}

func checkFileInfo(fi os.FileInfo) error {
	switch {
	case fi.IsDir():
		return errors.New("a directory is in place of the file")
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	case fi.Size() == 0:
		return errors.New("empty file (0 bytes), which bbolt would re-initialise silently: its state is lost")
	case fi.Size() > maxStateFileSize:
		return fmt.Errorf("oversized: %d bytes, more than phoenix_control's state can take (%d MiB); not read", fi.Size(), maxStateFileSize>>20)
	}
	return nil
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

// boltFile reads a bbolt file by its pages.
type boltFile struct {
	r    io.ReaderAt
	size int64
}

// boltReadError is a failed read (not damage: an I/O error, a file shrinking meanwhile).
type boltReadError struct{ err error }

func (e *boltReadError) Error() string { return e.err.Error() }

// read is the n bytes at off; ok false when they are not all in the file.
func (b boltFile) read(off, n uint64) ([]byte, bool, error) {
	if off > uint64(b.size) || n > uint64(b.size)-off {
		return nil, false, nil
	}
	p := make([]byte, n)
	if _, err := b.r.ReadAt(p, int64(off)); err != nil {
		return nil, false, &boltReadError{err: err}
	}
	return p, true, nil
}

// checkBolt checks a bbolt file for what its page scan would panic or report on: no valid meta page, pages
// past the end of the file or the high water mark, pages not what they say they are, elements outside their
// page, pages referenced twice, keys out of order. It returns the meta page in use and a sum of what it read.
func checkBolt(b boltFile) (boltMeta, uint64, error) {
	meta, err := boltMetaOf(b)
	if err != nil {
		return boltMeta{}, 0, err
	}
	w := boltWalk{file: b, pageSize: meta.pageSize, pages: uint64(b.size) / meta.pageSize, hwm: meta.hwm,
		seen: map[uint64]bool{}, sum: fnv.New64a()}
	_, _ = w.sum.Write(binary.LittleEndian.AppendUint64(nil, meta.checksum))
	p, err := w.page(meta.root)
	if err == nil {
		err = w.node(p, meta.root, nil, nil)
	}
	return meta, w.sum.Sum64(), err
}

type boltMeta struct{ pageSize, root, hwm, txid, checksum uint64 }

// boltMetaOf is the meta bbolt uses: the valid one with the higher transaction ID.
func boltMetaOf(b boltFile) (boltMeta, error) {
	m0, err0 := boltMetaAt(b, 0)
	var rerr *boltReadError
	if errors.As(err0, &rerr) {
		return boltMeta{}, err0
	}
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
		m, err := boltMetaAt(b, off)
		if errors.As(err, &rerr) {
			return boltMeta{}, err
		}
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

func boltMetaAt(b boltFile, off uint64) (boltMeta, error) {
	page, ok, err := b.read(off, boltPageHeader+boltMetaSize)
	if err != nil {
		return boltMeta{}, err
	}
	if !ok {
		return boltMeta{}, fmt.Errorf("file too small (%d bytes) for a meta page at %d", b.size, off)
	}
	m := page[boltPageHeader:]
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
	meta := boltMeta{pageSize: uint64(le.Uint32(m[8:])), root: le.Uint64(m[16:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:]),
		checksum: le.Uint64(m[56:])}
	if meta.pageSize < 1024 || meta.pageSize > 1<<24 || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("invalid page size %d", meta.pageSize)
	}
	return meta, nil
}

type boltWalk struct {
	file            boltFile
	pageSize, pages uint64
	hwm             uint64
	seen            map[uint64]bool // each page is read once: the walk reads at most the file
	sum             hash.Hash64
}

// page is page id with its overflow pages.
func (w *boltWalk) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("page %d: out of bounds (high water mark %d)", id, w.hwm)
	}
	if id >= w.pages {
		return nil, fmt.Errorf("page %d: past the end of the file (%d pages)", id, w.pages)
	}
	if w.seen[id] {
		return nil, fmt.Errorf("page %d: referenced twice", id)
	}
	le := binary.LittleEndian
	p, _, err := w.file.read(id*w.pageSize, w.pageSize)
	if err != nil {
		return nil, err
	}
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
	if overflow > 0 {
		rest, _, err := w.file.read((id+1)*w.pageSize, overflow*w.pageSize)
		if err != nil {
			return nil, err
		}
		p = append(p, rest...)
	}
	_, _ = w.sum.Write(p)
	return p, nil
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
