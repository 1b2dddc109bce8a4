// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

// desiredFile is the fleet's desired state, typically a ConfigMap mounted on every node:
//
//	experiments:
//	  experiment/process:
//	    active: top20                              # every node
//	  experiment/other:
//	    rollout: {variant: top30, percent: 25}     # a stable 25% of nodes; the others run the baseline
//	    variants:                                  # built and measured on every node, no restart
//	      top30: {processors: [{topk: {k: 30}}]}
type desiredFile struct {
	Experiments map[string]desiredExperiment `yaml:"experiments"`
}

type desiredExperiment struct {
	Active  string   `yaml:"active"`
	Rollout *rollout `yaml:"rollout"`
	// Variants are runtime variants every node builds; removed from the file, they are removed.
	Variants map[string]desiredVariant `yaml:"variants"`
}

type desiredVariant struct {
	Processors []map[string]map[string]any `yaml:"processors"`
}

// definition is the variant as the experiment takes it.
func (v desiredVariant) definition(name string) control.VariantDefinition {
	return control.VariantDefinition{Name: name, Processors: v.Processors}
}

// wanted is the variant the entry makes active or rolls out ("" when it only declares variants).
func (e desiredExperiment) wanted() string {
	if e.Rollout != nil {
		return e.Rollout.Variant
	}
	return e.Active
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
	// As for API bodies: building a variant from a deeply nested config costs the square of its depth (and
	// a file is read again at every poll), so the depth is checked before anything is decoded.
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return desiredFile{}, fmt.Errorf("parse: %w", err)
	}
	if yamlDepth(&doc) > httpjson.MaxDepth {
		return desiredFile{}, fmt.Errorf("parse: nested deeper than %d levels", httpjson.MaxDepth)
	}
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
		case e.Active == "" && e.Rollout == nil && e.Variants == nil: // variants: {} removes them all
			errs = append(errs, fmt.Errorf("%s: set active, rollout or variants", name))
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

// yamlDepth is how deep a YAML node nests mappings and sequences (an alias is a leaf here: yaml.v3 bounds
// alias expansion itself).
func yamlDepth(n *yaml.Node) int {
	deepest := 0
	for _, c := range n.Content {
		deepest = max(deepest, yamlDepth(c))
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		return deepest + 1
	}
	return deepest
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
	current    desiredFile // the last good desired state
	content    []byte      // and its text
	status     desiredStatus
	// defined are the variants the file added, by experiment, as they were added: a definition that
	// changes is rebuilt, one that goes is removed.
	defined map[string]map[string]control.VariantDefinition
}

// desiredStatus is what GET /api/v1/desired-state reports.
type desiredStatus struct {
	Path        string            `json:"path"`
	Source      string            `json:"source,omitempty"` // of the state in force: file or opamp
	Node        string            `json:"node"`
	LastApplied time.Time         `json:"last_applied,omitzero"`
	LastError   string            `json:"last_error,omitempty"`
	LastErrorAt time.Time         `json:"last_error_at,omitzero"`
	Applied     map[string]string `json:"applied"` // experiment -> variant this node runs because of the file
	Pending     []string          `json:"pending,omitempty"`
	// Variants are the runtime variants built from the file, by experiment; VariantErrors those that
	// were not, with why (the rest of the file is applied).
	Variants      map[string][]string          `json:"variants,omitempty"`
	VariantErrors map[string]map[string]string `json:"variant_errors,omitempty"`
}

func newDesiredState(path, node string, reg *registry, logger *zap.Logger) *desiredState {
	return &desiredState{path: path, node: node, reg: reg, logger: logger, defined: map[string]map[string]control.VariantDefinition{},
		status: desiredStatus{Path: path, Node: node, Applied: map[string]string{}, Variants: map[string][]string{},
			VariantErrors: map[string]map[string]string{}}}
}

// poll reads the file; when its content changed, it validates it against the registered experiments and
// applies it whole, or keeps the last good state and reports why.
func (d *desiredState) poll(now time.Time) {
	if d.path == "" {
		return // fed by OpAMP only
	}
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
		d.retryVariants()
		return
	}
	d.readFailed = false
	d.hash = sum // judged once per content, not every poll
	d.hashErr = ""
	if err := d.adopt(now, data, sourceFile); err != nil {
		d.hashErr = err.Error()
	}
}

