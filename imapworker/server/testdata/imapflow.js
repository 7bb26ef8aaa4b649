// Drives imapd with imapflow (tests/node): QUOTA, APPEND and FETCH.
// Prints one JSON object.
const { ImapFlow } = require('imapflow');

(async () => {
  const [host, port] = process.argv[2].split(':');
  const c = new ImapFlow({ host, port: +port, secure: false, auth: { user: 'alice', pass: 'pw' }, logger: false });
  await c.connect();
  const out = { compress: !!c._deflate };
  out.quota = await c.getQuota('INBOX');
  const body = 'Subject: flow\r\n\r\n' + 'hello imapflow\r\n'.repeat(2000);
  out.append = await c.append('INBOX', body, ['\\Seen']);
  const lock = await c.getMailboxLock('INBOX');
  try {
    const m = await c.fetchOne('*', { source: true, flags: true });
    out.sourceOK = m.source.toString() === body;
    out.flags = [...m.flags];
  } finally {
    lock.release();
  }
  out.quotaAfter = await c.getQuota('INBOX');
  await c.logout();
  console.log(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? Number(v) : v)));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
