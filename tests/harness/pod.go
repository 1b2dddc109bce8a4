// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const serviceAccountDir = "/run/secrets/kubernetes.io/serviceaccount"

// InPod rewrites cmd to run as if inside a Kubernetes pod: in a private mount namespace where a tmpfs hides
// /run and holds a service-account mount (ca.crt, token, namespace), which components such as kubelet_stats
// read from a fixed path. The host's /run is untouched. It needs root and unshare(1); otherwise it skips
// (fails in CI).
func InPod(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("emulating a pod needs root and unshare(1): uid %d, %v", os.Geteuid(), err)
		}
		t.Skip("emulating a pod's service-account mount needs root and unshare(1)")
	}
	sa := t.TempDir()
	writeFile(t, filepath.Join(sa, "ca.crt"), selfSignedCA(t))
	writeFile(t, filepath.Join(sa, "token"), []byte("test-token"))
	writeFile(t, filepath.Join(sa, "namespace"), []byte("observability"))

	script := `set -e
mount -t tmpfs tmpfs /run
mkdir -p ` + serviceAccountDir + `
cp "$0"/* ` + serviceAccountDir + `/
exec "$@"`
	args := append([]string{"--mount", "--propagation", "private", "sh", "-c", script, sa, cmd.Path}, cmd.Args[1:]...)
	wrapped := exec.Command(unshare, args...)
	wrapped.Env = cmd.Env
	wrapped.Dir = cmd.Dir
	return wrapped
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func selfSignedCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubernetes-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