// retryVariants tries again, at an unchanged file, what could not be done with its variants (under d.mu): a
// variant limit since raised, a variant to remove that was active then. Switches are not applied again: an
// API switch lasts until the file changes.
func (d *desiredState) retryVariants() {
	for _, name := range sortedKeys(d.status.VariantErrors) {
		e, err := d.reg.experiment(name)
		if err != nil {
			continue
		}
		want := d.current.Experiments[name]
		failed := map[string]string{}
		d.addVariants(e, want, failed, true)
		d.removeVariants(e, want, failed)
		d.record(name, failed)
	}
}

// Where a desired state comes from.
const (
	sourceFile  = "file"
	sourceOpAMP = "opamp"
)

// offer applies a desired state received from elsewhere than the file (an OpAMP server's remote
// configuration), exactly as a changed file: whole, or not at all with the reason returned.
func (d *desiredState) offer(now time.Time, data []byte, source string) error {
	if len(data) > maxDesiredSize {
		err := fmt.Errorf("%s: desired state larger than %d bytes (1 MiB, what a ConfigMap holds)", source, maxDesiredSize)
		d.mu.Lock()
		d.fail(now, err)
		d.mu.Unlock()
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.adopt(now, data, source)
}

// adopt parses and checks a desired state and applies it whole, or keeps the last good state and reports
// why (under d.mu).
func (d *desiredState) adopt(now time.Time, data []byte, source string) error {
	f, err := parseDesired(data)
	if err == nil {
		err = d.check(f)
	}
	if err != nil {
		d.fail(now, err)
		return err
	}
	d.current, d.content = f, bytes.Clone(data)
	d.status.Source = source
	d.status.LastError, d.status.LastErrorAt = "", time.Time{}
	d.applyAll(now)
	return nil
}

// effective is the desired state in force, as it came (nil before any).
func (d *desiredState) effective() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Clone(d.content)
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
		v := want.wanted()
		if _, declared := want.Variants[v]; v == "" || declared {
			continue // a declared variant that does not build is reported on its own
		}
		if !slices.ContainsFunc(e.Snapshot().Variants, func(s control.VariantStats) bool { return s.Name == v }) {
			errs = append(errs, fmt.Errorf("%s: no variant %q", name, v))
		}
	}
	return errors.Join(errs...)
}

// applyAll applies the current file to every registered experiment (under d.mu), those it no longer
// names included (their variants from the file go).
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
	for _, name := range sortedKeys(d.defined) {
		if _, inFile := d.current.Experiments[name]; inFile || len(d.defined[name]) == 0 {
			continue
		}
		if e, err := d.reg.experiment(name); err == nil {
			d.apply(now, e)
		}
	}
}

