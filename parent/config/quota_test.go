package config

import (
	"strings"
	"testing"
)

func TestQuotaStatement(t *testing.T) {
	c, err := Parse("imapd.conf", []byte(
		"quota storage 1G messages 100000\n"+
			"quota user alice storage 5G\n"+
			"quota user \"bob\" messages 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user string
		want Quota
	}{
		{"carol", Quota{1 << 30, 100000}},
		{"alice", Quota{5 << 30, 100000}},
		{"bob", Quota{1 << 30, 0}},
	} {
		if got := c.QuotaFor(tc.user); got != tc.want {
			t.Errorf("QuotaFor(%s) = %+v, want %+v", tc.user, got, tc.want)
		}
	}
	text := c.String()
	for _, l := range []string{"quota storage 1G messages 100000\n", "quota user \"alice\" storage 5G\n", "quota user \"bob\" messages 0\n"} {
		if !strings.Contains(text, l) {
			t.Errorf("String lacks %q:\n%s", l, text)
		}
	}
	if d := Default(); d.QuotaFor("x") != (Quota{}) || strings.Contains(d.String(), "quota") {
		t.Errorf("default has a quota: %+v", d.QuotaFor("x"))
	}
	for _, bad := range []string{
		"quota\n", "quota user alice\n", "quota storage 1G storage 2G\n", "quota storage -1\n",
		"quota messages x\n", "quota storage 1G\nquota messages 5\n", "quota user a storage 1\nquota user a storage 2\n",
		"quota files 3\n",
	} {
		if _, err := Parse("imapd.conf", []byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// metadata admin|comment: the RFC 5464 server annotations, once each.
func TestMetadataStatement(t *testing.T) {
	c, err := Parse("imapd.conf", []byte("metadata admin \"mailto:postmaster@example.org\"\nmetadata comment \"Mail host\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetadataAdmin != "mailto:postmaster@example.org" || c.MetadataComment != "Mail host" {
		t.Errorf("got %q, %q", c.MetadataAdmin, c.MetadataComment)
	}
	if text := c.String(); !strings.Contains(text, "metadata admin \"mailto:postmaster@example.org\"\n") || !strings.Contains(text, "metadata comment \"Mail host\"\n") {
		t.Errorf("String:\n%s", text)
	}
	for _, bad := range []string{"metadata\n", "metadata owner \"x\"\n", "metadata admin\n", "metadata admin \"a\"\nmetadata admin \"b\"\n"} {
		if _, err := Parse("imapd.conf", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
