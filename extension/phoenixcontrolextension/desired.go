// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// desiredFile is the fleet's desired state, typically a ConfigMap mounted on every node:
//
//	experiments:
//	  experiment/process:
//	    active: top20                              # every node
//	  experiment/other:
//	    rollout: {variant: top20, percent: 25}     # a stable 25% of nodes; the others run the baseline
type desiredFile struct {
	Experiments map[string]desiredExperiment `yaml:"experiments"`
}

type desiredExperiment struct {
	Active  string   `yaml:"active"`
	Rollout *rollout `yaml:"rollout"`
}

type rollout struct {
	Variant string   `yaml:"variant"`
	Percent *float64 `yaml:"percent"` // required: nil (absent, null, an unset template) is an error, not 0%
}

// maxDesiredSize bounds the desired-state file, which is read whole whenever it changes: 1 MiB, what a
// ConfigMap can hold.
const maxDesiredSize = 1 << 20

// parseDesired reads a desired-state file strictly: unknown keys, an entry with both or neither of active
// and rollout, and a percent outside 0..100 are errors, all reported at once.
func parseDesired(data []byte) (desiredFile, error) {
	var f desiredFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty state
		return desiredFile{}, fmt.Errorf("parse: %w", err)
	}
	var errs []error
	for _, name := range sortedKeys(f.Experiments) {
		e := f.Experiments[name]
		switch {
		case e.Active != "" && e.Rollout != nil:
			errs = append(errs, fmt.Errorf("%s: set active or rollout, not both", name))
		case e.Active == "" && e.Rollout == nil:
			errs = append(errs, fmt.Errorf("%s: set active or rollout", name))
		case e.Rollout != nil && e.Rollout.Variant == "":
			errs = append(errs, fmt.Errorf("%s: rollout.variant is required", name))
		case e.Rollout != nil && e.Rollout.Percent == nil:
			errs = append(errs, fmt.Errorf("%s: rollout.percent is required (a number in 0..100)", name))
		case e.Rollout != nil && !(*e.Rollout.Percent >= 0 && *e.Rollout.Percent <= 100): // NaN too
			errs = append(errs, fmt.Errorf("%s: rollout.percent %v: want a number in 0..100", name, *e.Rollout.Percent))
		}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) { // a second document would be silently ignored
		errs = append(errs, errors.New("more than one YAML document: the desired state is one document"))
	}
	return f, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// inRollout decides, stably for a node, whether it is in the first percent of the fleet for an experiment:
// the same node always lands in the same bucket, and raising the percent only adds nodes.
func inRollout(node, experiment string, percent float64) bool {
	h := fnv.New64a()
	_, _ = h.Write([]byte(experiment + "\x00" + node))
	bucket := float64(h.Sum64()%10000) / 100 // 0.00 .. 99.99
	return bucket < percent
}

// variantFor is the variant the file wants on this node for an experiment whose baseline is given.
func (e desiredExperiment) variantFor(node, experiment, baseline string) string {
	if e.Active != "" {
		return e.Active
	}
	if inRollout(node, experiment, *e.Rollout.Percent) {
		return e.Rollout.Variant
	}
	return baseline
}

// desiredState watches the file and applies it. Precedence, lowest first: the experiment's configured
// active variant < a switch persisted in storage < the desired-state file (applied at start, whenever an
// experiment registers, and whenever the file's content changes) < an API switch, which lasts until the file
// changes again.
type desiredState struct {
	path   string
	node   string
	reg    *registry
	logger *zap.Logger

	mu         sync.Mutex
	hash       [32]byte
	hashErr    string      // why the content of hash was rejected; "" when it is current
	readFailed bool        // the last poll could not read the file
	current    desiredFile // the last good file
	status     desiredStatus
}

// desiredStatus is what GET /api/v1/desired-state reports.
type desiredStatus struct {
	Path        string            `json:"path"`
	Node        string            `json:"node"`
	LastApplied time.Time         `json:"last_applied,omitzero"`
	LastError   string            `json:"last_error,omitempty"`
	LastErrorAt time.Time         `json:"last_error_at,omitzero"`
	Applied     map[string]string `json:"applied"` // experiment -> variant this node runs because of the file
	Pending     []string          `json:"pending,omitempty"`
}

