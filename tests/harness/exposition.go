// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ExposedSample is one sample of a Prometheus text exposition: the series' labels (with __name__), its
// value, and its timestamp (zero when the target sends none).
type ExposedSample struct {
	Labels map[string]string
	Value  float64
	T      time.Time
}

// Scrape GETs a Prometheus text-format endpoint (e.g. a prometheus exporter's /metrics) and returns its
// samples, as a scrape would see them; lines of names not accepted by keep are skipped unparsed.
func Scrape(url string, keep func(name string) bool) ([]ExposedSample, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: status %d: %.200s", url, resp.StatusCode, body)
	}
	var out []ExposedSample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 || !keep(line[:end]) {
			continue
		}
		s, err := parseSampleLine(line)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseSampleLine parses `name{k="v",…} value [timestamp_ms]` of the text format 0.0.4.
func parseSampleLine(line string) (ExposedSample, error) {
	s := ExposedSample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	s.Labels["__name__"] = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return s, fmt.Errorf("bad labels in %q", line)
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						v.WriteByte('\n')
					default:
						v.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest, closed = rest[j+1:], true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value in %q", line)
			}
			s.Labels[name] = v.String()
		}
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return s, fmt.Errorf("bad sample %q", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q: %w", line, err)
	}
	s.Value = v
	if len(fields) == 2 {
		ms, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return s, fmt.Errorf("bad timestamp in %q: %w", line, err)
		}
		s.T = time.UnixMilli(ms)
	}
	return s, nil
}
