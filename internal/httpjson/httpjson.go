// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package httpjson is how the extensions' HTTP APIs (phoenix_control, phoenix_fleet) speak JSON: answers
// encoded before they are sent, errors in one shape, and request bodies read strictly.
package httpjson // import "github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// ErrorBody is every error answer: {"error": {"code", "message", "problems"?}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong; Problems, when there are several (every problem of a variant
// definition at its step), lists them.
type ErrorDetail struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Problems any    `json:"problems,omitempty"`
}

// Error answers status with code and msg.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, ErrorBody{ErrorDetail{Code: code, Message: msg}})
}

// Write encodes before it answers: a value that cannot be encoded (a non-finite number that slipped
// through) is a 500 with the reason, never a 200 with an empty body.
func Write(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		if _, isError := v.(ErrorBody); !isError {
			Error(w, http.StatusInternalServerError, "internal", "encoding the answer: "+err.Error())
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// MaxDepth bounds how deep a body nests objects and arrays: configurations are a few levels deep, and what
// decodes them downstream costs the square of the depth.
const MaxDepth = 64

// Decode reads exactly one JSON object of type T: Content-Type application/json (UTF-8, and valid UTF-8),
// at most maxBody bytes, nested at most MaxDepth deep, no unknown field, no key that matches a field only
// ignoring case, no key twice, no trailing data. On failure it has answered the 4xx and returns false.
func Decode[T any](w http.ResponseWriter, r *http.Request, maxBody int64, v *T) bool {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		Error(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send Content-Type: application/json")
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		Error(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "JSON is UTF-8: send charset=utf-8 or none")
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body larger than %d bytes", maxBody))
			return false
		}
		Error(w, http.StatusBadRequest, "bad_body", err.Error())
		return false
	}
	switch trimmed := bytes.TrimLeft(data, " \t\r\n"); {
	case len(trimmed) == 0:
		Error(w, http.StatusBadRequest, "bad_json", "empty body: one JSON object expected")
		return false
	case trimmed[0] != '{':
		Error(w, http.StatusBadRequest, "bad_json", "one JSON object expected")
		return false
	case !utf8.Valid(data):
		Error(w, http.StatusBadRequest, "bad_json", "body is not valid UTF-8")
		return false
	case nesting(data) > MaxDepth:
		Error(w, http.StatusBadRequest, "bad_json", fmt.Sprintf("nested deeper than %d levels", MaxDepth))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		Error(w, http.StatusBadRequest, "bad_json", err.Error())
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		Error(w, http.StatusBadRequest, "bad_json", "one JSON object expected, found more")
		return false
	}
	if err := checkKeys(data, reflect.TypeFor[T]()); err != nil {
		Error(w, http.StatusBadRequest, "bad_json", err.Error())
		return false
	}
	return true
}

// nesting is how deep data nests objects and arrays (brackets inside strings do not count).
func nesting(data []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped, inString = c == '\\', c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
