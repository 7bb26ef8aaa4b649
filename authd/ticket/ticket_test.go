package ticket

import (
	"testing"
	"time"
)

func TestTicket(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	c := NewChecker(secret)
	tk := Make(secret, "alice", "198.51.100.7", now)
	for _, bad := range []struct {
		t, user, client string
		at              time.Time
		want            error
	}{
		{tk, "bob", "198.51.100.7", now, ErrForged},
		{tk, "alice", "198.51.100.8", now, ErrForged},
		{Make([]byte("another secret!!"), "alice", "198.51.100.7", now), "alice", "198.51.100.7", now, ErrForged},
		{tk, "alice", "198.51.100.7", now.Add(Lifetime), ErrExpired},
		{"s3cret", "alice", "198.51.100.7", now, ErrMalformed},
		{tk[:len(tk)-3], "alice", "198.51.100.7", now, ErrForged},
	} {
		if err := c.Check(bad.t, bad.user, bad.client, bad.at); err != bad.want {
			t.Errorf("Check(%q, %s, %s): %v, want %v", bad.t, bad.user, bad.client, err, bad.want)
		}
	}
	if err := c.Check(tk, "alice", "198.51.100.7", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(tk, "alice", "198.51.100.7", now.Add(2*time.Second)); err != ErrReplayed {
		t.Errorf("second use: %v, want ErrReplayed", err)
	}
}
