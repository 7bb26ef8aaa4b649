package maildir

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

const keywordsName = "dovecot-keywords"

// maxKeywords: Maildir file names can carry the letters a-z only.
const maxKeywords = 26

var uidvMu sync.Mutex

// parseKeywords reads "<index> <keyword>" lines; the index is the letter
// (0 = 'a'). Malformed lines are skipped, as Dovecot does.
func parseKeywords(data []byte) []string {
	var kw []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		idxS, name, ok := strings.Cut(sc.Text(), " ")
		if !ok || name == "" {
			continue
		}
		idx, err := strconv.Atoi(idxS)
		if err != nil || idx < 0 || idx >= maxKeywords {
			continue
		}
		for len(kw) <= idx {
			kw = append(kw, "")
		}
		kw[idx] = name
	}
	return kw
}

func marshalKeywords(kw []string) []byte {
	var b bytes.Buffer
	for i, k := range kw {
		if k != "" {
			fmt.Fprintf(&b, "%d %s\n", i, k)
		}
	}
	return b.Bytes()
}
