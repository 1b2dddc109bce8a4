// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package testcert makes the certificates tests serve TLS with: a self-signed server certificate, or a CA
// issuing server and client certificates for mutual TLS.
package testcert // import "github.com/phoenix-platform/otelcol-phoenix/internal/testcert"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Files are a certificate for 127.0.0.1, valid for an hour and its own CA, as PEM files in a test's temporary
// directory (CertFile is the CA file too), and the same as a tls.Certificate.
type Files struct {
	CertFile, KeyFile string
	Certificate       tls.Certificate
}

// New makes one.
func New(t testing.TB) Files {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	f := Files{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"),
		Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
	writePEM(t, f.CertFile, "CERTIFICATE", der)
	writePEM(t, f.KeyFile, "EC PRIVATE KEY", keyDER)
	return f
}