func (d *desiredState) apply(now time.Time, e control.Experiment) {
	want, inFile := d.current.Experiments[e.Name()] // gone from the file: its variants go too
	failed := map[string]string{}
	d.addVariants(e, want, failed, false)
	// After the switch: a variant active until then can be rebuilt or removed.
	defer func() {
		d.addVariants(e, want, failed, true)
		d.removeVariants(e, want, failed)
		d.record(e.Name(), failed)
	}()
	if !inFile {
		return
	}
	if want.wanted() == "" {
		d.status.LastApplied = now
		return
	}
	snap := e.Snapshot()
	v := want.variantFor(d.node, e.Name(), snap.Baseline)
	if msg, bad := failed[v]; bad {
		d.fail(now, fmt.Errorf("%s: variant %q not built here, so not switched to: %s", e.Name(), v, msg))
		return
	}
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

// addVariants builds the file's variants of an experiment that are new or whose definition changed,
// recording in failed those that could not be (under d.mu); the others stay applied. A changed variant is
// rebuilt only while it is not active: before the file's switch (which may then make the new definition
// active), or after it (afterSwitch) if it was active until then.
func (d *desiredState) addVariants(e control.Experiment, want desiredExperiment, failed map[string]string, afterSwitch bool) {
	name := e.Name()
	if d.defined[name] == nil {
		d.defined[name] = map[string]control.VariantDefinition{}
	}
	for _, v := range sortedKeys(want.Variants) {
		def := want.Variants[v].definition(v)
		snap := e.Snapshot()
		if have, exists := snap.Variant(v); exists {
			switch {
			case have.Source != control.SourceDesiredState && sameDefinition(e, def):
				delete(failed, v)
				continue // what the file asks for is there (the node it was exported from): nothing to build
			case have.Source != control.SourceDesiredState:
				failed[v] = fmt.Sprintf("%s already has a variant %q (source %s) defined otherwise: the file cannot redefine it", name, v, have.Source)
				continue
			case reflect.DeepEqual(d.defined[name][v], def):
				continue
			case snap.Active == v:
				if afterSwitch {
					failed[v] = "its definition changed while it is active: switch to another variant first, or give the new one another name"
				}
				continue
			}
			if _, err := d.reg.removeVariant(context.Background(), name, v, "desired_state file", control.SourceDesiredState); err != nil && !errors.Is(err, errNotPersisted) {
				failed[v] = err.Error()
				continue
			}
			delete(d.defined[name], v)
		} else if _, tried := failed[v]; tried {
			continue
		}
		if _, err := d.reg.addVariant(context.Background(), name, def, control.SourceDesiredState, "desired_state file"); err != nil {
			failed[v] = err.Error()
			continue
		}
		delete(failed, v)
		d.defined[name][v] = def
	}
}

// sameDefinition says whether the experiment's variant of def's name has def's processors (compared as
// JSON, so that YAML's and JSON's numbers agree).
func sameDefinition(e control.Experiment, def control.VariantDefinition) bool {
	steps, err := e.VariantSteps(def.Name)
	if err != nil || len(steps) != len(def.Processors) {
		return false
	}
	have := make([]map[string]map[string]any, len(steps))
	for i, s := range steps {
		have[i] = map[string]map[string]any{s.ID: s.Config}
	}
	a, errA := json.Marshal(have)
	b, errB := json.Marshal(def.Processors)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// buildVariants builds the file's variants of an experiment that registers, before its persisted switch is
// restored (which may name one of them); the file's own switch applies afterwards (registered).
func (d *desiredState) buildVariants(e control.Experiment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	want, inFile := d.current.Experiments[e.Name()]
	if !inFile {
		return
	}
	failed := map[string]string{}
	d.addVariants(e, want, failed, false)
	d.record(e.Name(), failed)
}

// removeVariants removes the variants the file added that it no longer declares (under d.mu); one still
// active is kept, and reported, until the file switches away from it.
func (d *desiredState) removeVariants(e control.Experiment, want desiredExperiment, failed map[string]string) {
	name := e.Name()
	for _, v := range e.Snapshot().Variants {
		if _, declared := want.Variants[v.Name]; declared || v.Source != control.SourceDesiredState {
			continue
		}
		if v.Active {
			failed[v.Name] = "removed from the file but still active: the file must switch to another variant first"
			continue
		}
		if _, err := d.reg.removeVariant(context.Background(), name, v.Name, "desired_state file", control.SourceDesiredState); err != nil && !errors.Is(err, errNotPersisted) {
			failed[v.Name] = err.Error()
			continue
		}
		delete(d.defined[name], v.Name)
	}
}

// record updates the status's variants of an experiment (under d.mu).
func (d *desiredState) record(name string, failed map[string]string) {
	built := sortedKeys(d.defined[name])
	if len(built) == 0 {
		delete(d.status.Variants, name)
	} else {
		d.status.Variants[name] = built
	}
	if len(failed) == 0 {
		delete(d.status.VariantErrors, name)
		return
	}
	errs := make(map[string]string, len(failed))
	for k, v := range failed {
		errs[k] = v
		if d.status.VariantErrors[name][k] != v { // once per error, not at every retry
			d.logger.Warn("desired-state variant not applied", zap.String("experiment", name), zap.String("variant", k), zap.String("error", v))
		}
	}
	d.status.VariantErrors[name] = errs
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
	st.Applied = maps.Clone(d.status.Applied)
	st.Variants = maps.Clone(d.status.Variants)
	st.VariantErrors = map[string]map[string]string{}
	for k, v := range d.status.VariantErrors {
		st.VariantErrors[k] = maps.Clone(v)
	}
	return st
}
