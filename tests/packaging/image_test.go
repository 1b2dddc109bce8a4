// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package packaging

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// hostCABundle is the build host's trust store (Debian's ca-certificates), which the image carries.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// dockerfile is what the tests read from distribution/Dockerfile.
type dockerfile struct {
	from       []string
	copies     []string // arguments of COPY and ADD
	args       map[string]string
	labels     map[string]string
	user       string
	expose     []string
	entrypoint []string
	cmd        []string
}

var labelRE = regexp.MustCompile(`([A-Za-z0-9._-]+)="([^"]*)"`)

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "distribution", "Dockerfile"))
	require.NoError(t, err)
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	d := dockerfile{args: map[string]string{}, labels: map[string]string{}}
	jsonArray := func(s string) []string {
		var v []string
		require.NoError(t, json.Unmarshal([]byte(s), &v), "exec form expected: %s", s)
		return v
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			d.from = append(d.from, rest)
		case "COPY", "ADD":
			d.copies = append(d.copies, instr+" "+rest)
		case "ARG":
			name, def, _ := strings.Cut(rest, "=")
			d.args[name] = def
		case "LABEL":
			for _, m := range labelRE.FindAllStringSubmatch(rest, -1) {
				d.labels[m[1]] = m[2]
			}
		case "USER":
			d.user = rest
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(rest)...)
		case "ENTRYPOINT":
			d.entrypoint = jsonArray(rest)
		case "CMD":
			d.cmd = jsonArray(rest)
		case "ENV", "WORKDIR", "VOLUME", "HEALTHCHECK", "SHELL", "STOPSIGNAL", "ONBUILD", "RUN":
			t.Errorf("Dockerfile: %s is not expected in a scratch image assembled outside Docker: %s", instr, l)
		}
	}
	return d
}

// uidGid parses the Dockerfile's numeric USER.
func (d dockerfile) uidGid(t *testing.T) (int, int) {
	t.Helper()
	u, g, ok := strings.Cut(d.user, ":")
	require.True(t, ok, "USER %q: want uid:gid (scratch has no /etc/passwd)", d.user)
	uid, err := strconv.Atoi(u)
	require.NoError(t, err, "USER %q", d.user)
	gid, err := strconv.Atoi(g)
	require.NoError(t, err, "USER %q", d.user)
	return uid, gid
}

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	assert.Equal(t, []string{"scratch"}, d.from, "FROM scratch only: no base image is pulled")
	assert.Equal(t, []string{"COPY rootfs/ /"}, d.copies, "the image's files are the tree scripts/image-rootfs.sh makes, nothing else")

	uid, gid := d.uidGid(t)
	assert.NotZero(t, uid, "the image must not run as root")
	assert.NotZero(t, gid, "the image must not run as group root")

	assert.Equal(t, []string{"/otelcol-phoenix"}, d.entrypoint)
	require.Len(t, d.cmd, 2)
	assert.Equal(t, "--config", d.cmd[0])

	for _, key := range []string{"title", "description", "source", "licenses", "version", "revision"} {
		assert.NotEmpty(t, d.labels["org.opencontainers.image."+key], "LABEL org.opencontainers.image.%s", key)
	}
	assert.Equal(t, "${VERSION}", d.labels["org.opencontainers.image.version"])
	assert.Equal(t, "${REVISION}", d.labels["org.opencontainers.image.revision"])
	assert.Contains(t, d.args, "VERSION")
	assert.Contains(t, d.args, "REVISION")
	assert.Equal(t, "Apache-2.0", d.labels["org.opencontainers.image.licenses"])
	assert.Equal(t, "https://github.com/phoenix-platform/otelcol-phoenix", d.labels["org.opencontainers.image.source"])

	// The ports the Dockerfile exposes are the ones the image's config listens on, on every interface.
	listens := imageConfigListens(t)
	for _, port := range d.expose {
		assert.Equal(t, "0.0.0.0", listens[port], "EXPOSE %s: the image's config must listen on 0.0.0.0:%s", port, port)
	}
	for _, port := range []string{"4317", "4318", "13133"} {
		assert.Contains(t, d.expose, port)
	}

	// make image tags the image with the one version and passes it to the labels.
	mk := exec.Command("make", "-s", "-n", "-C", harness.RepoRoot(t), "image")
	for _, kv := range os.Environ() { // not the flags of a make this test runs under (make test)
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" && k != "IMAGE" {
			mk.Env = append(mk.Env, kv)
		}
	}
	out, err := mk.CombinedOutput()
	require.NoError(t, err, "%s", out)
	v := version(t)
	assert.Contains(t, string(out), "--build-arg VERSION="+v)
	assert.Contains(t, string(out), "--build-arg REVISION=")
	assert.Contains(t, string(out), "-t otelcol-phoenix:"+v+" ")
	assert.Contains(t, string(out), "-f distribution/Dockerfile")
}

