package mutf7

import "testing"

func TestRoundTrip(t *testing.T) {
	pairs := map[string]string{
		"INBOX":              "INBOX",
		"~peter/mail/台北/日本語": "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
		"&":                  "&-",
		"a&b":                "a&-b",
		"Entwürfe":           "Entw&APw-rfe",
		"😀":                  "&2D3eAA-",
		"A&B":                "A&-B",
		"日本語":                "&ZeVnLIqe-",
		"ü&ü":                "&APw-&-&APw-",
	}
	for utf8s, utf7 := range pairs {
		if got := Encode(utf8s); got != utf7 {
			t.Errorf("Encode(%q) = %q, want %q", utf8s, got, utf7)
		}
		if got, err := Decode(utf7); err != nil || got != utf8s {
			t.Errorf("Decode(%q) = %q, %v; want %q", utf7, got, err, utf8s)
		}
	}
	for _, bad := range []string{"&", "&U,BTF", "&AGE-", "&APw-&APw-", "&2D0-", "&APx-", "a\x80b", "&;-", "tab\t", "&Jjo", "&Jjo!-", "&AOk", "\x01"} {
		if got, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) = %q, want error", bad, got)
		}
	}
}
