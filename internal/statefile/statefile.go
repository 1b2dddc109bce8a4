// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package statefile checks a file_storage (bbolt) file for damage before bbolt reads it — bbolt panics on a
// damaged page in a goroutine of its own, which no recover reaches — and locates it from the collector's
// effective configuration. phoenix_control and phoenix_fleet keep their small state in such files.
package statefile // import "github.com/phoenix-platform/otelcol-phoenix/internal/statefile"

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	berrors "go.etcd.io/bbolt/errors"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// MaxSize bounds a state file: the state is tens of KiB (bbolt's file 32 KiB), so a larger file is damage or
// not ours, and is not read.
const MaxSize = 16 << 20

// Meta is the page size and root page of a bbolt file's meta page in use (tests damage the file from it).
func Meta(path string) (pageSize, root uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	m, err := boltMetaOf(boltFile{r: f, size: st.Size()})
	return m.pageSize, m.root, err
}

// State is the state file as Check found it: its identity (device and inode) and the content
// bbolt reads (the meta page in use and every page reachable from it).
type State struct {
	Info       os.FileInfo // nil: no file
	Unreadable bool        // there, but not readable by this process: only file_storage can tell
	txid       uint64      // the meta page's transaction ID
	sum        uint64      // FNV-64a of the meta page's checksum and the pages reachable from it
}

// changedTo says how the file changed from was to now; "": it did not.
func (was State) ChangedTo(now State) string {
	switch {
	case now.Unreadable:
		return ""
	case now.Info == nil:
		return "the file was deleted or moved away while the collector ran; a fresh one holds the state in force"
	case was.Info == nil || !os.SameFile(was.Info, now.Info):
		return "another file was moved to its place while the collector ran"
	case now.txid != was.txid || now.sum != was.sum:
		return "its content was replaced (copied over) while the collector ran"
	}
	return ""
}

// followedBy tells whether now is was after at most one transaction of this process.
func (was State) FollowedBy(now State) bool {
	if now.Unreadable {
		return true
	}
	return was.Info != nil && now.Info != nil && os.SameFile(was.Info, now.Info) &&
		(now.txid == was.txid+1 || now.txid == was.txid && now.sum == was.sum)
}

// Check looks for damage in the file before bbolt reads it: an empty file, which bbolt would
// re-initialise silently, a file larger than phoenix_control's state can be (not read), and pages bbolt would
// panic on. bbolt (file_storage sets NoFreelistSync) scans every page reachable from the meta page in use in
// a goroutine of its own when it opens the file and whenever a write transaction rolls back, and a panic there
// cannot be recovered: the collector would crash. Only the meta pages and the pages reachable from the root
// are read. No file yet, or one this process cannot read: no damage found.
func Check(path string) (State, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{Unreadable: true}, nil // file_storage's open reports it
	}
	if err := checkFileInfo(fi); err != nil {
		return State{Info: fi}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return State{Unreadable: true}, nil
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil { // the file read, should another have taken the name meanwhile
		return State{Unreadable: true}, nil
	}
	if err := checkFileInfo(fi); err != nil {
		return State{Info: fi}, err
	}
	meta, sum, err := checkBolt(boltFile{r: f, size: fi.Size()})
	var rerr *boltReadError
	if errors.As(err, &rerr) {
		return State{Unreadable: true}, nil
	}
	return State{Info: fi, txid: meta.txid, sum: sum}, err
}

func checkFileInfo(fi os.FileInfo) error {
	switch {
	case fi.IsDir():
		return errors.New("a directory is in place of the file")
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	case fi.Size() == 0:
		return errors.New("empty file (0 bytes), which bbolt would re-initialise silently: its state is lost")
	case fi.Size() > MaxSize:
		return fmt.Errorf("oversized: %d bytes, more than the state can take (%d MiB); not read", fi.Size(), MaxSize>>20)
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

// Path is where file_storage keeps phoenix_control's client (GetClient in its extension.go):
// <directory>/extension_<type>_<name>, sanitized, or a SHA-256 of that when too long for a file name. The
// directory is read with file_storage's own config and defaults. "": not a file_storage.
func Path(conf *confmap.Conf, storageID, owner component.ID) (string, error) {
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

// Extension returns the storage extension id names among the host's, with an error that says how to fix
// the configuration when it is missing or is not a storage extension.
func Extension(host component.Host, id component.ID) (storage.Extension, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage: extension %s is not configured (add it to service.extensions)", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %s is not a storage extension", id)
	}
	return se, nil
}
