// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package identity hashes what identifies a series: attribute maps (independent of their order), values and
// names, so that components agree on series identity and pay for it once per resource.
package identity // import "github.com/phoenix-platform/otelcol-phoenix/internal/identity"

import (
	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Mix is a 64-bit finalizer (splitmix64): it spreads bits so that sums and XORs of hashes stay well spread.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// String hashes a string.
func String(s string) uint64 { return xxhash.Sum64String(s) }

// Value hashes an attribute value.
func Value(v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return xxhash.Sum64String(v.Str())
	case pcommon.ValueTypeInt:
		return Mix(uint64(v.Int()))
	default:
		return xxhash.Sum64String(v.AsString())
	}
}

// Attr hashes one key/value pair; Attrs is the sum of Attr over a map, so an attribute can be taken out of
// a map's hash by subtracting its Attr.
func Attr(k string, v pcommon.Value) uint64 { return Mix(xxhash.Sum64String(k) ^ Value(v)) }

// Attrs is an order-independent hash of a map's keys and values.
func Attrs(attrs pcommon.Map) uint64 {
	var h uint64
	attrs.Range(func(k string, v pcommon.Value) bool {
		h += Attr(k, v)
		return true
	})
	return h
}

// Keys hashes the values of keys in attrs, in the order of keys (missing keys count as empty).
func Keys(attrs pcommon.Map, keys []string) uint64 {
	var h uint64 = 0xcbf29ce484222325
	for _, k := range keys {
		if v, ok := attrs.Get(k); ok {
			h = Mix(h ^ Value(v))
		} else {
			h = Mix(h)
		}
	}
	return h
}

// Series combines a resource hash, a metric name hash and point attributes into a series identity.
func Series(resource, name uint64, attrs pcommon.Map) uint64 {
	var pointAttrs uint64
	if attrs.Len() > 0 {
		pointAttrs = Attrs(attrs)
	}
	return SeriesOf(resource, name, pointAttrs)
}

// SeriesOf is Series with the point attributes already hashed (Attrs; 0 for none), for callers that combine
// one point with several resource hashes.
func SeriesOf(resource, name, pointAttrs uint64) uint64 {
	h := Mix(resource ^ Mix(name))
	if pointAttrs != 0 {
		h = Mix(h ^ pointAttrs)
	}
	return h
}