// imageConfigListens maps each port of distribution/image-config.yaml's endpoints to its host.
func imageConfigListens(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "distribution", "image-config.yaml"))
	require.NoError(t, err)
	var cfg any
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	listens := map[string]string{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && k == "endpoint" {
					host, port, err := net.SplitHostPort(s)
					require.NoError(t, err, "endpoint %q", s)
					listens[port] = host
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(cfg)
	return listens
}

// imageTree assembles the image's tree with scripts/image-rootfs.sh from the binary under test.
func imageTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	cmd := exec.Command(filepath.Join(harness.RepoRoot(t), "scripts", "image-rootfs.sh"), dir)
	cmd.Env = append(os.Environ(), "BINARY="+harness.Binary(t))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/image-rootfs.sh:\n%s", out)
	return dir
}

func TestImageTree(t *testing.T) {
	tree := imageTree(t)
	dir := entry{mode: fs.ModeDir | 0o755}
	want := map[string]entry{
		".":                                 dir,
		"otelcol-phoenix":                   {mode: 0o755},
		"otelcol-contrib":                   {mode: fs.ModeSymlink | 0o777, link: "otelcol-phoenix"},
		"otelcol-k8s":                       {mode: fs.ModeSymlink | 0o777, link: "otelcol-phoenix"},
		"etc":                               dir,
		"etc/ssl":                           dir,
		"etc/ssl/certs":                     dir,
		"etc/ssl/certs/ca-certificates.crt": {mode: 0o644},
		"etc/otelcol-contrib":               dir,
		"etc/otelcol-contrib/config.yaml":   {mode: 0o644, source: "distribution/image-config.yaml"},
		"etc/otelcol-phoenix":               dir,
		"etc/otelcol-phoenix/config.yaml":   {mode: fs.ModeSymlink | 0o777, link: "../otelcol-contrib/config.yaml"},
	}
	checkEntries(t, tree, want)

	// Nothing else: the tree is exactly what was reviewed.
	require.NoError(t, filepath.WalkDir(tree, func(path string, _ fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(tree, path)
		if _, ok := want[rel]; !ok {
			t.Errorf("unexpected file in the image tree: %s", rel)
		}
		return err
	}))

	// The image's CMD names a config that resolves inside the tree, and USER can read it (COPY makes it root's).
	d := parseDockerfile(t)
	cfg := filepath.Join(tree, d.cmd[1])
	resolved, err := filepath.EvalSymlinks(cfg)
	require.NoError(t, err, "CMD --config %s", d.cmd[1])
	require.True(t, strings.HasPrefix(resolved, tree+"/"), "CMD's config resolves outside the tree: %s", resolved)
	sameFile(t, resolved, filepath.Join(harness.RepoRoot(t), "distribution", "image-config.yaml"))

	t.Run("static binary", func(t *testing.T) {
		f, err := elf.Open(filepath.Join(tree, d.entrypoint[0]))
		require.NoError(t, err)
		defer f.Close()
		for _, p := range f.Progs {
			assert.NotEqual(t, elf.PT_INTERP, p.Type, "the binary needs a dynamic loader, which scratch lacks")
		}
		libs, err := f.ImportedLibraries()
		require.NoError(t, err)
		assert.Empty(t, libs, "the binary links shared libraries, which scratch lacks")
	})

	t.Run("one version", func(t *testing.T) {
		v := version(t)
		bin := filepath.Join(tree, d.entrypoint[0])
		out, err := exec.Command(bin, "--version").Output()
		require.NoError(t, err)
		assert.Equal(t, "otelcol-phoenix version "+v, strings.TrimSpace(string(out)))
		out, err = exec.Command(bin, "components").Output()
		require.NoError(t, err)
		var comps struct {
			BuildInfo struct {
				Version string `yaml:"version"`
			} `yaml:"buildinfo"`
			Receivers, Processors, Exporters, Extensions, Connectors []struct {
				Name   string `yaml:"name"`
				Module string `yaml:"module"`
			}
		}
		require.NoError(t, yaml.Unmarshal(out, &comps))
		assert.Equal(t, v, comps.BuildInfo.Version, "`components` buildinfo")
		own := 0
		for _, list := range [][]struct {
			Name   string `yaml:"name"`
			Module string `yaml:"module"`
		}{comps.Receivers, comps.Processors, comps.Exporters, comps.Extensions, comps.Connectors} {
			for _, c := range list {
				if strings.HasPrefix(c.Module, "github.com/phoenix-platform/otelcol-phoenix ") {
					own++
					assert.Equal(t, "github.com/phoenix-platform/otelcol-phoenix v"+v, c.Module, "`components`: %s", c.Name)
				}
			}
		}
		assert.GreaterOrEqual(t, own, 4, "otelcol-phoenix's own components in `components`")
	})

	t.Run("trust store", func(t *testing.T) {
		bundle := filepath.Join(tree, "etc/ssl/certs/ca-certificates.crt")
		sameFile(t, bundle, hostCABundle)
		b, err := os.ReadFile(bundle)
		require.NoError(t, err)
		n := 0
		for rest := b; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				assert.Empty(t, bytes.TrimSpace(rest), "the bundle holds something else than PEM certificates")
				break
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if assert.NoError(t, err, "certificate %d", n) {
				assert.True(t, c.IsCA, "certificate %d (%s) is not a CA", n, c.Subject)
			}
			n++
		}
		assert.Greater(t, n, 100, "a system trust store holds well over 100 roots")
	})
}

