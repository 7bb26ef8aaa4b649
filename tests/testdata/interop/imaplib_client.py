"""Python's imaplib as an IMAP4rev1 client of imapd: argv host port user password.

Each step asserts what a client relies on; the last line printed is ALL OK.
"""
import imaplib
import sys
import time

host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
MSG = (b"From: py@example.org\r\nTo: alice@example.org\r\nSubject: from imaplib\r\n"
       b"Message-ID: <py.1@example.org>\r\n\r\nHello from Python.\r\n")
WHEN = time.mktime((2026, 11, 1, 12, 0, 0, 0, 0, -1))


def ok(res, what):
    typ, data = res
    assert typ == "OK", f"{what}: {typ} {data}"
    print(what, data)
    return data


M = imaplib.IMAP4(host, port)
assert "IMAP4REV1" in M.capabilities, M.capabilities
ok(M.login(user, pw), "LOGIN")
ok(M.create("Py/Sub"), "CREATE")
ok(M.subscribe("Py/Sub"), "SUBSCRIBE")
names = ok(M.list(), "LIST")
assert any(n.endswith(b' "/" Py/Sub') for n in names), names
assert any(b"Py/Sub" in n for n in ok(M.lsub(), "LSUB"))
ok(M.append("INBOX", r"(\Flagged)", imaplib.Time2Internaldate(WHEN), MSG), "APPEND")
exists = int(ok(M.select("INBOX"), "SELECT")[0])
assert exists >= 1, exists
uids = ok(M.uid("SEARCH", None, "FLAGGED", "SUBJECT", '"from imaplib"'), "UID SEARCH")[0].split()
assert len(uids) == 1, uids
uid = uids[0].decode()
data = ok(M.uid("FETCH", uid, "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"), "UID FETCH")
meta, body = data[0]
assert body == MSG, body
assert b"\\Flagged" in meta, meta
assert f"RFC822.SIZE {len(MSG)}".encode() in meta, meta
assert time.mktime(imaplib.Internaldate2tuple(meta)) == WHEN, meta
ok(M.uid("STORE", uid, "+FLAGS", r"(\Seen)"), "UID STORE")
flags = ok(M.uid("FETCH", uid, "(FLAGS)"), "FLAGS")[0]
assert b"\\Seen" in flags and b"\\Flagged" in flags, flags
ok(M.uid("COPY", uid, "Py/Sub"), "UID COPY")
ok(M.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"), "DELETE")
ok(M.expunge(), "EXPUNGE")
assert ok(M.uid("SEARCH", None, "SUBJECT", '"from imaplib"'), "SEARCH after EXPUNGE") == [b""]
st = ok(M.status("Py/Sub", "(MESSAGES UNSEEN)"), "STATUS")[0]
assert b"MESSAGES 1" in st and b"UNSEEN 0" in st, st
ok(M.select("Py/Sub", readonly=True), "EXAMINE")
env = ok(M.fetch("1", "(ENVELOPE)"), "ENVELOPE")[0]
assert b'"from imaplib"' in env and b'"<py.1@example.org>"' in env, env
ok(M.close(), "CLOSE")
ok(M.delete("Py/Sub"), "DELETE mailbox")
assert M.logout()[0] == "BYE"
print("ALL OK")
