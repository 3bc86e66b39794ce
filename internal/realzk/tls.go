package realzk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// tlsFiles are the key material made for Options.TLS.
type tlsFiles struct {
	keyStore   string // PEM: the server's key, its certificate, the CA
	trustStore string // PEM: the CA certificate
	client     tls.Certificate
	roots      *x509.CertPool
}

// certSpec describes one certificate to issue.
type certSpec struct {
	name   string
	ca     bool
	usages []x509.ExtKeyUsage
	ips    []net.IP
	dns    []string
}

// issued is a certificate with its key, in DER and parsed form.
type issued struct {
	key  *ecdsa.PrivateKey
	der  []byte
	cert *x509.Certificate
}

// issue makes a certificate for spec, signed by parent (self-signed when
// parent is nil). Keys are ECDSA P-256, which ZooKeeper's PEM reader takes.
func issue(spec certSpec, serial int64, parent *issued) (*issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: spec.name, Organization: []string{"realzk test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.usages,
		IPAddresses:           spec.ips,
		DNSNames:              spec.dns,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
	}
	if spec.ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &issued{key: key, der: der, cert: cert}, nil
}

// writeTLS makes a CA, a server and a client certificate, and writes the
// server's key store and trust store as PEM files in dir.
func writeTLS(dir string) (*tlsFiles, error) {
	files, err := makeTLS(dir)
	if err != nil {
		return nil, fmt.Errorf("realzk: making TLS files: %w", err)
	}
	return files, nil
}

// makeTLS does the work of writeTLS.
func makeTLS(dir string) (*tlsFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := issue(certSpec{name: "realzk test CA", ca: true}, 1, nil)
	if err != nil {
		return nil, err
	}
	server, err := issue(certSpec{
		name:   "realzk server",
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ips:    []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		dns:    []string{"localhost"},
	}, 2, ca)
	if err != nil {
		return nil, err
	}
	client, err := issue(certSpec{
		name:   "realzk client",
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, 3, ca)
	if err != nil {
		return nil, err
	}
	serverKey, err := x509.MarshalPKCS8PrivateKey(server.key)
	if err != nil {
		return nil, err
	}
	var keyStore strings.Builder
	for _, b := range []*pem.Block{
		{Type: "PRIVATE KEY", Bytes: serverKey},
		{Type: "CERTIFICATE", Bytes: server.der},
		{Type: "CERTIFICATE", Bytes: ca.der},
	} {
		keyStore.Write(pem.EncodeToMemory(b))
	}
	f := &tlsFiles{
		keyStore:   filepath.Join(dir, "server.pem"),
		trustStore: filepath.Join(dir, "ca.pem"),
		client: tls.Certificate{
			Certificate: [][]byte{client.der, ca.der},
			PrivateKey:  client.key,
			Leaf:        client.cert,
		},
		roots: x509.NewCertPool(),
	}
	f.roots.AddCert(ca.cert)
	if err := os.WriteFile(f.keyStore, []byte(keyStore.String()), 0o600); err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})
	if err := os.WriteFile(f.trustStore, caPEM, 0o644); err != nil {
		return nil, err
	}
	return f, nil
}

// TLSConfig returns a client TLS configuration for the secure ports of an
// ensemble started with Options.TLS: it trusts the test CA and presents a
// client certificate signed by it (CN "realzk client", which the server
// authenticates with its x509 scheme). It returns nil without TLS. Each
// call returns a new value the caller may change.
func (e *Ensemble) TLSConfig() *tls.Config {
	if e.tls == nil {
		return nil
	}
	return &tls.Config{
		RootCAs:      e.tls.roots,
		Certificates: []tls.Certificate{e.tls.client},
		MinVersion:   tls.VersionTLS12,
	}
}

// SecureAddr returns the TLS client address (127.0.0.1:port) of member i,
// or "" when the ensemble was started without Options.TLS. It panics when
// there is no member i.
func (e *Ensemble) SecureAddr(i int) string {
	m, err := e.lookup(i)
	if err != nil {
		panic(err)
	}
	if m.securePort == 0 {
		return ""
	}
	return "127.0.0.1:" + strconv.Itoa(m.securePort)
}

// SecureConnString returns the TLS client addresses of all members,
// comma-separated, or "" without Options.TLS.
func (e *Ensemble) SecureConnString() string {
	if e.tls == nil {
		return ""
	}
	addrs := make([]string, e.Size())
	for i := range addrs {
		addrs[i] = e.SecureAddr(i)
	}
	return strings.Join(addrs, ",")
}
