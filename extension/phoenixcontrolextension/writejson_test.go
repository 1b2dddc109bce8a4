// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWriteJSONNeverAnswersEmpty: a value JSON cannot carry is a 500 with the reason, not a 200 with an
// empty body (which hid every experiment of the answer).
func TestWriteJSONNeverAnswersEmpty(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, map[string]float64{"monthly": math.Inf(1)})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code": "internal"`)
	assert.Contains(t, rec.Body.String(), "unsupported value")

	rec = httptest.NewRecorder()
	writeJSON(rec, http.StatusCreated, map[string]int{"n": 1})
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.JSONEq(t, `{"n":1}`, rec.Body.String())
}
