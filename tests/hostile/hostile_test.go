// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package hostile attacks the built binary's HTTP APIs — phoenix_control's and phoenix_fleet's, the latter
// both on one server with the agents' OpAMP and on its own api: server — as hostile and broken clients would: slowloris headers and bodies, a thousand idle connections, hundreds of event
// streams, oversized and deeply nested bodies, DNS rebinding, header and path fuzzing. It checks that they
// never answer 5xx, that a rejected request changes nothing, that memory and goroutines come back to where
// they were, and that the collector still stops promptly with clients attached. phoenix_fleet's agents'
// endpoint is also filled past max_connections: the limit holds and the operators' api server still answers.
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

// request is a mutating request with a body the API would take.
type request struct{ method, path, body string }

// target is one API of a running collector, and what the attacks aim at.
type target struct {
	api, addr string
	pprof     string
	pid       int
	serverErr atomic.Int64 // 5xx answers seen

	info    string    // a cheap GET answering 200
	reads   []string  // GETs of state, for the rebinding checks
	writes  []request // the first one also gets the slow and oversized bodies
	maxBody int       // the request body limit
	// events is the event stream; eventWant the line each stream waits for after ": connected" ("": none).
	events, eventWant string
	paths             []string                                           // path fuzzing starts from these
	fuzzBody          func(rng *rand.Rand, junk func(int) string) string // a JSON body in the writes' shape
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
		pprof: "http://127.0.0.1:" + strconv.Itoa(pprofPort), pid: c.Pid(),
		info:  "/api/v1/info",
		reads: []string{experiment},
		writes: []request{{http.MethodPut, experiment + "/active", `{"variant":"top20"}`},
			{http.MethodPost, experiment + "/runs", `{"candidate":"top20","duration":"10s"}`}},
		maxBody: 64 << 10,
		events:  "/api/v1/events", eventWant: "event: snapshot\n",
		paths: []string{"/api/v1/experiments/", experiment, experiment + "/active", experiment + "/runs", experiment + "/runs/x/cancel",
			experiment + "/variants/top20/export", "/api/v1/simulators/simulated_process", "/api/v1/simulators/simulated_process/chaos",
			"/api/v1/events", "/api/v1/desired-state", "/metrics", "/ui/", "/ui/../../etc/passwd", "/"},
		fuzzBody: func(rng *rand.Rand, junk func(int) string) string {
			return `{"variant":` + strconv.Quote(junk(rng.IntN(20))) + `,"profile":"` + junk(5) + `"}`
		},
	}
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

// get is a GET's body, which must answer 200.
func (tg *target) get(t *testing.T, path string) string {
	resp, err := http.Get(tg.api + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
	return string(b)
}

func (tg *target) active(t *testing.T) string {
	b := tg.get(t, experiment)
	m := regexp.MustCompile(`"active": "([^"]+)"`).FindStringSubmatch(b)
	require.NotNil(t, m, b)
	return m[1]
}

func (tg *target) runs(t *testing.T) string { return tg.get(t, experiment+"/runs") }

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// baseline waits out start-up allocations, then measures goroutines and memory.
func (tg *target) baseline(t *testing.T) (int, float64) {
	time.Sleep(3 * time.Second)
	g0, rss0 := tg.goroutines(t), tg.rssMiB(t)
	t.Logf("baseline: %d goroutines, %.1f MiB RSS", g0, rss0)
	return g0, rss0
}

func TestHostileClients(t *testing.T) {
	t.Parallel() // with TestHostileFleet: each waits on its server's timeouts, on a collector of its own
	tg, c := startTarget(t)
	client := &http.Client{Timeout: 10 * time.Second}
	g0, rss0 := tg.baseline(t)
	runs0 := tg.runs(t)

	t.Run("slowloris", func(t *testing.T) { slowloris(t, tg, client) })
	t.Run("idle connections", func(t *testing.T) { idleConnections(t, tg, client) })
	t.Run("event streams", func(t *testing.T) { eventStreams(t, tg) })
	t.Run("oversized and nested bodies", func(t *testing.T) { oversizedAndNested(t, tg, client) })
	t.Run("DNS rebinding and cross-site writes", func(t *testing.T) { rebinding(t, tg, client) })
	t.Run("header and path fuzzing", func(t *testing.T) { fuzzHeadersAndPaths(t, tg) })
	t.Run("nothing changed, all back to baseline", func(t *testing.T) {
		assert.Zero(t, tg.serverErr.Load(), "no 5xx")
		assert.Equal(t, "full", tg.active(t), "no rejected request switched the variant")
		assert.Equal(t, runs0, tg.runs(t), "no rejected request started a run")
		backToBaseline(t, tg, c, g0, rss0)
	})
	t.Run("shutdown with clients attached", func(t *testing.T) { shutdownAttached(t, tg, c) })
}

// slowloris: 50 clients trickle their headers a byte a second, 20 send headers and never the body they
// announced: the defaults (10 s for headers, 30 s for the request) cut every one off.
func slowloris(t *testing.T, tg *target, client *http.Client) {
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
		go slow("GET "+tg.info+" HTTP/1.1\r\n", "Host: localhost\r\nX-Slow: "+strings.Repeat("a", 120))
	}
	for range 20 {
		wg.Add(1)
		go slow(slowBody(tg.writes[0]), "")
	}
	// Meanwhile the API serves everyone else.
	assert.Equal(t, http.StatusOK, tg.send(client, http.MethodGet, tg.info, "", nil, nil))
	wg.Wait()
	assert.Equal(t, int64(70), cutOff.Load(), "every slow client is cut off by the server")
}

