#!/usr/bin/env python3
# Prints, per role, the system calls each imapd process made after its
# seccomp filter was installed: the measurement behind the allowlists in
# ipc/seccomp_roles.go (docs/security.md, "Measuring the allowlists").
#
#   mkdir trace && strace -f -ff -ttt -qq -o trace/t imapd -c imapd.conf &
#   ... run a client through every command, reload (SIGHUP), stop (SIGTERM)
#   python3 ipc/testdata/syscalls.py trace
#
# Threads are attributed to their process by clone(CLONE_THREAD), processes
# to their role by the title they write ("imapd: preauth"); only calls
# after the process's seccomp(SECCOMP_SET_MODE_FILTER) count.
import collections, os, re, sys

d = sys.argv[1]
files = {int(f.split('.')[1]): open(os.path.join(d, f)).read().splitlines() for f in os.listdir(d)}
group = {t: t for t in files}
for t, lines in files.items():
    for l in lines:
        m = re.match(r'[\d.]+ clone\((.*)\) = (\d+)', l)
        if m and 'CLONE_THREAD' in m.group(1):
            group[int(m.group(2))] = t

def leader(t):
    while group.get(t, t) != t:
        t = group[t]
    return t

role, start = {}, {}
for t, lines in files.items():
    for l in lines:
        m = re.search(r'"imapd: (preauth|mailbox|authd|keyd)', l)
        if m and 'write(' in l and leader(t) not in role:
            role[leader(t)] = m.group(1)
        if 'seccomp(SECCOMP_SET_MODE_FILTER' in l:
            start.setdefault(leader(t), float(l.split()[0]))
calls = collections.defaultdict(collections.Counter)
for t, lines in files.items():
    g = leader(t)
    if g not in role or g not in start:
        continue
    for l in lines:
        m = re.match(r'([\d.]+) (\w+)\(', l)
        if m and float(m.group(1)) > start[g]:
            calls[role[g]][m.group(2)] += 1
for r, c in sorted(calls.items()):
    print(r, ' '.join(f'{k}:{v}' for k, v in sorted(c.items())))
