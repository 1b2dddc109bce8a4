// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// Runtime variants: the API adds and removes them (persisted, rebuilt at start), the desired-state file
// declares them (rebuilt from the file). Every change goes through switchMu with the switches, so what the
// API answers, what is stored and what runs agree.

func variantsKey(experiment string) string { return "variants/" + experiment }

// variantEvent is published when a variant is added or removed.
type variantEvent struct {
	Experiment string `json:"experiment"`
	Variant    string `json:"variant"`
	Source     string `json:"source"`
}

// addVariant adds a runtime variant, persists the experiment's API variants and announces it; who is the
// client, for the audit line.
func (r *registry) addVariant(ctx context.Context, name string, def control.VariantDefinition, source, who string) (control.ExperimentSnapshot, error) {
	e, err := r.experiment(name)
	if err != nil {
		return control.ExperimentSnapshot{}, err
	}
	r.switchMu.Lock()
	defer r.switchMu.Unlock()
	if err := e.AddVariant(ctx, def, source); err != nil {
		return control.ExperimentSnapshot{}, classifyVariantError(err)
	}
	r.clearRejected(name, def.Name)
	r.logger.Info("audit: variant added", zap.String("experiment", name), zap.String("variant", def.Name),
		zap.String("source", source), zap.String("client", who), zap.Int("processors", len(def.Processors)),
		zap.String("definition", auditDefinition(def.Processors)))
	r.events.Publish(event{Type: "variant_added", Data: variantEvent{Experiment: name, Variant: def.Name, Source: source}})
	var persistErr error
	if source == control.SourceAPI {
		persistErr = r.persistVariants(ctx, name, func(defs []control.VariantDefinition) []control.VariantDefinition {
			return append(deleteDefinition(defs, def.Name), def)
		})
	}
	return r.snapshot(e), persistErr
}

// removeVariant removes a runtime variant, from storage too, and announces it. Through the API (source
// api) a variant of the desired-state file cannot be removed (the file is its source), but one that was
// rejected at start can: it goes from storage.
func (r *registry) removeVariant(ctx context.Context, name, variant, who, by string) (control.ExperimentSnapshot, error) {
	e, err := r.experiment(name)
	if err != nil {
		return control.ExperimentSnapshot{}, err
	}
	if id := r.runs.judging(name, variant); id != "" {
		return control.ExperimentSnapshot{}, fmt.Errorf("%w: run %s is judging %q (cancel it first)", errConflict, id, variant)
	}
	r.switchMu.Lock()
	defer r.switchMu.Unlock()
	v, exists := e.Snapshot().Variant(variant)
	switch {
	case r.isRejected(name, variant) && (!exists || v.Source != control.SourceAPI): // the stored one, not what runs
		r.clearRejected(name, variant)
		var stored []map[string]map[string]any
		defs := r.storedVariants(ctx, name)
		if i := slices.IndexFunc(defs, func(d control.VariantDefinition) bool { return d.Name == variant }); i >= 0 {
			stored = defs[i].Processors
		}
		r.logger.Info("audit: rejected variant removed", zap.String("experiment", name), zap.String("variant", variant),
			zap.String("client", who), zap.Int("processors", len(stored)), zap.String("definition", auditDefinition(stored)))
		return r.snapshot(e), r.persistVariants(ctx, name, func(defs []control.VariantDefinition) []control.VariantDefinition {
			return deleteDefinition(defs, variant)
		})
	case exists && by == control.SourceAPI && v.Source == control.SourceDesiredState:
		return control.ExperimentSnapshot{}, fmt.Errorf("%w: %q comes from the desired-state file (remove it there)", errConflict, variant)
	}
	source := v.Source
	removed, _ := e.VariantSteps(variant) // for the audit line: what went, as it ran (unknown: RemoveVariant says so)
	if err := e.RemoveVariant(ctx, variant); err != nil {
		return control.ExperimentSnapshot{}, classifyVariantError(err)
	}
	def := make([]map[string]map[string]any, 0, len(removed))
	for _, s := range removed {
		def = append(def, map[string]map[string]any{s.ID: s.Config})
	}
	r.logger.Info("audit: variant removed", zap.String("experiment", name), zap.String("variant", variant),
		zap.String("source", source), zap.String("client", who), zap.Int("processors", len(def)),
		zap.String("definition", auditDefinition(def)))
	r.events.Publish(event{Type: "variant_removed", Data: variantEvent{Experiment: name, Variant: variant, Source: source}})
	persistErr := r.persistVariants(ctx, name, func(defs []control.VariantDefinition) []control.VariantDefinition {
		return deleteDefinition(defs, variant)
	})
	return r.snapshot(e), persistErr
}

