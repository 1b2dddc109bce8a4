// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package hostile attacks the built binary's control API as hostile and broken clients would — slowloris
// headers and bodies, a thousand idle connections, hundreds of event streams, oversized and deeply nested
// bodies, DNS rebinding, header and path fuzzing — and checks that it never answers 5xx, that a rejected
// request changes nothing, that memory and goroutines come back to where they were, and that the collector
// still stops promptly with clients attached.
package hostile

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const experiment = "/api/v1/experiments/experiment%2Fprocess"

type target struct {
	api, addr string
	pprof     string
	pid       int
	serverErr atomic.Int64 // 5xx answers seen
}

// startTarget runs examples/control.yaml with the control API's defaults, plus pprof on loopback to count
// goroutines.
func startTarget(t *testing.T) (*target, *harness.Collector) {
	example := harness.NewControlExample(t)
	pprofPort := harness.FreePort(t)
	extra := filepath.Join(t.TempDir(), "pprof.yaml")
	require.NoError(t, os.WriteFile(extra, []byte(fmt.Sprintf(`extensions:
  pprof:
    endpoint: 127.0.0.1:%d
service:
  extensions: [health_check, file_storage/phoenix, phoenix_control, pprof]
`, pprofPort)), 0o600))
	c := example.Start(t, "--config", extra)
	tg := &target{api: example.API, addr: strings.TrimPrefix(example.API, "http://"),
		pprof: "http://127.0.0.1:" + strconv.Itoa(pprofPort), pid: c.Pid()}
	return tg, c
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

func (tg *target) goroutines(t *testing.T) int {
	resp, err := http.Get(tg.pprof + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := goroutineTotal.FindSubmatch(b)
	require.NotNil(t, m, "goroutine profile")
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// rssMiB is the collector's resident memory.
func (tg *target) rssMiB(t *testing.T) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tg.pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// send makes one request and records a 5xx; it returns the status (0 when the connection failed).
func (tg *target) send(client *http.Client, method, path, host string, header http.Header, body io.Reader) int {
	req, err := http.NewRequest(method, tg.api+path, body)
	if err != nil {
		return 0
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 500 {
		tg.serverErr.Add(1)
	}
	return resp.StatusCode
}

func (tg *target) active(t *testing.T) string {
	resp, err := http.Get(tg.api + experiment)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`"active": "([^"]+)"`).FindSubmatch(b)
	require.NotNil(t, m, string(b))
	return string(m[1])
}

func (tg *target) runs(t *testing.T) string {
	resp, err := http.Get(tg.api + experiment + "/runs")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestHostileClients(t *testing.T) {
	tg, c := startTarget(t)
	client := &http.Client{Timeout: 10 * time.Second}
	time.Sleep(3 * time.Second) // past start-up allocations
	g0, rss0 := tg.goroutines(t), tg.rssMiB(t)
	runs0 := tg.runs(t)
	t.Logf("baseline: %d goroutines, %.1f MiB RSS", g0, rss0)
	json := http.Header{"Content-Type": {"application/json"}}

	t.Run("slowloris", func(t *testing.T) {
		// 50 clients trickle their headers a byte a second, 20 send headers and never the body they announced:
		// the defaults (10 s for headers, 30 s for the request) cut every one off.
		var wg sync.WaitGroup
		var cutOff atomic.Int64
		slow := func(preamble, trickle string) {
			defer wg.Done()
			conn, err := net.Dial("tcp", tg.addr)
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, preamble)
			done := make(chan struct{})
			go func() { // the server closing the connection ends the read
				defer close(done)
				_, _ = io.Copy(io.Discard, conn)
			}()
			for i := 0; i < len(trickle); i++ {
				select {
				case <-done:
					cutOff.Add(1)
					return
				case <-time.After(time.Second):
					_, _ = conn.Write([]byte{trickle[i]})
				}
			}
			select {
			case <-done:
				cutOff.Add(1)
			case <-time.After(45 * time.Second):
			}
		}
		for range 50 {
			wg.Add(1)
			go slow("GET /api/v1/info HTTP/1.1\r\n", "Host: localhost\r\nX-Slow: "+strings.Repeat("a", 120))
		}
		for range 20 {
			wg.Add(1)
			go slow("PUT "+experiment+"/active HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", "")
		}
		// Meanwhile the API serves everyone else.
		assert.Equal(t, http.StatusOK, tg.send(client, http.MethodGet, "/api/v1/info", "", nil, nil))
		wg.Wait()
		assert.Equal(t, int64(70), cutOff.Load(), "every slow client is cut off by the server")
	})

	t.Run("idle connections", func(t *testing.T) {
		var conns []net.Conn
		for range 1000 {
			conn, err := net.Dial("tcp", tg.addr)
			require.NoError(t, err)
			conns = append(conns, conn)
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		assert.Equal(t, http.StatusOK, tg.send(client, http.MethodGet, "/api/v1/info", "", nil, nil), "served next to 1,000 idle connections")
		// All of them are closed by the header timeout.
		closed := 0
		for _, conn := range conns {
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := conn.Read(make([]byte, 1)); err == io.EOF {
				closed++
			}
		}
		assert.Equal(t, 1000, closed, "idle connections are closed by the server")
	})

	t.Run("event streams", func(t *testing.T) {
		const n = 500
		var wg sync.WaitGroup
		var connected, snapshots atomic.Int64
		stop := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(tg.api + "/api/v1/events")
				if err != nil {
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode >= 500 {
					tg.serverErr.Add(1)
				}
				go func() { <-stop; resp.Body.Close() }()
				r := bufio.NewReader(resp.Body)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ": connected\n" {
						connected.Add(1)
					}
					if l == "event: snapshot\n" {
						snapshots.Add(1)
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		close(stop)
		<-done
		assert.Equal(t, int64(n), connected.Load(), "every stream opens")
		assert.Equal(t, int64(n), snapshots.Load(), "every stream gets the next snapshot")
	})

	t.Run("oversized and nested bodies", func(t *testing.T) {
		// Over the 64 KiB limit, under what Go's server drains before it answers (so the 413 is not lost to a
		// reset while the client still writes).
		big := strings.NewReader(`{"variant":"` + strings.Repeat("x", 200<<10) + `"}`)
		assert.Equal(t, http.StatusRequestEntityTooLarge, tg.send(client, http.MethodPut, experiment+"/active", "", json, big))
		deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
		for _, body := range []string{deep, `{"variant":` + deep + `}`, strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)} {
			status := tg.send(client, http.MethodPut, experiment+"/active", "", json, strings.NewReader(body))
			assert.True(t, status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge, "status %d", status)
			status = tg.send(client, http.MethodPost, experiment+"/runs", "", json, strings.NewReader(body))
			assert.True(t, status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge, "status %d", status)
		}
		// Headers over Go's 1 MB limit: 431, read off a raw connection while the rest is still being written.
		conn, err := net.Dial("tcp", tg.addr)
		require.NoError(t, err)
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		go func() {
			_, _ = io.WriteString(conn, "GET /api/v1/info HTTP/1.1\r\nHost: localhost\r\nX-Big: "+strings.Repeat("h", 2<<20)+"\r\n\r\n")
		}()
		status, _ := bufio.NewReader(conn).ReadString('\n')
		assert.Contains(t, status, " 431 ")
	})

	t.Run("DNS rebinding and cross-site writes", func(t *testing.T) {
		for _, h := range []string{"attacker.example", "attacker.example:" + strings.Split(tg.addr, ":")[1], "127.0.0.1.attacker.example"} {
			assert.Equal(t, http.StatusForbidden, tg.send(client, http.MethodGet, experiment, h, nil, nil), h)
			assert.Equal(t, http.StatusForbidden, tg.send(client, http.MethodPut, experiment+"/active", h, json, strings.NewReader(`{"variant":"top20"}`)), h)
			assert.Equal(t, http.StatusForbidden, tg.send(client, http.MethodPost, experiment+"/runs", h, json,
				strings.NewReader(`{"candidate":"top20","duration":"10s"}`)), h)
		}
		evil := http.Header{"Content-Type": {"application/json"}, "Origin": {"http://attacker.example"}}
		assert.Equal(t, http.StatusForbidden, tg.send(client, http.MethodPut, experiment+"/active", "", evil, strings.NewReader(`{"variant":"top20"}`)))
	})

	t.Run("header and path fuzzing", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		methods := []string{"GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "BREW"}
		paths := []string{"/api/v1/experiments/", experiment, experiment + "/active", experiment + "/runs", experiment + "/runs/x/cancel",
			experiment + "/variants/top20/export", "/api/v1/simulators/simulated_process", "/api/v1/simulators/simulated_process/chaos",
			"/api/v1/events", "/api/v1/desired-state", "/metrics", "/ui/", "/ui/../../etc/passwd", "/"}
		junk := func(n int) string {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return string(b)
		}
		for i := range 600 {
			conn, err := net.Dial("tcp", tg.addr)
			require.NoError(t, err)
			path := paths[rng.IntN(len(paths))]
			switch rng.IntN(4) {
			case 0:
				path += url(junk(rng.IntN(40)))
			case 1:
				path = strings.Repeat("/a", rng.IntN(5000))
			case 2:
				path += "?" + url(junk(rng.IntN(200)))
			}
			header := "Host: localhost\r\n"
			for range rng.IntN(6) {
				header += strings.Map(func(r rune) rune {
					if r == '\r' || r == '\n' || r == ':' {
						return 'x'
					}
					return r
				}, junk(1+rng.IntN(20))) + ": " + strings.ReplaceAll(strings.ReplaceAll(junk(rng.IntN(100)), "\r", ""), "\n", "") + "\r\n"
			}
			body := junk(rng.IntN(300))
			if i%3 == 0 {
				header += "Content-Type: application/json\r\n"
				body = `{"variant":` + strconv.Quote(junk(rng.IntN(20))) + `,"profile":"` + junk(5) + `"}`
			}
			req := fmt.Sprintf("%s %s HTTP/1.1\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s", methods[rng.IntN(len(methods))], path, header, len(body), body)
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(conn, req)
			status, _ := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if f := strings.Fields(status); len(f) >= 2 && strings.HasPrefix(f[1], "5") {
				t.Errorf("5xx for %q: %s", req[:min(len(req), 200)], status)
			}
		}
	})

	t.Run("nothing changed, all back to baseline", func(t *testing.T) {
		assert.Zero(t, tg.serverErr.Load(), "no 5xx")
		assert.Equal(t, "full", tg.active(t), "no rejected request switched the variant")
		assert.Equal(t, runs0, tg.runs(t), "no rejected request started a run")
		var g int
		require.NoError(t, c.WaitFor(30*time.Second, func() error {
			g = tg.goroutines(t)
			if g > g0+10 {
				return fmt.Errorf("%d goroutines, %d at the start", g, g0)
			}
			return nil
		}))
		rss := tg.rssMiB(t)
		t.Logf("after: %d goroutines, %.1f MiB RSS (baseline %d, %.1f MiB)", g, rss, g0, rss0)
		assert.Less(t, rss, rss0+64, "memory back near the baseline (the Go runtime keeps some freed heap)")
	})

	t.Run("shutdown with clients attached", func(t *testing.T) {
		for range 20 {
			conn, err := net.Dial("tcp", tg.addr)
			require.NoError(t, err)
			defer conn.Close()
			_, _ = io.WriteString(conn, "PUT "+experiment+"/active HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		}
		for range 20 {
			resp, err := http.Get(tg.api + "/api/v1/events")
			require.NoError(t, err)
			defer resp.Body.Close()
		}
		start := time.Now()
		require.NoError(t, c.Stop(15*time.Second))
		took := time.Since(start)
		t.Logf("stopped in %s with 20 slow bodies and 20 event streams attached", took.Round(time.Millisecond))
		assert.Less(t, took, 2*time.Second, "SIGTERM to exit, whatever the clients do")
	})
}

// url percent-encodes what a request line cannot carry.
func url(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > 0x20 && c < 0x7f && c != '%' && c != '#' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
