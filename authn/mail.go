package authn

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"time"
)

// Mail is one message to one recipient. Bodies of account mails carry one-time links,
// which are secrets: a Mail logs and prints its recipient and subject only.
type Mail struct {
	To      string
	Subject string
	Text    string // plain-text body
}

// LogValue logs recipient and subject, never the body.
func (m Mail) LogValue() slog.Value {
	return slog.GroupValue(slog.String("to", m.To), slog.String("subject", m.Subject))
}

// String shows recipient and subject, never the body.
func (m Mail) String() string { return fmt.Sprintf("mail to %s: %q", m.To, m.Subject) }

// Mailer sends account mails (invitations, password resets, notifications).
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Outbox is an in-memory Mailer for tests and the example server: it keeps every mail.
// It is safe for concurrent use.
type Outbox struct {
	mu    sync.Mutex
	mails []Mail
}

// Send keeps m.
func (o *Outbox) Send(ctx context.Context, m Mail) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mails = append(o.mails, m)
	return nil
}

// Mails returns a copy of the mails sent so far, oldest first.
func (o *Outbox) Mails() []Mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Mail(nil), o.mails...)
}

// Last returns the newest mail to an address; ok is false if there is none.
func (o *Outbox) Last(to string) (m Mail, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.mails) - 1; i >= 0; i-- {
		if strings.EqualFold(o.mails[i].To, to) {
			return o.mails[i], true
		}
	}
	return Mail{}, false
}

// SMTPMailer sends mail through an SMTP relay with net/smtp. It always upgrades the
// connection with STARTTLS before authenticating or sending (the one-time links in
// account mails must not cross the network in clear), unless InsecureNoTLS is set for a
// local test relay.
type SMTPMailer struct {
	// Addr is the relay's host:port (usually port 587).
	Addr string
	// From is the envelope and header sender address.
	From string
	// Auth authenticates to the relay after STARTTLS, e.g. smtp.PlainAuth. Optional.
	Auth smtp.Auth
	// TLSConfig configures STARTTLS. If nil, the relay's certificate is verified for the
	// host part of Addr with the system roots.
	TLSConfig *tls.Config
	// Timeout bounds one Send. Default 30 seconds.
	Timeout time.Duration
	// InsecureNoTLS sends without STARTTLS. Only for a relay on localhost.
	InsecureNoTLS bool
}

// ErrNoSTARTTLS: the relay does not offer STARTTLS and InsecureNoTLS is not set.
var ErrNoSTARTTLS = errors.New("authn: SMTP relay does not offer STARTTLS")

// Send delivers m. Header fields are checked against header injection (no CR or LF).
func (s *SMTPMailer) Send(ctx context.Context, m Mail) error {
	for _, f := range []string{m.To, s.From, m.Subject} {
		if strings.ContainsAny(f, "\r\n") {
			return errors.New("authn: mail header contains a line break")
		}
	}
	if _, err := NormalizeEmail(m.To); err != nil {
		return fmt.Errorf("authn: mail recipient: %w", err)
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("authn: SMTP address: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("authn: SMTP dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("authn: SMTP greeting: %w", err)
	}
	defer c.Close()
	if !s.InsecureNoTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return ErrNoSTARTTLS
		}
		cfg := s.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("authn: SMTP STARTTLS: %w", err)
		}
	}
	if s.Auth != nil {
		if err := c.Auth(s.Auth); err != nil {
			return fmt.Errorf("authn: SMTP auth: %w", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("authn: SMTP MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("authn: SMTP RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("authn: SMTP DATA: %w", err)
	}
	if _, err := w.Write(s.message(m)); err != nil {
		return fmt.Errorf("authn: SMTP body: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("authn: SMTP body: %w", err)
	}
	return c.Quit()
}

func (s *SMTPMailer) message(m Mail) []byte {
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := s.From[strings.LastIndexByte(s.From, '@')+1:]
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", s.From)
	fmt.Fprintf(&b, "To: %s\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}
