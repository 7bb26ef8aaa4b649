package mime_test

import (
	"errors"
	"fmt"

	"imapd/imapworker/mime"
)

func Example() {
	msg := []byte("From: Alice <alice@example.org>\r\nSubject: =?utf-8?Q?caf=C3=A9?=\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--\r\n")
	root := mime.Parse(msg)

	env := root.Envelope()
	fmt.Println("subject (raw):", env.Subject, "from:", env.From[0].Mailbox+"@"+env.From[0].Host)

	mimeHdr, _ := root.Section(mime.Section{Path: []int{2}, Specifier: mime.SpecMIME})
	fmt.Printf("BODY[2.MIME] %q\n", mimeHdr)

	bin, err := root.Binary([]int{2})
	fmt.Printf("BINARY[2] %q %v\n", bin, err)

	if _, err := root.Section(mime.Section{Path: []int{3}}); errors.Is(err, mime.ErrNoSuchPart) {
		fmt.Println("BODY[3]: no such part")
	}

	m := mime.NewMatcher("CAFÉ")
	fmt.Println("SUBJECT café:", m.HeaderContains(root, "Subject"), "BODY HELLO:", mime.BodyContains(root, "HELLO"))
	// Output:
	// subject (raw): =?utf-8?Q?caf=C3=A9?= from: alice@example.org
	// BODY[2.MIME] "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	// BINARY[2] "hi" <nil>
	// BODY[3]: no such part
	// SUBJECT café: true BODY HELLO: true
}
