package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Flags are the seed's command-line options, which override the file. A
// zero field was not given on the command line.
type Flags struct {
	Port        int    // -p, --port
	Host        string // -h, --host
	Storage     string // -s, --storage: memory | maildir
	MaildirPath string // --maildir-path
	TLS         bool   // --tls: implicit TLS on the -h/-p listener
	Cert        string // --cert
	Key         string // --key
	Fork        bool   // --fork: accepted; privilege separation is always on
	ConfigFile  string // -c, --config (DefaultPath when not given)
	CheckOnly   bool   // -n: check the configuration, print it, exit
}

type intFlag struct{ p *int }

func (f intFlag) String() string {
	if f.p == nil || *f.p == 0 {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f intFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port %q", s)
	}
	*f.p = n
	return nil
}

// RegisterFlags defines the short and long forms of each option on fs (Go's
// flag package takes -name and --name alike).
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	for _, n := range []string{"p", "port"} {
		fs.Var(intFlag{&f.Port}, n, "listen on `port` (replaces the configured listeners)")
	}
	for _, n := range []string{"h", "host"} {
		fs.StringVar(&f.Host, n, "", "listen on `address` (replaces the configured listeners)")
	}
	for _, n := range []string{"s", "storage"} {
		fs.StringVar(&f.Storage, n, "", "storage backend: memory or maildir")
	}
	fs.StringVar(&f.MaildirPath, "maildir-path", "", "maildir base `directory`: mail of user U is in DIR/U")
	fs.BoolVar(&f.TLS, "tls", false, "implicit TLS on the -h/-p listener (needs --cert and --key)")
	fs.StringVar(&f.Cert, "cert", "", "TLS certificate `file` (PEM)")
	fs.StringVar(&f.Key, "key", "", "TLS private key `file` (PEM)")
	fs.BoolVar(&f.Fork, "fork", false, "accepted for compatibility: privilege separation is always on")
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&f.ConfigFile, n, DefaultPath, "configuration `file`")
	}
	fs.BoolVar(&f.CheckOnly, "n", false, "check the configuration, print it and exit")
	return f
}

// ApplyFlags overrides c with the options given. -h, -p or --tls replace all
// listeners by one: on -h (default 127.0.0.1), port -p (default 993 with
// --tls, else 143), of kind tls with --tls, starttls when a certificate is
// given, plain otherwise. --cert and --key replace the certificates.
func (c *Config) ApplyFlags(f Flags) error {
	var errs []string
	if (f.Cert == "") != (f.Key == "") {
		errs = append(errs, "--cert and --key go together")
	} else if f.Cert != "" {
		c.Certs = []Cert{{CertFile: f.Cert, KeyFile: f.Key}}
	}
	if f.Host != "" || f.Port != 0 || f.TLS {
		l := Listener{Host: DefaultHost, Port: f.Port, Kind: Plain}
		if f.Host != "" {
			l.Host = strings.TrimSuffix(strings.TrimPrefix(f.Host, "["), "]")
			if ip := net.ParseIP(l.Host); ip != nil {
				l.Host = ip.String()
			} else if l.Host != "localhost" && l.Host != "*" {
				errs = append(errs, fmt.Sprintf("-h %q: not an IP address, localhost or *", f.Host))
			}
		}
		switch {
		case f.TLS:
			l.Kind = TLS
		case f.Cert != "":
			l.Kind = StartTLS
		}
		if l.Port == 0 {
			l.Port = DefaultPlainPort
			if l.Kind == TLS {
				l.Port = DefaultTLSPort
			}
		}
		c.Listeners = []Listener{l}
		// A plain listener from the flags needs none of the file's
		// certificates: they are not read (a normal user's
		// `imapd -s memory -p 10143` cannot read the system's keys).
		if l.Kind == Plain {
			c.Certs = nil
		}
	}
	switch f.Storage {
	case "":
		if f.MaildirPath != "" {
			c.Storage = StorageMaildir
		}
	case StorageMaildir, StorageMemory:
		c.Storage = f.Storage
	default:
		errs = append(errs, fmt.Sprintf("-s %q: expected memory or maildir", f.Storage))
	}
	if f.MaildirPath != "" {
		if !strings.HasPrefix(f.MaildirPath, "/") {
			errs = append(errs, fmt.Sprintf("--maildir-path %q is not an absolute path", f.MaildirPath))
		}
		c.MaildirPath = f.MaildirPath
	}
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return errors.New("command line: " + strings.Join(errs, "; "))
	}
	return nil
}
