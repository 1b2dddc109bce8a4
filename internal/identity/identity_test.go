// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestNoCollisionsByConstruction checks the cases a symmetric or untyped hash confuses, over many random
// keys and values: swapped key and value, a key equal to its value, typed values of the same text, empty
// vs missing, and value permutations across keys.
func TestNoCollisionsByConstruction(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string { return strconv.FormatUint(rng.Uint64()%1000, 36) }
	for range 2000 {
		a, b := word(), word()
		if a == b {
			continue
		}
		m1, m2 := pcommon.NewMap(), pcommon.NewMap()
		m1.PutStr(a, b)
		m2.PutStr(b, a)
		require.NotEqual(t, Attrs(m1), Attrs(m2), "{%s:%s} vs {%s:%s}", a, b, b, a)

		self := pcommon.NewMap()
		self.PutStr(a, a)
		require.NotZero(t, Attrs(self), "{%s:%s} vs {}", a, a)

		p, q := pcommon.NewMap(), pcommon.NewMap()
		p.PutStr("x", a)
		p.PutStr("y", b)
		q.PutStr("x", b)
		q.PutStr("y", a)
		require.NotEqual(t, Attrs(p), Attrs(q), "values swapped across keys")

		n := int64(rng.Uint64() % 100)
		typed := []pcommon.Value{
			pcommon.NewValueStr(strconv.FormatInt(n, 10)), pcommon.NewValueInt(n),
			pcommon.NewValueDouble(float64(n)), pcommon.NewValueBool(n%2 == 1),
			pcommon.NewValueStr(strconv.FormatBool(n%2 == 1)), pcommon.NewValueBytes(),
			pcommon.NewValueEmpty(), pcommon.NewValueStr(""),
		}
		typed[5].Bytes().FromRaw([]byte(strconv.FormatInt(n, 10)))
		seen := map[uint64]int{}
		for i, v := range typed {
			h := Value(v)
			j, dup := seen[h]
			require.False(t, dup, "%s %q and %s %q hash alike", v.Type(), v.AsString(), typed[j].Type(), typed[j].AsString())
			seen[h] = i
		}
	}
}

func TestKeysSeparatesMissingFromEmptyAndZero(t *testing.T) {
	t.Parallel()
	empty := pcommon.NewMap()
	zero := pcommon.NewMap()
	zero.PutInt("pid", 0)
	blank := pcommon.NewMap()
	blank.PutStr("pid", "")
	keys := []string{"pid"}
	hs := map[uint64]string{}
	for name, m := range map[string]pcommon.Map{"missing": empty, "int 0": zero, "empty string": blank} {
		h := Keys(m, keys)
		require.NotContains(t, hs, h, "%s collides with %s", name, hs[h])
		hs[h] = name
	}
	// Order of keys matters in Keys, not in Attrs.
	ab := pcommon.NewMap()
	ab.PutStr("a", "1")
	ab.PutStr("b", "2")
	assert.NotEqual(t, Keys(ab, []string{"a", "b"}), Keys(ab, []string{"b", "a"}))
}
