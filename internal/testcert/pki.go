// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package testcert // import "github.com/phoenix-platform/otelcol-phoenix/internal/testcert"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// PKI is a CA and what it signs, valid for an hour, for mutual TLS on loopback. Its files are in Dir: the
// CA as ca.pem, each certificate issued as <name>.pem and <name>-key.pem.
type PKI struct {
	Dir  string
	Pool *x509.CertPool // the CA
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	n    int64
}

// NewPKI makes a CA.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "phoenix-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &PKI{Dir: t.TempDir(), Pool: x509.NewCertPool(), ca: ca, key: key, n: 1}
	p.Pool.AddCert(ca)
	writePEM(t, p.CAFile(), "CERTIFICATE", der)
	return p
}

// CAFile is the CA's PEM file.
func (p *PKI) CAFile() string { return filepath.Join(p.Dir, "ca.pem") }

// Issue signs a certificate for cn and the DNS names: a client certificate, or a server one (also for
// 127.0.0.1); it writes it as <name>.pem and its key as <name>-key.pem.
func (p *PKI) Issue(t testing.TB, name, cn string, dns []string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p.n++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.n), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	writePEM(t, filepath.Join(p.Dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(p.Dir, name+"-key.pem"), "EC PRIVATE KEY", keyDER)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Client is a client's TLS configuration: it trusts the CA and presents certs (none: no certificate).
func (p *PKI) Client(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.Pool, Certificates: certs, MinVersion: tls.VersionTLS12}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}
