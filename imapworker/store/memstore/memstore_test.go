package memstore

import (
	"testing"

	"imapd/imapworker/store"
	"imapd/imapworker/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.User { return NewUser() })
}

func TestBackendSharesUser(t *testing.T) {
	b := New()
	u1, _ := b.Open("alice")
	u2, _ := b.Open("alice")
	u3, _ := b.Open("bob")
	if u1 != u2 || u1 == u3 {
		t.Fatal("Open must return one User per name")
	}
	if _, err := b.Open(""); err == nil {
		t.Fatal("empty user name accepted")
	}
}
