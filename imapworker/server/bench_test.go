package server

import (
	"testing"
	"time"

	"imapd/imapworker/store"
)

// BenchmarkFetchFlags100k measures FETCH 1:* (UID FLAGS) on a 100k-message
// mailbox over loopback.
func BenchmarkFetchFlags100k(b *testing.B) {
	ts := newTestServer(b)
	u, _ := ts.backend.Open("alice")
	const n = 100000
	for i := 0; i < n; i++ {
		f := store.Flags{}
		if i%3 == 0 {
			f.System = store.FlagSeen | store.FlagAnswered
		}
		u.Append("INBOX", f, time.Time{}, []byte("Subject: x\r\n\r\n"))
	}
	c := ts.login("alice")
	selectInbox(c)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.C("f FETCH 1:* (UID FLAGS)")
		for {
			l, err := c.br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if l[0] == 'f' {
				break
			}
		}
	}
}
