// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestAttrsIgnoresOrderAndSeparatesValues(t *testing.T) {
	a, b := pcommon.NewMap(), pcommon.NewMap()
	a.PutStr("x", "1")
	a.PutInt("y", 2)
	b.PutInt("y", 2)
	b.PutStr("x", "1")
	assert.Equal(t, Attrs(a), Attrs(b), "order does not matter")
	b.PutInt("y", 3)
	assert.NotEqual(t, Attrs(a), Attrs(b))
	c := pcommon.NewMap()
	c.PutStr("y", "2")
	c.PutStr("x", "1")
	assert.NotEqual(t, Attrs(a), Attrs(c), "an int and a string differ")
	v, _ := a.Get("y")
	assert.Equal(t, Attrs(a)-Attr("y", v), func() uint64 { m := pcommon.NewMap(); m.PutStr("x", "1"); return Attrs(m) }(), "an attribute can be subtracted")
}

func TestSeriesDependsOnEveryPart(t *testing.T) {
	p := pcommon.NewMap()
	p.PutStr("state", "user")
	q := pcommon.NewMap()
	q.PutStr("state", "system")
	base := Series(1, String("m"), p)
	assert.NotEqual(t, base, Series(2, String("m"), p))
	assert.NotEqual(t, base, Series(1, String("n"), p))
	assert.NotEqual(t, base, Series(1, String("m"), q))
	assert.NotEqual(t, base, Series(1, String("m"), pcommon.NewMap()))
}
