package authd

import "testing"

// Vectors made on this machine with mkpasswd(1) (whois 5.x, glibc crypt),
// e.g. `mkpasswd -m sha-512 -S saltsaltsalt 'Hello world!'`; the last two
// use the salt of the specification's first examples.
var shaCryptVectors = []struct{ password, hash string }{
	{"Hello world!", "$6$saltsaltsalt$tkbLZz7Hck/vcrBc30bv/5J/1xR2fqjVgMpauCGvIigQGVNK.Hlcie4EHK4STimwRJaotjZJQZagaP9iPBIa//"},
	{"Hello world!", "$5$saltsalt$7nms7uea33j6nUc5B/QNWbGgEhGAZc61YUN0rQzogB0"},
	{"", "$6$saltsaltsalt$dQlB21c8GMfz05o8jw.dLgBvbMglUYXNudngQ/hk50PZyRsv3C3xltV5aRAeQ1r51MebtFhgxsNxCdE59yrTc1"},
	{"", "$5$saltsalt$09agN5RZ2meWdEdnEusqsq5G7RwwghB8jCKoWWADxW/"},
	{"secret", "$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts."},
	{"secret", "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"},
	{"a much longer password that exceeds sixty-four bytes in length for sure yes indeed okay",
		"$6$saltsaltsalt$T36XfiSdPYT6YFT6un6kl9SqILZV8BuAWZPWlPsteDfkl20Og/A.cNtkkfNy/lB.US4c9TNaEaoXNQsO5fc/i1"},
	{"a much longer password that exceeds sixty-four bytes in length for sure yes indeed okay",
		"$5$saltsalt$2ysvlGIhRh6UN4ZBlHIRuAT5aoyb6xqukgqxcnatmL."},
	{"rounds", "$6$rounds=1000$abcdefgh$qtac7xLzGAfpjGzi3P8BkFq7L1v5fBheLNkIa0TsiQDd8Qv57/5y/2eLFFBdFecLHeqM3gGyHzHcceeTuCiG6."},
	{"rounds", "$5$rounds=12345$Xy./Zz09$9wASbWe/889Xp.SlQ/k8fd.feef1CqxU11EZhkHu6o1"},
	{"long salt pw", "$6$0123456789abcdef$rkGdER5gnhgyBiyp6KQ9qSI6JoeZAeGm0TzQLySlpVpK4dr.j5rSpvl9zjsrjt9OyTlaRb1SgNSm0ZS97uFdi1"},
	{"Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
}

func TestShaCryptVectors(t *testing.T) {
	for _, v := range shaCryptVectors {
		got, err := shaCrypt([]byte(v.password), v.hash)
		if err != nil || got != v.hash {
			t.Errorf("shaCrypt(%q, %.20s...) = %q, %v\n want %q", v.password, v.hash, got, err, v.hash)
		}
		if !shaCryptVerify([]byte(v.password), v.hash) {
			t.Errorf("verify(%q) failed", v.password)
		}
		if shaCryptVerify([]byte(v.password+"x"), v.hash) {
			t.Errorf("verify(%q+x) succeeded", v.password)
		}
	}
}

func TestShaCryptSettings(t *testing.T) {
	// A salt longer than 16 characters is cut (spec step 1); a rounds count
	// below 1000 is raised to 1000.
	long, err := shaCrypt([]byte("pw"), "$5$0123456789abcdefXYZ$")
	if err != nil {
		t.Fatal(err)
	}
	short, _ := shaCrypt([]byte("pw"), "$5$0123456789abcdef$")
	if long != short {
		t.Errorf("salt not cut at 16: %q vs %q", long, short)
	}
	low, _ := shaCrypt([]byte("pw"), "$6$rounds=10$salt$")
	if want := "$6$rounds=1000$salt$"; low[:len(want)] != want {
		t.Errorf("rounds=10 gave %q, want the prefix %q", low, want)
	}
	for _, bad := range []string{"", "$1$salt$x", "$6$rounds=abc$salt$", "$6$rounds=5000"} {
		if _, err := shaCrypt([]byte("pw"), bad); err == nil {
			t.Errorf("shaCrypt accepted setting %q", bad)
		}
		if shaCryptVerify([]byte("pw"), bad) {
			t.Errorf("verify accepted hash %q", bad)
		}
	}
}
