// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's `prometheus`) scraping one target on loopback.
type Prometheus struct {
	*Collector // process handling is the same
	addr       string
}

// StartPrometheus starts Prometheus scraping target (host:port) every second as job "otelcol-phoenix",
// evaluating ruleFiles every second. Without the binary the test is skipped, except in CI, where .ci/run
// installs it.
func StartPrometheus(t testing.TB, target string, ruleFiles ...string) *Prometheus {
	t.Helper()
	bin := NeedTool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: otelcol-phoenix
    static_configs:
      - targets: ["%s"]
`, quoteAll(ruleFiles), target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	p := &Prometheus{Collector: StartCmd(t, cmd), addr: addr}
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	if _, err := p.WaitHTTP("http://"+addr+"/-/ready", http.StatusOK, 30*time.Second); err != nil {
		t.Fatalf("prometheus not ready: %v\n%s", err, p.Logs())
	}
	return p
}

func quoteAll(paths []string) string {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = strconv.Quote(p)
	}
	return strings.Join(quoted, ", ")
}

// WaitQuery polls an instant PromQL query until it returns at least one sample.
func (p *Prometheus) WaitQuery(timeout time.Duration, query string) error {
	return p.WaitFor(timeout, func() error {
		n, err := p.query(query)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("query %q: no samples yet", query)
		}
		return nil
	})
}

func (p *Prometheus) query(q string) (int, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("query %q: %w: %s", q, err, body)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", q, r.Error)
	}
	return len(r.Data.Result), nil
}
