// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/statefile"
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
	openedAt time.Time      // the last attempt to open the file
	path     string         // the client's file when the storage is a file_storage; "": unknown, never moved
	client   storage.Client // nil: not persisting
	// readValues: the file could not be opened for writing but was read; its values are in known.
	readValues bool
	seen       fileState         // the file as this process's last operation left it
	known      map[string][]byte // the state in force: every value read or written
	set        map[string]bool   // keys this process changed since start: its value stands over a file's
	dirty      map[string]bool   // keys whose value in force the file may not hold (not persisted, a failed write)
	damage     *storageStatus    // the damage reported, which stands until restart
	status     storageStatus
	errors     uint64
	retry      *time.Timer    // tries again while unavailable
	hooks      sync.WaitGroup // onStoredValues running
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
		stored = err == nil && (f.Info != nil || f.Unreadable)
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
		err = openError(err)
		if stored && readOnly(err) && s.path != "" && s.readStoredLocked() {
			err = fmt.Errorf("%w (the file was read: its state is in force; nothing persists)", err)
		}
		s.unavailableLocked(err)
		return
	}
	s.client, s.readValues = client, false
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

// readOnly: the file cannot be opened for writing, but may be read.
func readOnly(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission)
}

// fileStorageBucket is where file_storage keeps a client's values.
var fileStorageBucket = []byte("default")

// readStoredLocked reads the values of a file that cannot be opened for writing (a read-only volume, its
// permissions): what was acknowledged stays in force, though nothing persists until the file can be
// written. The file passed the structural check first, so bbolt reads only what it can.
func (s *stateStore) readStoredLocked() bool {
	err := guardStorage(func() error {
		db, err := bbolt.Open(s.path, 0, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket(fileStorageBucket)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if key := string(k); !s.set[key] && !s.dirty[key] {
					s.known[key] = bytes.Clone(v)
				}
				return nil
			})
		})
	})
	if err != nil {
		s.logger.Warn("state file not readable either: the configured state is in force", zap.String("file", s.path), zap.Error(err))
		return false
	}
	s.readValues = true
	return true
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
	moved, removed, err := statefile.MoveAside(s.path, s.now())
	if err != nil {
		s.unavailableLocked(fmt.Errorf("%w; moving the file aside failed: %w", cause, err))
		return false
	}
	s.logger.Error("state file damaged: moved aside; starting on the configured state with a fresh file",
		zap.String("file", s.path), zap.String("moved_to", moved), zap.Error(cause))
	if len(removed) > 0 {
		s.logger.Info("older damaged state files removed", zap.Strings("files", removed), zap.Int("kept", statefile.KeptAside))
	}
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

// unreadable reports a value the file holds that does not decode: damage, reported until restart. The file
// stays (its structure is sound); the next write of the key replaces the value.
func (s *stateStore) unreadable(key string, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors++
	s.damagedLocked(storageStatus{Status: statusDamaged, Error: fmt.Sprintf("%s: unreadable value, ignored: %v", key, cause)})
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
	case err != nil && s.client == nil && s.readValues: // a file read but not writable: its values stand
		return bytes.Clone(s.known[key]), nil
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
	if err != nil && s.seen.Info != nil {
		time.Sleep(copyGrace) // a file being copied over is damage only until the copy ends
		cur, err = checkStateFile(s.path)
	}
	if err != nil {
		return &stateFault{err: err}
	}
	if why := s.seen.ChangedTo(cur); why != "" {
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
	case !s.seen.FollowedBy(after):
		why := s.seen.ChangedTo(after)
		if why == "" {
			why = "another writer's transaction"
		}
		return &stateFault{err: errors.New("changed underneath during an operation: " + why), changed: true}
	case !after.Unreadable:
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
		r.restoreSwitch(e, !setHere(activeKey(name)), !setHere(runsKey(name)))
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

// The state file's checks are statefile's (phoenix_fleet's state is checked the same way).
type fileState = statefile.State

func checkStateFile(path string) (fileState, error) { return statefile.Check(path) }

func stateFilePath(conf *confmap.Conf, storageID, owner component.ID) (string, error) {
	return statefile.Path(conf, storageID, owner)
}