// image runs the image's tree the way a container runtime runs the image: chrooted into a copy of the tree,
// as the Dockerfile's USER, ENTRYPOINT and CMD, with /proc mounted and /etc/hosts written (both come from the
// runtime), in a mount namespace of its own, with the runtime's default environment and no other.
type image struct {
	root     string
	uid, gid int
	d        dockerfile
}

func newImage(t *testing.T, tree string) *image {
	t.Helper()
	needRoot(t, "running the image's tree chrooted as its USER")
	harness.NeedTool(t, "unshare", "util-linux")
	harness.NeedTool(t, "chroot", "coreutils")
	d := parseDockerfile(t)
	uid, gid := d.uidGid(t)
	root := copyTree(t, tree)
	require.NoError(t, os.Mkdir(filepath.Join(root, "proc"), 0o555))
	writeFile(t, filepath.Join(root, "etc/hosts"), []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"), 0o644)
	return &image{root: root, uid: uid, gid: gid, d: d}
}

// command is ENTRYPOINT followed by args, or by CMD when args is nil.
func (img *image) command(args []string) *exec.Cmd {
	if args == nil {
		args = img.d.cmd
	}
	const script = `set -e
root=$1 spec=$2; shift 2
mount -t proc proc "$root/proc"
exec chroot --userspec="$spec" "$root" "$@"`
	argv := append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", img.root,
		fmt.Sprintf("%d:%d", img.uid, img.gid)}, img.d.entrypoint...)
	cmd := exec.Command("unshare", append(argv, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "HOSTNAME=phoenix-test"}
	return cmd
}

func (img *image) output(t *testing.T, args ...string) string {
	t.Helper()
	out, err := img.command(args).CombinedOutput()
	require.NoError(t, err, "in the image: %s %s\n%s", strings.Join(img.d.entrypoint, " "), strings.Join(args, " "), out)
	return string(out)
}

