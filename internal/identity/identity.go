// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package identity hashes what identifies a series: attribute maps (independent of their order), values and
// names, so that components agree on series identity and pay for it once per resource. Keys and values are
// hashed through different functions and every value carries its type, so swapping a key with its value,
// a string with a bool or int of the same text, or an empty value with a missing one gives another hash.
package identity // import "github.com/phoenix-platform/otelcol-phoenix/internal/identity"

import (
	"math"

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

// String hashes a string (a metric name, a key).
func String(s string) uint64 { return xxhash.Sum64String(s) }

// typeTag separates values of different types with the same payload (int 1, double 1, "1", true).
func typeTag(t pcommon.ValueType) uint64 { return (uint64(t) + 1) * 0x9e3779b97f4a7c15 }

// missing stands for an absent key in Keys: unlike every value, it has no payload.
const missing = 0xd6e8feb86659fd93

// Value hashes an attribute value together with its type. Maps are hashed independently of their order,
// slices in order.
func Value(v pcommon.Value) uint64 {
	var payload uint64
	switch v.Type() {
	case pcommon.ValueTypeStr:
		payload = xxhash.Sum64String(v.Str())
	case pcommon.ValueTypeInt:
		payload = uint64(v.Int())
	case pcommon.ValueTypeDouble:
		payload = math.Float64bits(v.Double())
	case pcommon.ValueTypeBool:
		if v.Bool() {
			payload = 1
		}
	case pcommon.ValueTypeBytes:
		payload = xxhash.Sum64(v.Bytes().AsRaw())
	case pcommon.ValueTypeMap:
		payload = Attrs(v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			payload = Mix(payload ^ Value(s.At(i)))
		}
	}
	return Mix(payload ^ typeTag(v.Type()))
}

// Attr hashes one key/value pair; Attrs is the sum of Attr over a map, so an attribute can be taken out of
// a map's hash by subtracting its Attr.
func Attr(k string, v pcommon.Value) uint64 { return Mix(xxhash.Sum64String(k) + Value(v)) }

// Attrs is an order-independent hash of a map's keys and values (0 for an empty map).
func Attrs(attrs pcommon.Map) uint64 {
	var h uint64
	attrs.Range(func(k string, v pcommon.Value) bool {
		h += Attr(k, v)
		return true
	})
	return h
}

// Keys hashes the values of keys in attrs, in the order of keys; a missing key differs from every value.
func Keys(attrs pcommon.Map, keys []string) uint64 {
	var h uint64 = 0xcbf29ce484222325
	for _, k := range keys {
		if v, ok := attrs.Get(k); ok {
			h = Mix(h ^ Value(v))
		} else {
			h = Mix(h ^ missing)
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