// maxAuditDefinition bounds the definition an audit line carries: enough to see what changed, never a
// body-sized line per change.
const maxAuditDefinition = 2048 // bytes

// auditDefinition is a chain as compact JSON for the audit line, cut at maxAuditDefinition bytes (on a rune
// boundary) with how long it was.
func auditDefinition(processors []map[string]map[string]any) string {
	if processors == nil {
		processors = []map[string]map[string]any{}
	}
	data, err := json.Marshal(processors)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	if len(data) <= maxAuditDefinition {
		return string(data)
	}
	cut := maxAuditDefinition
	for cut > 0 && !utf8.RuneStart(data[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", data[:cut], len(data))
}

func classifyVariantError(err error) error {
	var invalid *control.InvalidChainError
	switch {
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: %w", errInvalid, err)
	case errors.Is(err, control.ErrUnknownVariant):
		return fmt.Errorf("%w: %w", errNotFound, err)
	case errors.Is(err, control.ErrVariantExists), errors.Is(err, control.ErrVariantLimit), errors.Is(err, control.ErrVariantProtected):
		return fmt.Errorf("%w: %w", errConflict, err)
	}
	return err
}

func deleteDefinition(defs []control.VariantDefinition, name string) []control.VariantDefinition {
	return slices.DeleteFunc(defs, func(d control.VariantDefinition) bool { return d.Name == name })
}

// storedVariants reads an experiment's persisted API variants (none without storage, or when unreadable:
// reported as damage).
func (r *registry) storedVariants(ctx context.Context, name string) []control.VariantDefinition {
	s := r.currentStore()
	if s == nil {
		return nil
	}
	data, err := s.Get(ctx, variantsKey(name))
	if err != nil || len(data) == 0 {
		return nil
	}
	var defs []control.VariantDefinition
	if err := json.Unmarshal(data, &defs); err != nil {
		r.unreadable(variantsKey(name), err)
		return nil
	}
	return defs
}

// persistVariants rewrites an experiment's persisted API variants with change applied (under switchMu).
func (r *registry) persistVariants(ctx context.Context, name string, change func([]control.VariantDefinition) []control.VariantDefinition) error {
	s := r.currentStore()
	if s == nil {
		return nil
	}
	defs := change(r.storedVariants(ctx, name))
	data, err := json.Marshal(defs)
	if err == nil {
		err = s.Set(ctx, variantsKey(name), data)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errNotPersisted, err)
	}
	return nil
}

// restoreVariants rebuilds an experiment's persisted API variants; one that no longer builds is reported
// (GET of the experiment, the log) and skipped, never fatal.
func (r *registry) restoreVariants(e control.Experiment) {
	r.switchMu.Lock()
	defer r.switchMu.Unlock()
	for _, def := range r.storedVariants(context.Background(), e.Name()) {
		if v, ok := e.Snapshot().Variant(def.Name); ok {
			if v.Source != control.SourceAPI { // the config (or the file) took the name since
				r.reject(e.Name(), def.Name, control.SourceAPI, fmt.Errorf("%w: a variant %q is now defined by the %s; "+
					"this one is kept in storage until removed (DELETE it)", control.ErrVariantExists, def.Name, v.Source))
			}
			continue // or already there: the state file reopened
		}
		if err := e.AddVariant(context.Background(), def, control.SourceAPI); err != nil {
			r.reject(e.Name(), def.Name, control.SourceAPI, err)
			continue
		}
		r.clearRejected(e.Name(), def.Name)
		r.events.Publish(event{Type: "variant_added", Data: variantEvent{Experiment: e.Name(), Variant: def.Name, Source: "storage"}})
	}
}

// reject records (and logs) a runtime variant that does not build here.
func (r *registry) reject(experiment, variant, source string, err error) {
	r.logger.Warn("runtime variant not rebuilt", zap.String("experiment", experiment), zap.String("variant", variant),
		zap.String("source", source), zap.Error(err))
	r.mu.Lock()
	defer r.mu.Unlock()
	list := slices.DeleteFunc(r.rejected[experiment], func(x control.RejectedVariant) bool { return x.Name == variant })
	r.rejected[experiment] = append(list, control.RejectedVariant{Name: variant, Source: source, Error: err.Error()})
}

func (r *registry) isRejected(experiment, variant string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.rejected[experiment], func(x control.RejectedVariant) bool { return x.Name == variant })
}

func (r *registry) clearRejected(experiment, variant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected[experiment] = slices.DeleteFunc(r.rejected[experiment], func(x control.RejectedVariant) bool { return x.Name == variant })
}

// snapshot is an experiment's snapshot with the runtime variants that were rejected here.
func (r *registry) snapshot(e control.Experiment) control.ExperimentSnapshot {
	s := e.Snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Rejected = slices.Clone(r.rejected[e.Name()])
	return s
}
