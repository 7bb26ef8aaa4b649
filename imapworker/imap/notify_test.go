package imap

import "testing"

// The NOTIFY commands of RFC 5465's examples, parsed.
func TestParseNotify(t *testing.T) {
	hdr := &Section{Specifier: "HEADER.FIELDS", Fields: []string{"from", "to", "subject"}}
	sel := NotifyGroup{Filter: "SELECTED", Events: []NotifyEvent{
		{Name: "MESSAGENEW", Fetch: []FetchItem{{Name: "UID"}, {Name: "BODY.PEEK", Section: hdr}}}, {Name: "MESSAGEEXPUNGE"}}}
	tests := []struct {
		in   string
		want *Notify
	}{
		{"b notify set status (selected MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge) (subtree Lists MessageNew)\r\n",
			&Notify{Status: true, Groups: []NotifyGroup{sel, {Filter: "SUBTREE", Mailboxes: []string{"Lists"}, Events: []NotifyEvent{{Name: "MESSAGENEW"}}}}}},
		{"e notify set (selected MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge) (subtree Lists MessageNew) (mailboxes misc MessageNew)\r\n",
			&Notify{Groups: []NotifyGroup{sel, {Filter: "SUBTREE", Mailboxes: []string{"Lists"}, Events: []NotifyEvent{{Name: "MESSAGENEW"}}},
				{Filter: "MAILBOXES", Mailboxes: []string{"misc"}, Events: []NotifyEvent{{Name: "MESSAGENEW"}}}}}},
		{"a notify set (mailboxes (INBOX Work) (Messagenew messageExpunge)) (personal (SubscriptionChange))\r\n",
			&Notify{Groups: []NotifyGroup{{Filter: "MAILBOXES", Mailboxes: []string{"INBOX", "Work"}, Events: []NotifyEvent{{Name: "MESSAGENEW"}, {Name: "MESSAGEEXPUNGE"}}},
				{Filter: "PERSONAL", Events: []NotifyEvent{{Name: "SUBSCRIPTIONCHANGE"}}}}}},
		{"a NOTIFY SET (inboxes NONE)\r\n", &Notify{Groups: []NotifyGroup{{Filter: "INBOXES"}}}},
		{"a NOTIFY NONE\r\n", &Notify{None: true}},
	}
	for _, tc := range tests {
		checkArgs(t, tc.in, tc.want)
	}
	for _, bad := range []string{
		"a NOTIFY\r\n", "a NOTIFY SET\r\n", "a NOTIFY SET (bogus (MessageNew))\r\n", "a NOTIFY SET (personal)\r\n",
		"a NOTIFY SET (personal (MessageNew)\r\n", "a NOTIFY SET STATUS\r\n", "a NOTIFY SET (subtree (MessageNew))\r\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("C: %q parsed", bad)
		}
	}
}
