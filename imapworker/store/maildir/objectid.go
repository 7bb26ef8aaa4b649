package maildir

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"syscall"
	"time"

	"imapd/imapworker/store"
)

// Object identifiers (RFC 8474) and save dates (RFC 8514), see
// docs/design.md#object-ids-and-save-dates.
//
// MAILBOXID is the mailbox GUID of the dovecot-uidlist header ("G<guid>"),
// the one Dovecot reports: a rename moves the file with the folder, a new
// folder (or one whose uidlist is reset) gets a new one.
//
// A message's GUID is the "G" field of its uidlist line when there is one,
// else its file's base name (Dovecot's rule); COPY and MOVE give the new
// file a new base name and record the source's GUID as its "G" field, so
// the copy keeps it. EMAILID is 'M' and hex of a hash of the GUID: base
// names hold '.' and ',', which an objectid may not.

// guidOf returns m's message GUID.
func guidOf(m *msg) string {
	for _, x := range strings.Fields(m.ext) {
		if len(x) > 1 && x[0] == 'G' {
			return x[1:]
		}
	}
	return m.base()
}

// guidExt returns the uidlist field that gives a copy the GUID guid, or ""
// when the copy's own base name is that GUID or guid cannot be kept in a
// uidlist line.
func guidExt(guid, base string) string {
	if guid == base || guid == "" || strings.ContainsAny(guid, " :\n") {
		return ""
	}
	return "G" + guid
}

func emailID(guid string) string {
	h := sha256.Sum256([]byte(guid))
	return "M" + hex.EncodeToString(h[:12])
}

// mailboxID returns the folder's GUID, writing the uidlist first when it
// has none on disk yet (a new folder) or none in its header (an old
// format), so that the id given out stays. Called with f.mu held.
func (f *folder) mailboxID() (string, error) {
	if err := f.refresh(); err != nil {
		return "", err
	}
	if f.ulSt != (stamp{}) && f.ul.guid != "" && store.ValidObjectID(f.ul.guid) {
		return f.ul.guid, nil
	}
	err := f.withLock(func() error {
		if f.ulSt != (stamp{}) && f.ul.guid != "" && store.ValidObjectID(f.ul.guid) {
			return nil // written by another process meanwhile
		}
		if !store.ValidObjectID(f.ul.guid) {
			f.ul.guid = ""
		}
		f.ul.complete = false // writeUidlist rewrites the whole file
		return f.writeUidlist(nil)
	})
	if err != nil {
		return "", storeErr(err)
	}
	f.markIndexDirty()
	return f.ul.guid, nil
}

// MailboxID implements store.ObjectUser.
func (u *User) MailboxID(name string) (string, error) {
	f, err := u.folder(name)
	if err != nil {
		return "", err
	}
	if !f.exists() {
		return "", u.missing(f.name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mailboxID()
}

// MailboxID implements store.ObjectMailbox.
func (h *mailbox) MailboxID() string {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	id, err := h.f.mailboxID()
	if err != nil {
		return ""
	}
	return id
}

// EmailIDs implements store.ObjectMailbox.
func (h *mailbox) EmailIDs(uids []uint32) ([]string, error) {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(uids))
	for i, uid := range uids {
		if m := f.lookup(uid); m != nil {
			out[i] = emailID(guidOf(m))
		}
	}
	return out, nil
}

// saveDateKey is the imapd.cache key of a message's save date.
const saveDateKey = "savedate"

// SaveDates implements store.ObjectMailbox. The save date is the file's
// ctime the first time it is asked for, then kept in imapd.cache (as
// Dovecot keeps it in its cache): delivery into new/, APPEND's and MOVE's
// rename and COPY's link all set the ctime, so it is when the message
// entered this folder unless its flags changed (a rename) before the first
// ask. No file is written when a message is saved.
func (h *mailbox) SaveDates(uids []uint32) ([]time.Time, error) {
	f := h.f
	out := make([]time.Time, len(uids))
	for pass := 0; pass < 2; pass++ {
		f.mu.Lock()
		if pass == 1 {
			if err := f.refresh(); err != nil {
				f.mu.Unlock()
				return nil, err
			}
		}
		var need []int
		var paths []string
		for i, uid := range uids {
			if !out[i].IsZero() {
				continue
			}
			m := f.lookup(uid)
			if m == nil {
				continue
			}
			if v, ok := f.cacheGet(uid, saveDateKey); ok && len(v) == 8 {
				out[i] = time.Unix(0, int64(binary.LittleEndian.Uint64(v)))
				continue
			}
			need = append(need, i)
			paths = append(paths, f.filePath(m))
		}
		f.mu.Unlock()
		if len(need) == 0 {
			break
		}
		got := make([]int64, len(need))
		missed := false
		for k, p := range paths {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				missed = true // renamed meanwhile: found again after a refresh
				continue
			}
			got[k] = st.Ctim.Nano()
		}
		f.mu.Lock()
		for k, i := range need {
			if got[k] == 0 {
				continue
			}
			// Another handle may have cached one meanwhile: it wins.
			if v, ok := f.cacheGet(uids[i], saveDateKey); ok && len(v) == 8 {
				out[i] = time.Unix(0, int64(binary.LittleEndian.Uint64(v)))
				continue
			}
			f.cacheSet(uids[i], saveDateKey, binary.LittleEndian.AppendUint64(nil, uint64(got[k])))
			out[i] = time.Unix(0, got[k])
		}
		f.mu.Unlock()
		if !missed {
			break
		}
	}
	return out, nil
}
