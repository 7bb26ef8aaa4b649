package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// Every generated message parses as MIME, uses CRLF only, and falls in
// the 1-250 KB range the issue asks for.
func TestGeneratedMessagesAreValidMIME(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	kinds := map[string]int{}
	for i := 0; i < 300; i++ {
		size := messageSize(r)
		m := genMessage(r, i, size, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		if n := len(m.Raw); n < 1000 || n > 260*1024 {
			t.Fatalf("message %d: %d bytes (asked %d)", i, n, size)
		}
		if bytes.Contains(bytes.ReplaceAll(m.Raw, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("message %d: bare LF", i)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if msg.Header.Get("Subject") != m.Subject {
			t.Errorf("subject %q != %q", msg.Header.Get("Subject"), m.Subject)
		}
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		kinds[mt]++
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(msg.Body, params["boundary"])
			parts := 0
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("message %d part %d: %v", i, parts, err)
				}
				io.Copy(io.Discard, p)
				parts++
			}
			if parts != 2 {
				t.Errorf("message %d: %d parts, want 2", i, parts)
			}
		}
	}
	for _, k := range []string{"text/plain", "multipart/alternative", "multipart/mixed"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among %v", k, kinds)
		}
	}
}
