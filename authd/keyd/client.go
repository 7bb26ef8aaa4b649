package keyd

import (
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

// signWait bounds one signature: a handshake waiting on a keyd that is
// being restarted fails after this, cleanly, rather than hang.
const signWait = 5 * time.Second

// ErrUnavailable reports that no keyd channel is open (keyd died and the
// parent has not yet given a new one).
var ErrUnavailable = errors.New("keyd: unavailable")

// Client is a preauth worker's side of keyd: it multiplexes the signing
// requests of concurrent handshakes over one channel, matching replies by
// id. The parent may replace the channel (keyd restarted) with Replace.
type Client struct {
	log    *slog.Logger
	nextID atomic.Uint64
	mu     sync.Mutex
	cur    *clientChan
}

type clientChan struct {
	c       *channel
	waiting map[uint64]chan *pb.SignReply
	closed  bool
	// What keyd sends first: the generation's certificates, then done.
	certs     [][]byte
	certsOK   bool
	built     []tls.Certificate // certs as TLS certificates, made once
	certsDone chan struct{}     // closed at certs_done or when the channel closes
}

// NewClient returns a client without a channel: signatures fail with
// ErrUnavailable until Replace gives one.
func NewClient(log *slog.Logger) *Client { return &Client{log: log} }

// Replace makes f (which the client now owns) the channel to keyd; requests
// waiting on the old channel fail.
func (cl *Client) Replace(f *os.File) error {
	c, err := newChannel(f, "keyd")
	if err != nil {
		return err
	}
	cc := &clientChan{c: c, waiting: map[uint64]chan *pb.SignReply{}, certsDone: make(chan struct{})}
	cl.mu.Lock()
	old := cl.cur
	cl.cur = cc
	cl.mu.Unlock()
	if old != nil {
		cl.shut(old)
	}
	go cl.readLoop(cc)
	return nil
}

// Close closes the channel; requests in progress fail.
func (cl *Client) Close() {
	cl.mu.Lock()
	old := cl.cur
	cl.cur = nil
	cl.mu.Unlock()
	if old != nil {
		cl.shut(old)
	}
}

func (cl *Client) shut(cc *clientChan) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cc.closed {
		return
	}
	cc.closed = true
	cc.c.Close()
	if !cc.certsOK {
		close(cc.certsDone)
	}
	for id, ch := range cc.waiting {
		close(ch)
		delete(cc.waiting, id)
	}
}

func (cl *Client) readLoop(cc *clientChan) {
	defer cl.shut(cc)
	for {
		m, fd, err := cc.c.Recv()
		if fd != nil {
			fd.Close()
		}
		if err != nil {
			cl.mu.Lock()
			ours := cc.closed // we closed it: replaced, or a send failed
			cl.mu.Unlock()
			if !ours && !errors.Is(err, ipc.ErrClosed) {
				cl.log.Error("keyd channel", "err", err)
			}
			return
		}
		switch b := m.Body.(type) {
		case *pb.KeydMessage_Cert:
			cl.mu.Lock()
			ok := !cc.certsOK && int(b.Cert.Index) == len(cc.certs)
			if ok {
				cc.certs = append(cc.certs, b.Cert.CertPem)
			}
			cl.mu.Unlock()
			if !ok {
				cl.log.Error("keyd channel: certificate out of order", "index", b.Cert.Index)
				return
			}
		case *pb.KeydMessage_CertsDone:
			cl.mu.Lock()
			ok := !cc.certsOK && int(b.CertsDone.Count) == len(cc.certs)
			if ok {
				cc.certsOK = true
				close(cc.certsDone)
			}
			cl.mu.Unlock()
			if !ok {
				cl.log.Error("keyd channel: certificates incomplete", "count", b.CertsDone.Count)
				return
			}
		case *pb.KeydMessage_SignReply:
			cl.mu.Lock()
			ch := cc.waiting[m.Id]
			delete(cc.waiting, m.Id)
			cl.mu.Unlock()
			if ch != nil {
				ch <- b.SignReply
			}
		default:
			cl.log.Error("keyd channel: unexpected message", "type", fmt.Sprintf("%T", m.Body))
			return
		}
	}
}

