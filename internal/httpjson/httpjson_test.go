// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package httpjson

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWriteNeverAnswersEmpty: a value JSON cannot carry is a 500 with the reason, not a 200 with an
// empty body (which hid every experiment of the answer).
func TestWriteNeverAnswersEmpty(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusOK, map[string]float64{"monthly": math.Inf(1)})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code": "internal"`)
	assert.Contains(t, rec.Body.String(), "unsupported value")

	rec = httptest.NewRecorder()
	Write(rec, http.StatusCreated, map[string]int{"n": 1})
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.JSONEq(t, `{"n":1}`, rec.Body.String())
}

// TestDecode: one object of the type, strictly; every refusal is answered in the error shape.
func TestDecode(t *testing.T) {
	type spec struct {
		Name  string            `json:"name"`
		Steps []struct{ K int } `json:"steps"`
		Extra map[string]int    `json:"extra"`
	}
	for _, c := range []struct {
		ct, body string
		status   int
		want     string
	}{
		{"application/json", `{"name":"a","steps":[{"K":1}],"extra":{"Any":1}}`, 0, ""},
		{"application/json; charset=UTF-8", `{"name":"a"}`, 0, ""},
		{"", `{}`, 415, "unsupported_media_type"},
		{"application/json; charset=utf-16", `{}`, 415, "UTF-8"},
		{"application/json", `{"name":`, 400, "bad_json"},
		{"application/json", `{"nope":1}`, 400, "unknown field"},
		{"application/json", `{"Name":"a"}`, 400, `did you mean \"name\"`},
		{"application/json", `{"steps":[{"k":1}]}`, 400, `steps[0].k: unknown field`},
		{"application/json", `{"name":"a","name":"b"}`, 400, "name: given twice"},
		{"application/json", `{} []`, 400, "one JSON object expected"},
		{"application/json", `{"name":"` + strings.Repeat("x", 100) + `"}`, 413, "body larger than 64 bytes"},
		{"application/json", ``, 400, "empty body"},
		{"application/json", ` null`, 400, "one JSON object expected"},
		{"application/json", `[{"name":"a"}]`, 400, "one JSON object expected"},
		{"application/json", "{\"name\":\"a\xff\"}", 400, "not valid UTF-8"},
		{"application/json", `{"name":"a","extra":{"x":` + strings.Repeat("[", 3) + `1` + strings.Repeat("]", 3) + `}}`, 400, "cannot unmarshal"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		rec := httptest.NewRecorder()
		var v spec
		ok := Decode(rec, req, 64, &v)
		if c.status == 0 {
			assert.True(t, ok, "%s: %s", c.body, rec.Body.String())
			assert.Equal(t, "a", v.Name)
			continue
		}
		assert.False(t, ok, c.body)
		assert.Equal(t, c.status, rec.Code, c.body)
		assert.Contains(t, rec.Body.String(), c.want, c.body)
		assert.Contains(t, rec.Body.String(), `"error": {`, c.body)
	}
}

// TestNesting: a body nested deeper than MaxDepth is refused before anything decodes it; brackets in
// strings do not count.
func TestNesting(t *testing.T) {
	assert.Equal(t, 0, nesting([]byte(`"[[[{"`)))
	assert.Equal(t, 3, nesting([]byte(`{"a":["]\\\"[[",{}]}`)))
	deep := func(n int) string {
		return `{"extra":` + strings.Repeat(`{"a":`, n-2) + `{}` + strings.Repeat(`}`, n-2) + `}`
	}
	type spec struct {
		Extra map[string]any `json:"extra"`
	}
	for n, want := range map[int]int{MaxDepth: http.StatusOK, MaxDepth + 1: http.StatusBadRequest, 10_000: http.StatusBadRequest} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(deep(n)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		var v spec
		if Decode(rec, req, 1<<20, &v) {
			rec.Code = http.StatusOK
		}
		assert.Equal(t, want, rec.Code, "depth %d: %s", n, rec.Body.String())
	}
}