func newDesiredState(path, node string, reg *registry, logger *zap.Logger) *desiredState {
	return &desiredState{path: path, node: node, reg: reg, logger: logger,
		status: desiredStatus{Path: path, Node: node, Applied: map[string]string{}}}
}

// poll reads the file; when its content changed, it validates it against the registered experiments and
// applies it whole, or keeps the last good state and reports why.
func (d *desiredState) poll(now time.Time) {
	data, err := readDesired(d.path)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.fail(now, err)
		d.readFailed = true
		return
	}
	sum := sha256.Sum256(data)
	if sum == d.hash {
		if d.readFailed { // the same file back after a failed read: its own verdict holds again
			d.status.LastError = d.hashErr
			if d.hashErr == "" {
				d.status.LastErrorAt = time.Time{}
			}
		}
		d.readFailed = false
		return
	}
	d.readFailed = false
	f, err := parseDesired(data)
	if err == nil {
		err = d.check(f)
	}
	if err != nil {
		d.hash, d.hashErr = sum, err.Error() // report once per content, not every poll
		d.fail(now, err)
		return
	}
	d.hash, d.hashErr, d.current = sum, "", f
	d.status.LastError, d.status.LastErrorAt = "", time.Time{}
	d.applyAll(now)
}

// readDesired reads the file, at most maxDesiredSize bytes of it: a larger file is an error, not read whole.
func readDesired(path string) ([]byte, error) {
	// Non-blocking, then checked: a FIFO or a device in its place would block the poller for good.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDesiredSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxDesiredSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes (1 MiB, what a ConfigMap holds)", path, maxDesiredSize)
	}
	return data, nil
}

func (d *desiredState) fail(now time.Time, err error) {
	if d.status.LastError != err.Error() {
		d.logger.Warn("desired-state file rejected; keeping the last good state", zap.String("path", d.path), zap.Error(err))
	}
	d.status.LastError, d.status.LastErrorAt = err.Error(), now
}

// check rejects a file naming a variant a registered experiment does not have.
func (d *desiredState) check(f desiredFile) error {
	var errs []error
	for _, name := range sortedKeys(f.Experiments) {
		e, err := d.reg.experiment(name)
		if err != nil {
			continue // not on this node (yet): applied when it registers
		}
		want := f.Experiments[name]
		v := want.Active
		if want.Rollout != nil {
			v = want.Rollout.Variant
		}
		if !slices.ContainsFunc(e.Snapshot().Variants, func(s control.VariantStats) bool { return s.Name == v }) {
			errs = append(errs, fmt.Errorf("%s: no variant %q", name, v))
		}
	}
	return errors.Join(errs...)
}

// applyAll applies the current file to every registered experiment (under d.mu).
func (d *desiredState) applyAll(now time.Time) {
	d.status.Pending = nil
	for _, name := range sortedKeys(d.current.Experiments) {
		e, err := d.reg.experiment(name)
		if err != nil {
			d.status.Pending = append(d.status.Pending, name)
			continue
		}
		d.apply(now, e)
	}
}

func (d *desiredState) apply(now time.Time, e control.Experiment) {
	want, ok := d.current.Experiments[e.Name()]
	if !ok {
		return
	}
	snap := e.Snapshot()
	v := want.variantFor(d.node, e.Name(), snap.Baseline)
	// Persisted like any switch: what runs is what a restart starts from.
	if _, err := d.reg.switchActive(context.Background(), e.Name(), v, "desired_state"); err != nil {
		if !errors.Is(err, errNotPersisted) {
			d.fail(now, fmt.Errorf("%s: %w", e.Name(), err))
			return
		}
		d.logger.Warn("desired-state switch not persisted", zap.String("experiment", e.Name()), zap.Error(err))
	}
	d.status.Applied[e.Name()] = v
	d.status.LastApplied = now
}

// registered applies the file to an experiment that registers after it was read.
func (d *desiredState) registered(e control.Experiment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.apply(time.Now(), e)
	d.status.Pending = slices.DeleteFunc(d.status.Pending, func(n string) bool { return n == e.Name() })
}

func (d *desiredState) snapshot() desiredStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.status
	st.Applied = map[string]string{}
	for k, v := range d.status.Applied {
		st.Applied[k] = v
	}
	return st
}
