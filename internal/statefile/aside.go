// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package statefile // import "github.com/phoenix-platform/otelcol-phoenix/internal/statefile"

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// KeptAside is how many damaged files are kept for a post-mortem: a node whose disk keeps damaging its file
// would otherwise fill its state directory, one file per start.
const KeptAside = 3

const asideStamp = "20060102T150405.000Z"

// MoveAside renames a damaged file to <path>.damaged-<UTC time> (never over an earlier one) and removes all
// but the newest KeptAside of them; it returns where the file went and the files removed.
func MoveAside(path string, now time.Time) (moved string, removed []string, err error) {
	stamp := now.UTC().Format(asideStamp)
	moved = path + ".damaged-" + stamp
	for i := 2; ; i++ {
		if _, err := os.Lstat(moved); errors.Is(err, fs.ErrNotExist) {
			break
		}
		moved = fmt.Sprintf("%s.damaged-%s-%d", path, stamp, i)
	}
	if err := os.Rename(path, moved); err != nil {
		return "", nil, err
	}
	aside, err := filepath.Glob(path + ".damaged-*")
	if err != nil || len(aside) <= KeptAside {
		return moved, nil, nil
	}
	slices.Sort(aside) // a -2 after its tie
	slices.SortStableFunc(aside, func(a, b string) int { return asideTime(a).Compare(asideTime(b)) })
	for _, f := range aside[:len(aside)-KeptAside] {
		if os.Remove(f) == nil {
			removed = append(removed, f)
		}
	}
	return moved, removed, nil
}

// asideTime is when a damaged file was moved aside, from its name (its modification time when the name
// says nothing).
func asideTime(path string) time.Time {
	stamp, _, _ := strings.Cut(path[strings.LastIndex(path, ".damaged-")+len(".damaged-"):], "-")
	if t, err := time.Parse(asideStamp, stamp); err == nil {
		return t
	}
	if fi, err := os.Lstat(path); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}
