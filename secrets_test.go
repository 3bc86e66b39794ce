package zk_test

// Secrets (credentials, the session password) never leave the handle except
// to the server: not in its logs, not in its errors, not in the formatted
// values of its types. And TLS means a verified server.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zkgo/zk"
	"github.com/zkgo/zk/internal/testserver"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers (the handle's
// goroutines log) and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newSecret returns a recognisable secret that appears nowhere by chance.
func newSecret(t testing.TB, label string) string {
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "s3cret-" + label + "-" + hex.EncodeToString(b[:])
}

// secretForms lists the ways a secret's bytes could show up in text: as
// text, as hex, as base64, and as fmt prints a []byte with %v, %d and %#v
// (for a long enough prefix that a match is no accident).
func secretForms(secret []byte) []string {
	p := secret
	if len(p) > 8 {
		p = p[:8]
	}
	dec := strings.Trim(fmt.Sprint(p), "[]")
	var goHex []string
	for _, c := range p {
		goHex = append(goHex, fmt.Sprintf("0x%x", c))
	}
	forms := []string{
		hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret),
		dec, strings.Join(goHex, ", "),
	}
	if isText(secret) {
		forms = append(forms, string(secret))
	}
	return forms
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return len(b) > 0
}

// requireNoSecret fails if any form of any secret appears in s.
func requireNoSecret(t testing.TB, where, s string, secrets ...[]byte) {
	t.Helper()
	for _, sec := range secrets {
		for _, f := range secretForms(sec) {
			if f != "" && strings.Contains(s, f) {
				t.Errorf("a secret (as %q) appears in %s:\n%s", f, where, s)
			}
		}
	}
}

// TestSecretsNotInLogsOrErrors runs a handle through connect, credentials
// (WithCredentials and AddAuth), a reconnect that replays them, watch
// events, and rejected credentials, with a Debug logger, and then looks for
// the secrets in the log, in the errors and in the state changes.
func TestSecretsNotInLogsOrErrors(t *testing.T) {
	pwA, pwB, pwC, pwD := newSecret(t, "a"), newSecret(t, "b"), newSecret(t, "c"), newSecret(t, "d")
	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := startServer(t, 2)
	ctx := testCtx(t)

	rec := newRecorder()
	c := connect(t, srv.ConnString(), zk.WithLogger(logger), rec.option(),
		zk.WithCredentials(zk.DigestCredential("alice", pwA)))
	require.NoError(t, c.AddAuth(ctx, "digest", []byte("bob:"+pwB)))
	_, err := c.Create(ctx, "/alice", []byte("a"), zk.CreatePersistent, zk.DigestACL(zk.PermAll, "alice", pwA))
	require.NoError(t, err)
	_, err = c.Create(ctx, "/bob", []byte("b"), zk.CreatePersistent, zk.DigestACL(zk.PermAll, "bob", pwB))
	require.NoError(t, err)
	_, _, w, err := c.GetW(ctx, "/alice")
	require.NoError(t, err)
	sessionPw := c.SessionPassword()

	// A reconnect: the credentials are sent again (the nodes stay readable).
	srv.DropConnections()
	cs, _ := awaitChange(t, rec, 2, "SyncConnected after the drop", isEvent(zk.EventSyncConnected))
	_, _, err = c.Get(ctx, "/alice")
	require.NoError(t, err)
	_, _, err = c.Get(ctx, "/bob")
	require.NoError(t, err)
	_, err = c.Set(ctx, "/alice", []byte("x"), -1) // a watch event: Debug log
	require.NoError(t, err)
	awaitEvent(t, w)

	// An AddAuth the server rejects.
	recC := newRecorder()
	cc := connect(t, srv.ConnString(), zk.WithLogger(logger), recC.option())
	errC := cc.AddAuth(ctx, "nosuchscheme", []byte("carol:"+pwC))
	require.ErrorIs(t, errC, zk.ErrAuthFailed)
	csC := recC.waitState(t, zk.StateAuthFailed)

	// Credentials the server rejects at connect.
	recD := newRecorder()
	cd, err := zk.New(srv.ConnString(), zk.WithLogger(logger), recD.option(),
		zk.WithCredentials(zk.Credential{Scheme: "nosuchscheme", Auth: []byte("dave:" + pwD)}))
	require.NoError(t, err)
	csD := recD.waitState(t, zk.StateAuthFailed)
	_, _, errD := cd.Get(ctx, "/")
	require.ErrorIs(t, errD, zk.ErrAuthFailed)
	require.NoError(t, cd.Close())

	// A failed connection attempt: Debug log with the error.
	srv.StopListener(listenerOf(t, srv, c))
	awaitChange(t, rec, len(cs), "SyncConnected on the other listener", isEvent(zk.EventSyncConnected))

	require.NoError(t, c.Close())
	require.NoError(t, cc.Close())

	secrets := [][]byte{[]byte(pwA), []byte(pwB), []byte(pwC), []byte(pwD), sessionPw,
		[]byte("alice:" + pwA), []byte("bob:" + pwB), []byte("carol:" + pwC), []byte("dave:" + pwD)}
	logs := logBuf.String()
	require.Contains(t, logs, "level=DEBUG", "the log has Debug records: the check is not vacuous")
	require.Contains(t, logs, "level=INFO")
	requireNoSecret(t, "the Debug log", logs, secrets...)
	requireNoSecret(t, "the AddAuth error", errC.Error(), secrets...)
	requireNoSecret(t, "the error after rejected credentials", errD.Error(), secrets...)
	for _, ch := range append(append(rec.snapshot(), csC...), csD...) {
		s := fmt.Sprintf("%v %+v %#v", ch, ch, ch)
		if ch.Err != nil {
			s += " " + ch.Err.Error()
		}
		requireNoSecret(t, "a state change", s, secrets...)
	}
}