func TestImageRuns(t *testing.T) {
	tree := imageTree(t)

	t.Run("validate at both config paths", func(t *testing.T) {
		img := newImage(t, tree)
		assert.Equal(t, "otelcol-phoenix version "+version(t), strings.TrimSpace(img.output(t, "--version")))
		img.output(t, append([]string{"validate"}, img.d.cmd...)...)
		img.output(t, "validate", "--config", "/etc/otelcol-contrib/config.yaml")
	})

	// docker run -p 4317:4317 -p 4318:4318 reaches the container on its own interface, not on its loopback: the
	// default config must answer there. Only the ports are changed (free ones), the hosts stay 0.0.0.0.
	t.Run("default config answers on a non-loopback address", func(t *testing.T) {
		img := newImage(t, tree)
		cfg, err := os.ReadFile(filepath.Join(tree, "etc/otelcol-contrib/config.yaml"))
		require.NoError(t, err)
		ports := map[string]int{}
		for _, p := range []string{"4317", "4318", "13133"} {
			ports[p] = harness.FreePort(t)
			old := "0.0.0.0:" + p
			require.Contains(t, string(cfg), old)
			cfg = bytes.ReplaceAll(cfg, []byte(old), []byte("0.0.0.0:"+strconv.Itoa(ports[p])))
		}
		// The runtime's mount of a config over the contrib path: the image's CMD reads it through the symlink.
		writeFile(t, filepath.Join(img.root, "etc/otelcol-contrib/config.yaml"), cfg, 0o644)

		host := nonLoopbackIPv4(t)
		c := harness.StartCmd(t, img.command(nil))
		base := func(port string) string { return "http://" + net.JoinHostPort(host, strconv.Itoa(ports[port])) }
		_, err = c.WaitHTTP(base("13133")+"/", http.StatusOK, 60*time.Second)
		require.NoError(t, err)

		resp, err := http.Post(base("4318")+"/v1/metrics", "application/json", strings.NewReader(`{"resourceMetrics":[]}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "OTLP/HTTP on %s", host)
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(ports["4317"])), 5*time.Second)
		if assert.NoError(t, err, "OTLP/gRPC on %s", host) {
			conn.Close()
		}
		require.NoError(t, c.Stop(30*time.Second))
	})

	// The image's trust store is the one Go's crypto/x509 reads: an otlp_http exporter in the image trusts an
	// https:// server whose certificate is signed by a CA added to the bundle (as update-ca-certificates adds a
	// local CA on the build host), and does not trust it with the bundle as shipped.
	ca := newTestCA(t)
	server := ca.server(t)

	t.Run("TLS exporter trusts a CA in the bundle", func(t *testing.T) {
		img := newImage(t, tree)
		bundle := filepath.Join(img.root, "etc/ssl/certs/ca-certificates.crt")
		b, err := os.ReadFile(bundle)
		require.NoError(t, err)
		writeFile(t, bundle, append(b, ca.pem...), 0o644)
		writeFile(t, filepath.Join(img.root, "etc/otelcol-contrib/config.yaml"), exporterConfig(server.URL), 0o644)

		before := server.requests.Load()
		c := harness.StartCmd(t, img.command(nil))
		require.NoError(t, c.WaitFor(60*time.Second, func() error {
			if server.requests.Load() == before && !strings.Contains(c.Logs(), "x509:") {
				return fmt.Errorf("no OTLP request at %s yet", server.URL)
			}
			return nil
		}))
		assert.NotContains(t, c.Logs(), "x509:")
		assert.Greater(t, server.requests.Load(), before, "no OTLP request reached %s", server.URL)
		require.NoError(t, c.Stop(30*time.Second))
	})

	t.Run("TLS exporter rejects a CA not in the bundle", func(t *testing.T) {
		img := newImage(t, tree)
		// The runtime's mount of a directory over /etc/otelcol-phoenix: CMD's path is then a plain file.
		writeFile(t, filepath.Join(img.root, "etc/otelcol-phoenix/config.yaml"), exporterConfig(server.URL), 0o644)

		before := server.requests.Load()
		c := harness.StartCmd(t, img.command(nil))
		require.NoError(t, c.WaitFor(60*time.Second, func() error {
			if server.requests.Load() > before {
				return nil
			}
			return harness.ExpectContains(c.Logs(), "x509: certificate signed by unknown authority")
		}))
		assert.Contains(t, c.Logs(), "x509: certificate signed by unknown authority")
		assert.Equal(t, before, server.requests.Load(), "a request got through with an untrusted certificate")
		require.NoError(t, c.Stop(30*time.Second))
	})
}

// exporterConfig sends simulated process metrics to endpoint with otlp_http, nothing else listening.
func exporterConfig(endpoint string) []byte {
	return []byte(`receivers:
  simulated_process:
    collection_interval: 1s
    processes: 3
exporters:
  otlp_http:
    endpoint: ` + endpoint + `
    retry_on_failure:
      enabled: false
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [simulated_process]
      exporters: [otlp_http]
`)
}

func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no non-loopback IPv4 address to reach the collector on")
	}
	t.Skip("no non-loopback IPv4 address to reach the collector on")
	return ""
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otelcol-phoenix packaging test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

type tlsServer struct {
	URL      string
	requests atomic.Int64 // OTLP metrics requests received
}

// server starts an https:// OTLP/HTTP endpoint on 127.0.0.1 with a certificate the CA signed.
func (ca *testCA) server(t *testing.T) *tlsServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	s := &tlsServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/metrics" {
			s.requests.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshakes of the untrusted case
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}
