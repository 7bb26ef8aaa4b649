package imap

import (
	"bufio"
	"strings"
	"testing"
)

func TestCommandBuffered(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"a1 NOOP", false},                          // no line end yet
		{"a1 NOOP\r\n", true},                       // C: a1 NOOP
		{"a1 NOOP\n", true},                         // bare LF ends a line too
		{"a1 APPEND x {5+}\r\nhello\r\n", true},     // LITERAL+ data all here
		{"a1 APPEND x {5+}\r\nhel", false},          // the literal goes on
		{"a1 APPEND x {5+}\r\nhello", false},        // the line after it does too
		{"a1 APPEND x {5}\r\nhello\r\n", false},     // a synchronizing literal waits for "+"
		{"a1 APPEND x ~{1+}\r\n\x00\r\n", true},     // literal8
		{"a1 LOGIN {1+}\r\na {1+}\r\nb\r\n", true},  // two literals
		{"a1 LOGIN {1+}\r\na {1}\r\nb\r\n", false},  // the second one synchronizing
		{"a1 X {99999999999999999999+}\r\n", true},  // refused at once: no wait
		{"a1 NOOP\r\na2 APPEND x {5}\r\nhel", true}, // the first command is whole
	} {
		r := NewReader(bufio.NewReaderSize(strings.NewReader(tc.in), 4096), nil)
		r.br.Peek(len(tc.in)) // what the connection delivered so far
		if got := r.CommandBuffered(); got != tc.want {
			t.Errorf("C: %q: CommandBuffered %v, want %v", tc.in, got, tc.want)
		}
	}
}