// slowBody is a write's headers announcing a body of which only the first byte follows.
func slowBody(w request) string {
	return w.method + " " + w.path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
}

func idleConnections(t *testing.T, tg *target, client *http.Client) {
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
	assert.Equal(t, http.StatusOK, tg.send(client, http.MethodGet, tg.info, "", nil, nil), "served next to 1,000 idle connections")
	// All of them are closed by the header timeout.
	closed := 0
	for _, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	assert.Equal(t, 1000, closed, "idle connections are closed by the server")
}

// eventStreams opens 500 streams; each must open and, when the API sends one unasked, get tg.eventWant.
func eventStreams(t *testing.T, tg *target) {
	const n = 500
	var wg sync.WaitGroup
	var connected, events atomic.Int64
	stop := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(tg.api + tg.events)
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
					if tg.eventWant == "" {
						return
					}
				}
				if l == tg.eventWant {
					events.Add(1)
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
	if tg.eventWant != "" {
		assert.Equal(t, int64(n), events.Load(), "every stream gets %q", tg.eventWant)
	}
}

func oversizedAndNested(t *testing.T, tg *target, client *http.Client) {
	// Over the body limit by less than the socket buffers hold: the rest of a larger one, still being written
	// when the server answers and closes, would be lost to a reset with the 413.
	big := strings.NewReader(`{"pad":"` + strings.Repeat("x", tg.maxBody+128<<10) + `"}`)
	w := tg.writes[0]
	assert.Equal(t, http.StatusRequestEntityTooLarge, tg.send(client, w.method, w.path, "", jsonHeader, big))
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	for _, body := range []string{deep, `{"variant":` + deep + `}`, strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)} {
		for _, w := range tg.writes {
			status := tg.send(client, w.method, w.path, "", jsonHeader, strings.NewReader(body))
			assert.True(t, status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge, "%s %s: status %d", w.method, w.path, status)
		}
	}
	// Headers over Go's 1 MB limit: 431, read off a raw connection while the rest is still being written.
	conn, err := net.Dial("tcp", tg.addr)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		_, _ = io.WriteString(conn, "GET "+tg.info+" HTTP/1.1\r\nHost: localhost\r\nX-Big: "+strings.Repeat("h", 2<<20)+"\r\n\r\n")
	}()
	status, _ := bufio.NewReader(conn).ReadString('\n')
	assert.Contains(t, status, " 431 ")
}

// rebinding: a foreign Host is refused on every read and write, a foreign Origin on every write — each
// write's body one the API would take.
func rebinding(t *testing.T, tg *target, client *http.Client) {
	for _, h := range []string{"attacker.example", "attacker.example:" + strings.Split(tg.addr, ":")[1], "127.0.0.1.attacker.example"} {
		for _, path := range tg.reads {
			assert.Equal(t, http.StatusForbidden, tg.send(client, http.MethodGet, path, h, nil, nil), "GET %s, Host %s", path, h)
		}
		for _, w := range tg.writes {
			assert.Equal(t, http.StatusForbidden, tg.send(client, w.method, w.path, h, jsonHeader, strings.NewReader(w.body)), "%s %s, Host %s", w.method, w.path, h)
		}
	}
	evil := http.Header{"Content-Type": {"application/json"}, "Origin": {"http://attacker.example"}}
	for _, w := range tg.writes {
		assert.Equal(t, http.StatusForbidden, tg.send(client, w.method, w.path, "", evil, strings.NewReader(w.body)), "%s %s, foreign Origin", w.method, w.path)
	}
}

// fuzzHeadersAndPaths sends 600 requests of random methods, paths, headers and bodies, each on a
// connection of its own: none may answer 5xx.
func fuzzHeadersAndPaths(t *testing.T, tg *target) {
	rng := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "BREW"}
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
		path := tg.paths[rng.IntN(len(tg.paths))]
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
		switch {
		case i%3 == 0:
			header += "Content-Type: application/json\r\n"
			body = tg.fuzzBody(rng, junk)
		case i%3 == 1 && strings.HasPrefix(path, "/v1/opamp"): // an OpAMP poll of junk protobuf
			header += "Content-Type: application/x-protobuf\r\n"
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
}

// backToBaseline: goroutines come back to within 10 of the baseline, memory within 64 MiB.
func backToBaseline(t *testing.T, tg *target, c *harness.Collector, g0 int, rss0 float64) {
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
}

// shutdownAttached: SIGTERM with 20 slow bodies and 20 event streams attached still exits within 2 s.
func shutdownAttached(t *testing.T, tg *target, c *harness.Collector) {
	for range 20 {
		conn, err := net.Dial("tcp", tg.addr)
		require.NoError(t, err)
		defer conn.Close()
		_, _ = io.WriteString(conn, slowBody(tg.writes[0]))
	}
	for range 20 {
		resp, err := http.Get(tg.api + tg.events)
		require.NoError(t, err)
		defer resp.Body.Close()
	}
	start := time.Now()
	require.NoError(t, c.Stop(15*time.Second))
	took := time.Since(start)
	t.Logf("stopped in %s with 20 slow bodies and 20 event streams attached", took.Round(time.Millisecond))
	assert.Less(t, took, 2*time.Second, "SIGTERM to exit, whatever the clients do")
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
