package parent

import (
	"os"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

// keyd holds the certificates' private keys and signs handshakes for the
// preauth workers, which get their certificates and a channel to it, never
// a key (docs/security.md, boundary 9). It runs while any certificate is
// configured; the parent restarts it with backoff and gives it, and every
// worker, what it had.

// startKeyd starts keyd, loads the current (and a starting reload's)
// keys, and connects every worker.
func (p *Parent) startKeyd() {
	if p.keydStarting {
		return
	}
	p.keydStarting = true
	setup := &pb.KeydSetup{}
	if p.privileged {
		setup.User, setup.Chroot = p.cfg.PreauthUser, p.cfg.PreauthChroot
	}
	p.spawnThen(spawnSpec{
		role: pb.Role_ROLE_KEYD, path: p.exe, title: "imapd: keyd", env: childEnv("keyd"), dir: "/",
	}, func(c *child, err error) {
		p.keydStarting = false
		if err != nil {
			p.log.Error("keyd did not start", "err", err)
			p.restartKeyd(0)
			return
		}
		if err := p.adopt(c); err != nil {
			p.log.Error("keyd channel", "err", err)
			p.restartKeyd(0)
			return
		}
		p.toKeyd(c, &pb.KeydMessage{Body: &pb.KeydMessage_Setup{Setup: setup}}, nil)
		if p.stopping {
			p.shutdownChild(c, "shutting down", false)
			return
		}
		p.keyd = c
		p.loadKeys(p.gen)
		for _, w := range p.workers {
			p.connectKeyd(w)
		}
	})
}

func (p *Parent) restartKeyd(lived time.Duration) {
	d := p.keydBack.next(lived)
	p.later(d, func() {
		if !p.stopping && p.keyd == nil && len(p.certs) > 0 {
			p.startKeyd()
		}
	})
}

// loadKeys sends keyd the keys of generation gen, one per message, in the
// order the workers number their certificates. Workers connected later on
// the same channel see them loaded (one outbox, in order).
func (p *Parent) loadKeys(gen uint32) {
	if p.keyd == nil {
		return
	}
	for i, c := range p.certs {
		k := &pb.KeydKey{Generation: gen, Index: uint32(i), CertPem: c.CertPem, KeyPem: c.KeyPem}
		p.toKeyd(p.keyd, &pb.KeydMessage{Body: &pb.KeydMessage_Key{Key: k}}, nil)
	}
	done := &pb.KeydKeysDone{Generation: gen, Count: uint32(len(p.certs))}
	p.toKeyd(p.keyd, &pb.KeydMessage{Body: &pb.KeydMessage_KeysDone{KeysDone: done}}, nil)
}

// connectKeyd gives a preauth worker and keyd the two ends of a new
// channel, bound to the worker's generation.
func (p *Parent) connectKeyd(w *child) {
	if p.keyd == nil {
		return
	}
	a, b, err := ipc.Socketpair()
	if err != nil {
		p.log.Error("keyd channel", "err", err)
		return
	}
	p.toKeyd(p.keyd, &pb.KeydMessage{Body: &pb.KeydMessage_Worker{Worker: &pb.KeydWorker{WorkerId: w.id, Generation: w.gen}}}, a)
	p.toPreauth(w, &pb.ToPreauth{Body: &pb.ToPreauth_KeydChannel{KeydChannel: &pb.KeydChannel{WorkerId: w.id}}}, b)
}

// fromKeyd: keyd says only whether a generation's keys loaded.
func (p *Parent) fromKeyd(c *child, m *pb.KeydMessage, fd *os.File) {
	if fd != nil {
		fd.Close()
		p.misbehaved(c, "descriptor from keyd")
		return
	}
	r := m.GetReady()
	if r == nil {
		p.misbehaved(c, "keyd sent "+ipc.BodyName(m))
		return
	}
	if r.Error != "" {
		p.log.Error("keyd refused the keys", "generation", r.Generation, "err", r.Error)
	}
}

func (p *Parent) toKeyd(c *child, m *pb.KeydMessage, fd *os.File) { send(p, c, c.toKeyd, m, fd) }

// handshakeBound is the longest a preauth worker lets an implicit-TLS
// handshake take (imapworker/preauth handle); a STARTTLS handshake may come
// until the login timeout.
const handshakeBound = 30 * time.Second

// retireKeysLater is called when generation gen drains: its workers take no
// new connections, but handshakes they started may still need its keys.
// keyd forgets them once none can: after the longest such a handshake may
// take (the generation's login timeout, at least handshakeBound), or as
// soon as the last of its workers is gone (docs/security.md, boundary 9).
func (p *Parent) retireKeysLater(gen uint32, loginTimeout time.Duration) {
	p.retiring[gen] = true
	p.later(max(p.keyGrace, loginTimeout), func() { p.retireKeys(gen, "grace over") })
}

// retireKeys tells keyd to drop generation gen's keys, once.
func (p *Parent) retireKeys(gen uint32, why string) {
	if !p.retiring[gen] {
		return
	}
	delete(p.retiring, gen)
	if p.keyd == nil {
		return // a restarted keyd loads the current generation only
	}
	p.log.Info("keys retired", "generation", gen, "reason", why)
	p.toKeyd(p.keyd, &pb.KeydMessage{Body: &pb.KeydMessage_Retire{Retire: &pb.KeydRetire{Generation: gen}}}, nil)
}

// oldWorkerGone retires the keys of the gone worker's generation when it
// was the last of a draining one.
func (p *Parent) oldWorkerGone(c *child) {
	if !p.retiring[c.gen] {
		return
	}
	for _, o := range p.old {
		if o.gen == c.gen {
			return
		}
	}
	p.retireKeys(c.gen, "its workers are gone")
}
