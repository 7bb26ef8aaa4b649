package config

import (
	"strings"
	"testing"
	"time"
)

func TestProxyStatements(t *testing.T) {
	c, err := Parse("t", []byte(`
proxy backend b1 address 10.0.0.1:143
proxy backend b2 address "[2001:db8::2]:143" weight 3
proxy master user "imapproxy"
proxy secret "/etc/imapd/proxy.secret"
proxy check interval 5
proxy tls ca "/etc/imapd/backend-ca.pem"
`))
	if err != nil {
		t.Fatal(err)
	}
	px := c.Proxy
	if !c.IsProxy() || len(px.Backends) != 2 || px.Backends[1] != (Backend{"b2", "[2001:db8::2]:143", 3}) ||
		px.Backends[0].Weight != 1 || px.Master() != "imapproxy" || px.Interval() != 5*time.Second || px.TLSCA != "/etc/imapd/backend-ca.pem" {
		t.Fatalf("parsed %+v", px)
	}
	// imapd -n prints what Parse reads back.
	c2, err := Parse("t", []byte(c.String()))
	if err != nil || c2.String() != c.String() {
		t.Fatalf("round trip: %v\n%s\n%s", err, c, c2)
	}
	b, err := Parse("t", []byte("proxy trusted 10.0.0.9 192.168.1.0/24\nproxy secret s\n"))
	if err != nil || len(b.Proxy.Trusted) != 2 || b.IsProxy() || b.Proxy.Trusted[0].String() != "10.0.0.9/32" {
		t.Fatalf("trusted: %v %+v", err, b)
	}
	for _, bad := range []string{
		"proxy backend b1 address 10.0.0.1\nproxy secret s",
		"proxy backend b1 address 10.0.0.1:143",
		"proxy backend b1 address 10.0.0.1:143 weight 0\nproxy secret s",
		"proxy backend b/1 address 10.0.0.1:143\nproxy secret s",
		"proxy backend b1 address 10.0.0.1:143\nproxy backend b1 address 10.0.0.2:143\nproxy secret s",
		"proxy trusted nowhere\nproxy secret s",
		"proxy trusted\nproxy secret s",
		"proxy trusted 10.0.0.1\nproxy backend b1 address 10.0.0.1:143\nproxy secret s",
		"proxy frobnicate",
		"proxy tls ca x\nproxy trusted 10.0.0.1\nproxy secret s",
	} {
		if _, err := Parse("t", []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		} else if strings.Contains(err.Error(), "panic") {
			t.Error(err)
		}
	}
}