// Certificates waits up to wait for the certificates keyd sends first on
// the current channel and returns them, each with a remote signer in place
// of its private key.
func (cl *Client) Certificates(wait time.Duration) ([]tls.Certificate, error) {
	cl.mu.Lock()
	cc := cl.cur
	cl.mu.Unlock()
	if cc == nil {
		return nil, ErrUnavailable
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-cc.certsDone:
	case <-t.C:
		return nil, errors.New("keyd: timed out waiting for the certificates")
	}
	cl.mu.Lock()
	chains, ok, built := cc.certs, cc.certsOK, cc.built
	cl.mu.Unlock()
	if !ok {
		return nil, errors.New("keyd: channel closed before the certificates")
	}
	if built != nil {
		return slices.Clone(built), nil
	}
	built, err := cl.certificates(chains)
	if err != nil {
		return nil, err
	}
	cl.mu.Lock()
	cc.built = built
	cl.mu.Unlock()
	return slices.Clone(built), nil
}

func (cl *Client) call(req *pb.SignRequest) ([]byte, error) {
	id := cl.nextID.Add(1)
	ch := make(chan *pb.SignReply, 1)
	cl.mu.Lock()
	cc := cl.cur
	if cc == nil || cc.closed {
		cl.mu.Unlock()
		return nil, ErrUnavailable
	}
	cc.waiting[id] = ch
	cl.mu.Unlock()
	if err := cc.c.Send(&pb.KeydMessage{Id: id, Body: &pb.KeydMessage_SignRequest{SignRequest: req}}, nil); err != nil {
		cl.shut(cc)
		return nil, err
	}
	t := time.NewTimer(signWait)
	defer t.Stop()
	select {
	case rep, ok := <-ch:
		if !ok || rep == nil {
			return nil, ErrUnavailable
		}
		if rep.Error != "" {
			return nil, fmt.Errorf("keyd: %s", rep.Error)
		}
		return rep.Signature, nil
	case <-t.C:
		cl.mu.Lock()
		delete(cc.waiting, id)
		cl.mu.Unlock()
		return nil, errors.New("keyd: timed out")
	}
}

// Signer returns a crypto.Signer for certificate index of this worker's
// generation: pub is the certificate's public key, the private key stays in
// keyd.
func (cl *Client) Signer(index uint32, pub crypto.PublicKey) crypto.Signer {
	return &remoteSigner{cl: cl, index: index, pub: pub}
}

type remoteSigner struct {
	cl    *Client
	index uint32
	pub   crypto.PublicKey
}

func (r *remoteSigner) Public() crypto.PublicKey { return r.pub }

// Sign sends digest and opts to keyd; keyd draws the randomness.
func (r *remoteSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h, ok := wireHash(opts.HashFunc())
	if !ok {
		return nil, fmt.Errorf("keyd: hash %v not supported", opts.HashFunc())
	}
	req := &pb.SignRequest{KeyIndex: r.index, Digest: digest, Hash: h}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		req.Pss, req.SaltLength = true, int32(pss.SaltLength)
	}
	return r.cl.call(req)
}

// certificates builds a generation's TLS certificates from their PEM
// chains (leaf first), in the order keyd numbers their keys, each with a
// remote signer in place of its private key.
func (cl *Client) certificates(chains [][]byte) ([]tls.Certificate, error) {
	var out []tls.Certificate
	for i, chain := range chains {
		var c tls.Certificate
		for rest := chain; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				c.Certificate = append(c.Certificate, b.Bytes)
			}
		}
		if len(c.Certificate) == 0 {
			return nil, fmt.Errorf("certificate %d: no CERTIFICATE block", i)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		c.Leaf = leaf
		c.PrivateKey = cl.Signer(uint32(i), leaf.PublicKey)
		out = append(out, c)
	}
	return out, nil
}
