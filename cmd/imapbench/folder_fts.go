package main

// The full-text rows of imapbench folder (issue 18, docs/design.md#full-text-index):
// the index built by the first text SEARCH, its memory and size, warm
// SEARCH BODY of a rare word, a common word and a three-character string,
// SEARCH TEXT, and the cost of one new 10 KB message. The answers are
// checked against counts of the scan: imapd's own matcher run over every
// file of the folder (cached beside the folder), so an index that
// narrowed wrongly shows as a wrong answer.

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"imapd/imapworker/mime"
)

// The needles of the full-text rows; folderRareWord is the rare one.
const (
	folderCommonWord = "budget"
	folderTriGram    = "ver"
	folderTextWord   = "hotel"
	folderNewWord    = "quixotically" // only in the appended message
)

// folderFTSCounts are the scan's answers, by needle.
type folderFTSCounts struct {
	Body map[string]int `json:"body"`
	Text map[string]int `json:"text"`
}

// folderFTSExpect returns the scan's counts for the folder at dir,
// computing them once (every message parsed as SEARCH parses it).
func folderFTSExpect(dir string) (*folderFTSCounts, error) {
	cache := dir + ".fts.json"
	var c folderFTSCounts
	if b, err := os.ReadFile(cache); err == nil && json.Unmarshal(b, &c) == nil &&
		c.Body[folderTriGram] > 0 && c.Text[folderTextWord] > 0 {
		return &c, nil
	}
	fmt.Fprintf(os.Stderr, "imapbench: counting the scan's full-text answers in %s ...\n", dir)
	files, err := folderFiles(dir)
	if err != nil {
		return nil, err
	}
	body := []string{folderRareWord, folderCommonWord, folderTriGram}
	text := []string{folderTextWord}
	c = folderFTSCounts{Body: map[string]int{}, Text: map[string]int{}}
	var mu sync.Mutex
	var firstErr error
	work := make(chan string, 64)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			var pr mime.Pruner
			var buf []byte
			bm := make([]*mime.Matcher, len(body))
			for i, w := range body {
				bm[i] = mime.NewMatcher(w)
			}
			tm := make([]*mime.Matcher, len(text))
			for i, w := range text {
				tm[i] = mime.NewMatcher(w)
			}
			for p := range work {
				f, err := os.Open(p)
				if err == nil {
					buf, err = pr.Prune(f, buf[:0])
					f.Close()
				}
				if err != nil && err != io.EOF {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					continue
				}
				msg := mime.Parse(buf)
				mu.Lock()
				for i, m := range bm {
					if m.BodyContains(msg) {
						c.Body[body[i]]++
					}
				}
				for i, m := range tm {
					if m.TextContains(msg) {
						c.Text[text[i]]++
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range files {
		work <- p
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return &c, os.WriteFile(cache, b, 0o644)
}

// folderFTSMessage is the appended message: about 10 KB of text with one
// word found nowhere else.
func folderFTSMessage() []byte {
	g := &folderGen{r: rand.New(rand.NewPCG(18, 18))}
	var b strings.Builder
	b.WriteString("From: alice@example.com\r\nTo: ibench@example.net\r\nSubject: one more\r\nMessage-ID: <fts-inc@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(g.text(5000, false, false))
	b.WriteString(folderNewWord + "\r\n")
	b.WriteString(g.text(5000, false, false))
	return []byte(b.String())
}

// folderIndexSize returns the bytes of a server's full-text index: imapd's
// imapd.fts files, Dovecot's fts and Xapian files (beside the Maildir or
// in its home, one level up).
func folderIndexSize(s *folderServer) (int64, error) {
	var total int64
	roots := []string{s.maildir}
	if s.name != "imapd" {
		roots = append(roots, filepath.Join(filepath.Dir(s.maildir), "..", "home"))
	}
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			n := strings.ToLower(d.Name())
			if d.Type().IsRegular() && (n == "imapd.fts" || strings.Contains(p, "xapian") || strings.Contains(n, "fts")) {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
	}
	return total, nil
}

// runFTS runs the full-text rows before the other SEARCH rows, which
// then find the index built; timed and found are folderConfig.run's.
func (c *folderConfig) runFTS(master string, timed func(key, cmd string, check func(*benchResult) string) error, found func(int) func(*benchResult) string) error {
	want, err := folderFTSExpect(master)
	if err != nil {
		return err
	}
	// Built from scratch by the first text SEARCH: imapd's file removed.
	for _, s := range c.servers {
		if s.name == "imapd" {
			os.Remove(filepath.Join(s.maildir, "imapd.fts"))
		}
	}
	fmt.Fprintln(os.Stderr, "imapbench: full-text index build (first SEARCH BODY)")
	if err := timed("ftsbuild", "UID SEARCH BODY "+folderRareWord, found(want.Body[folderRareWord])); err != nil {
		return err
	}
	for _, s := range c.servers {
		s.results["ftsrss"] = folderRSSCell(s)
		n, err := folderIndexSize(s)
		cell := folderCell{value: float64(n) / (1 << 20), unit: "MiB", load: folderLoad(), cpu: -1}
		if err != nil {
			cell.check = err.Error()
		}
		s.results["ftssize"] = cell
	}
	for _, st := range []struct{ key, cmd, needle string }{
		{"ftsrare", "UID SEARCH BODY " + folderRareWord, folderRareWord},
		{"ftscommon", "UID SEARCH BODY " + folderCommonWord, folderCommonWord},
		{"fts3", "UID SEARCH BODY " + folderTriGram, folderTriGram},
	} {
		fmt.Fprintf(os.Stderr, "imapbench: %s\n", st.cmd)
		if err := timed(st.key, st.cmd, found(want.Body[st.needle])); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "imapbench: UID SEARCH TEXT %s\n", folderTextWord)
	if err := timed("ftstext", "UID SEARCH TEXT "+folderTextWord, found(want.Text[folderTextWord])); err != nil {
		return err
	}
	return nil
}

// runFTSInc measures one delivered 10 KB message: the SEARCH after it
// indexes it; the same SEARCH again shows what the indexing added. It
// runs last: the folder has one message more after it.
func (c *folderConfig) runFTSInc(timed func(key, cmd string, check func(*benchResult) string) error, found func(int) func(*benchResult) string) error {
	msg := folderFTSMessage()
	for _, s := range c.servers {
		if _, err := s.sess.cmdWithLiteral("APPEND INBOX", msg); err != nil {
			return fmt.Errorf("%s: APPEND: %w", s.name, err)
		}
		if _, err := s.sess.MustOK("NOOP"); err != nil {
			return err
		}
	}
	if err := timed("ftsinc", "UID SEARCH BODY "+folderNewWord, found(1)); err != nil {
		return err
	}
	return timed("ftsincwarm", "UID SEARCH BODY "+folderNewWord, found(1))
}
