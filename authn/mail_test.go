package authn_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/authn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smtpPeer is a minimal SMTP server speaking the protocol net/smtp clients use:
// EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
type smtpPeer struct {
	ln       net.Listener
	tls      *tls.Config
	startTLS bool

	mu       sync.Mutex
	data     []string
	usedTLS  bool
	authSeen bool
}

func newSMTPPeer(t *testing.T, offerSTARTTLS bool) (*smtpPeer, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &smtpPeer{ln: ln, startTLS: offerSTARTTLS,
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p, pool
}

func (p *smtpPeer) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.session(c)
	}
}

func (p *smtpPeer) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(s string) { _, _ = w.WriteString(s + "\r\n"); _ = w.Flush() }
	reply("220 localhost ESMTP test")
	secure := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			if p.startTLS && !secure {
				reply("250-localhost")
				reply("250 STARTTLS")
			} else {
				reply("250-localhost")
				reply("250 AUTH PLAIN")
			}
		case cmd == "STARTTLS":
			reply("220 ready")
			tc := tls.Server(c, p.tls)
			if tc.Handshake() != nil {
				return
			}
			c, secure = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
			p.mu.Lock()
			p.usedTLS = true
			p.mu.Unlock()
		case strings.HasPrefix(cmd, "AUTH PLAIN"):
			p.mu.Lock()
			p.authSeen = true
			p.mu.Unlock()
			reply("235 ok")
		case strings.HasPrefix(cmd, "MAIL FROM"), strings.HasPrefix(cmd, "RCPT TO"):
			reply("250 ok")
		case cmd == "DATA":
			reply("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			p.mu.Lock()
			p.data = append(p.data, b.String())
			p.mu.Unlock()
			reply("250 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("500 unknown")
		}
	}
}

func TestSMTPMailerUsesSTARTTLS(t *testing.T) {
	peer, roots := newSMTPPeer(t, true)
	m := &authn.SMTPMailer{Addr: peer.ln.Addr().String(), From: "noreply@callshield.example",
		Auth:      smtp.PlainAuth("", "relay-user", "relay-pass", "127.0.0.1"),
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	err := m.Send(context.Background(), authn.Mail{To: "ann@example.com", Subject: "Einladung – Acme", Text: "line one\nline two"})
	require.NoError(t, err)
	peer.mu.Lock()
	defer peer.mu.Unlock()
	assert.True(t, peer.usedTLS, "the connection was upgraded before sending")
	assert.True(t, peer.authSeen)
	require.Len(t, peer.data, 1)
	msg := peer.data[0]
	assert.Contains(t, msg, "To: ann@example.com\r\n")
	assert.Contains(t, msg, "Subject: =?utf-8?q?Einladung_=E2=80=93_Acme?=\r\n")
	assert.Contains(t, msg, "line one\r\nline two\r\n")
}

func TestSMTPMailerRefusesPlaintextRelay(t *testing.T) {
	peer, _ := newSMTPPeer(t, false)
	m := &authn.SMTPMailer{Addr: peer.ln.Addr().String(), From: "noreply@callshield.example"}
	err := m.Send(context.Background(), authn.Mail{To: "ann@example.com", Subject: "x", Text: "secret link"})
	assert.ErrorIs(t, err, authn.ErrNoSTARTTLS)
	peer.mu.Lock()
	defer peer.mu.Unlock()
	assert.Empty(t, peer.data, "nothing was sent in clear")
}

func TestSMTPMailerRejectsHeaderInjection(t *testing.T) {
	m := &authn.SMTPMailer{Addr: "127.0.0.1:1", From: "noreply@callshield.example"}
	err := m.Send(context.Background(), authn.Mail{To: "ann@example.com", Subject: "hi\r\nBcc: eve@example.com", Text: "x"})
	assert.Error(t, err)
	err = m.Send(context.Background(), authn.Mail{To: "ann@example.com\r\nBcc: eve@example.com", Subject: "hi", Text: "x"})
	assert.Error(t, err)
}