// TestConnectFailsOnRejectedCredentials: Connect promises an error when
// "the session cannot be had (expired, credentials rejected)". With
// credentials the server rejects, it must not hand back a handle that turns
// AUTH_FAILED a moment later.
func TestConnectFailsOnRejectedCredentials(t *testing.T) {
	srv := startServer(t, 1)
	secret := newSecret(t, "connect")
	rec := newRecorder()
	c, err := zk.Connect(testCtx(t), srv.ConnString(), rec.option(),
		zk.WithCredentials(zk.Credential{Scheme: "nosuchscheme", Auth: []byte(secret)}))
	if err == nil {
		defer c.Close()
		rec.waitState(t, zk.StateAuthFailed)
		t.Fatalf("Connect returned a handle whose credentials were rejected (state now %v): %s",
			c.State(), fmtChanges(rec.snapshot()))
	}
	require.ErrorIs(t, err, zk.ErrAuthFailed)
	requireNoSecret(t, "the Connect error", err.Error(), []byte(secret))
}

// TestSecretsNotInFormattedValues: every way of printing a Conn, a
// Credential or a StateChange hides the secrets, including through slog.
func TestSecretsNotInFormattedValues(t *testing.T) {
	pwA, pwB := newSecret(t, "a"), newSecret(t, "b")
	srv := startServer(t, 1)
	rec := newRecorder()
	c := connect(t, srv.ConnString(), rec.option(), zk.WithCredentials(zk.DigestCredential("alice", pwA)))
	require.NoError(t, c.AddAuth(testCtx(t), "digest", []byte("bob:"+pwB)))
	secrets := [][]byte{[]byte(pwA), []byte(pwB), []byte("alice:" + pwA), []byte("bob:" + pwB), c.SessionPassword()}

	cred := zk.DigestCredential("alice", pwA)
	creds := []zk.Credential{cred, {Scheme: "digest", Auth: []byte("bob:" + pwB)}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%o"} {
		requireNoSecret(t, "Credential "+verb, fmt.Sprintf(verb, cred), secrets...)
		requireNoSecret(t, "*Credential "+verb, fmt.Sprintf(verb, &cred), secrets...)
		requireNoSecret(t, "[]Credential "+verb, fmt.Sprintf(verb, creds), secrets...)
	}
	require.Contains(t, fmt.Sprint(cred), "digest", "the scheme is still shown")

	// Applications log through slog: a Credential handed to a handler must
	// not show its secret either.
	for _, h := range []struct {
		name string
		new  func(io.Writer) slog.Handler
	}{
		{"text", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
		{"JSON", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
	} {
		var buf bytes.Buffer
		slog.New(h.new(&buf)).Info("login", "cred", cred, "creds", creds)
		requireNoSecret(t, "a slog "+h.name+" record", buf.String(), secrets...)
	}

	for _, ch := range rec.snapshot() {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			requireNoSecret(t, "StateChange "+verb, fmt.Sprintf(verb, ch), secrets...)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%s"} {
		s := fmt.Sprintf(verb, c)
		require.Contains(t, s, fmt.Sprintf("0x%x", c.SessionID()))
		requireNoSecret(t, "*Conn "+verb, s, secrets...)
	}
	// %#v reads every field of the handle without its locks: done on a live
	// handle it would also race with the handle's goroutines. Close first.
	require.NoError(t, c.Close())
	requireNoSecret(t, "*Conn %#v", fmt.Sprintf("%#v", c), secrets...)
}

// TestTLSVerifiesServer: WithTLS verifies the server's certificate (chain
// and name) unless InsecureSkipVerify says not to, and no request, so no
// credential, reaches a server that failed verification.
func TestTLSVerifiesServer(t *testing.T) {
	cert, pool := selfSigned(t) // for 127.0.0.1, self-signed
	srv := startServer(t, 1, testserver.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	addr := srv.Addr(0)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("self-signed without RootCAs fails", func(t *testing.T) {
		_, err := zk.Connect(short(), addr, zk.WithTLS(&tls.Config{}))
		require.Error(t, err)
		var unknown x509.UnknownAuthorityError
		var verr *tls.CertificateVerificationError
		require.True(t, errors.As(err, &unknown) || errors.As(err, &verr), "not a verification error: %v", err)
	})
	t.Run("trusted root but wrong name fails", func(t *testing.T) {
		// The certificate names 127.0.0.1 only; "localhost" is not it.
		_, err := zk.Connect(short(), "localhost:"+port, zk.WithTLS(&tls.Config{RootCAs: pool}))
		require.Error(t, err)
		var hostErr x509.HostnameError
		var verr *tls.CertificateVerificationError
		require.True(t, errors.As(err, &hostErr) || errors.As(err, &verr), "not a verification error: %v", err)
	})
	t.Run("trusted root and right name connects", func(t *testing.T) {
		c := connect(t, addr, zk.WithTLS(&tls.Config{RootCAs: pool}))
		_, _, err := c.Get(testCtx(t), "/")
		require.NoError(t, err)
	})
	t.Run("InsecureSkipVerify connects", func(t *testing.T) {
		c := connect(t, "localhost:"+port, zk.WithTLS(&tls.Config{InsecureSkipVerify: true}))
		_, _, err := c.Get(testCtx(t), "/")
		require.NoError(t, err)
	})
	t.Run("nothing is sent to an unverified server", func(t *testing.T) {
		secret := newSecret(t, "tls")
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		require.NoError(t, err)
		got := make(chan []byte, 1)
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(waitTime))
			b, _ := io.ReadAll(nc) // ends when the client gives up
			got <- b
		}()
		t.Cleanup(func() { ln.Close() })
		_, err = zk.Connect(short(), ln.Addr().String(), zk.WithTLS(&tls.Config{}),
			zk.WithCredentials(zk.DigestCredential("eve", secret)))
		require.Error(t, err)
		select {
		case b := <-got:
			require.Empty(t, b, "the handle sent application data to a server it could not verify")
		case <-time.After(waitTime):
			t.Fatal("the fake server saw no connection end")
		}
	})
	t.Run("WithTLS(nil) is not plaintext", func(t *testing.T) {
		// A nil config must not quietly mean "no TLS": that would send the
		// credentials in the clear to whoever answers. Either the option is
		// refused, or the connection is TLS (and so fails against this
		// plaintext server).
		plain := startServer(t, 1)
		c, err := zk.Connect(short(), plain.Addr(0), zk.WithTLS(nil))
		if err == nil {
			c.Close()
			t.Fatal("WithTLS(nil) connected to a plaintext server: it silently disabled TLS")
		}
		require.NotErrorIs(t, err, context.Canceled)
	})
}
