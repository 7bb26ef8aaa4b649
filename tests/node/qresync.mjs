// imapflow (an independent client) resyncs INBOX with CONDSTORE/QRESYNC
// for tests/imapflow_test.go: "state" prints UIDVALIDITY and HIGHESTMODSEQ;
// "resync <uidvalidity> <modseq>" opens INBOX with QRESYNC from that state
// and prints what imapflow reported (flags and expunge events), then the
// messages a changedSince fetch returns. Output is one JSON line.
import { ImapFlow } from 'imapflow';

const [mode, uidValidity, modseq] = process.argv.slice(2);
const client = new ImapFlow({
    host: '127.0.0.1',
    port: Number(process.env.IMAP_PORT),
    secure: false,
    auth: { user: process.env.IMAP_USER, pass: process.env.IMAP_PASS },
    qresync: true,
    logger: false
});

const out = { vanished: [], fetchVanished: [], flags: {}, changed: {} };
let phase = 'vanished'; // expunges reported by SELECT, then by the fetch
client.on('expunge', ev => {
    if (ev.uid) out[phase].push(Number(ev.uid));
});
client.on('flags', ev => {
    out.flags[String(ev.uid)] = { flags: [...ev.flags].sort(), modseq: String(ev.modseq) };
});

await client.connect();
out.enabled = [...client.enabled].sort();
if (mode === 'state') {
    const mb = await client.mailboxOpen('INBOX');
    out.uidValidity = String(mb.uidValidity);
    out.highestModseq = String(mb.highestModseq);
} else {
    const mb = await client.mailboxOpen('INBOX', { uidValidity, changedSince: modseq });
    out.qresync = !!mb.qresync;
    out.uidValidity = String(mb.uidValidity);
    out.highestModseq = String(mb.highestModseq);
    phase = 'fetchVanished';
    for await (const msg of client.fetch('1:*', { uid: true, flags: true }, { uid: true, changedSince: modseq })) {
        out.changed[String(msg.uid)] = { flags: [...msg.flags].sort(), modseq: String(msg.modseq) };
    }
}
await client.logout();
out.vanished.sort((a, b) => a - b);
out.fetchVanished.sort((a, b) => a - b);
console.log(JSON.stringify(out));
