package keyd

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

// Defaults for a worker's signing budget: a handshake costs one signature,
// so 200 a second in bursts of 400 is more than a preauth worker's share of
// two cores signs with RSA, and keeps one worker from starving the rest.
const (
	DefaultRate  = 200
	DefaultBurst = 400
	// maxInflight bounds the requests of one worker being signed at once.
	maxInflight = 64
)

// Server holds the keys of each live generation and serves the workers'
// channels. The parent's channel is served by ServeParent alone; each
// worker's by its own goroutine.
type Server struct {
	log         *slog.Logger
	rate, burst float64
	sem         chan struct{} // signatures in progress, all workers together
	now         func() time.Time
	mu          sync.Mutex
	gens        map[uint32]*keyring
	loading     map[uint32]*keyring
	workers     map[*channel]uint32 // live worker channels, by worker id
	signed      map[uint32]uint64   // signatures made, by worker id (tests, status)
	wg          sync.WaitGroup
}

// NewServer returns a keyd with no keys; rate and burst are each worker's
// budget (0: the defaults).
func NewServer(log *slog.Logger, rate, burst uint32) *Server {
	if rate == 0 {
		rate = DefaultRate
	}
	if burst == 0 {
		burst = DefaultBurst
	}
	return &Server{log: log, rate: float64(rate), burst: float64(burst),
		sem: make(chan struct{}, runtime.GOMAXPROCS(0)), now: time.Now,
		gens: map[uint32]*keyring{}, loading: map[uint32]*keyring{},
		workers: map[*channel]uint32{}, signed: map[uint32]uint64{}}
}

// addKey takes one key of a generation being loaded; keys come in index
// order. The first error spoils the generation, and keysDone reports it.
func (s *Server) addKey(k *pb.KeydKey) error {
	defer clear(k.KeyPem)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.loading[k.Generation]
	if r == nil {
		r = &keyring{}
		s.loading[k.Generation] = r
	}
	if r.err != nil {
		return r.err
	}
	switch {
	case s.gens[k.Generation] != nil:
		r.err = fmt.Errorf("generation %d is already loaded", k.Generation)
	case int(k.Index) != len(r.keys) || len(r.keys) >= maxKeys:
		r.err = fmt.Errorf("key %d of generation %d out of order", k.Index, k.Generation)
	default:
		key, err := parseKey(k.CertPem, k.KeyPem)
		if err != nil {
			r.err = fmt.Errorf("certificate %d of generation %d: %w", k.Index, k.Generation, err)
		} else {
			r.keys = append(r.keys, key)
			r.certs = append(r.certs, bytes.Clone(k.CertPem))
		}
	}
	return r.err
}

// keysDone makes a loaded generation usable.
func (s *Server) keysDone(d *pb.KeydKeysDone) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.loading[d.Generation]
	delete(s.loading, d.Generation)
	if r == nil {
		r = &keyring{}
	}
	if r.err != nil {
		return r.err
	}
	if uint32(len(r.keys)) != d.Count {
		return fmt.Errorf("generation %d: %d keys received, %d announced", d.Generation, len(r.keys), d.Count)
	}
	s.gens[d.Generation] = r
	return nil
}

// retire forgets a generation: its workers' requests fail from now on.
func (s *Server) retire(gen uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.gens, gen)
	delete(s.loading, gen)
}

// certs returns the certificate chains of a generation (nil if unknown).
func (s *Server) certs(gen uint32) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.gens[gen]; r != nil {
		return r.certs
	}
	return nil
}

func (s *Server) key(gen, index uint32) (crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.gens[gen]
	if r == nil || int(index) >= len(r.keys) {
		return nil, fmt.Errorf("no certificate %d in generation %d", index, gen)
	}
	return r.keys[index], nil
}

// Signed reports how many signatures keyd made for a worker.
func (s *Server) Signed(worker uint32) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signed[worker]
}

// ServeParent is the flat switch over what the parent sends; it returns nil
// when the parent closes the channel or says shutdown.
func (s *Server) ServeParent(c *channel) error {
	defer s.closeWorkers()
	for {
		m, fd, err := c.Recv()
		if errors.Is(err, ipc.ErrClosed) {
			s.log.Info("parent went away; exiting")
			return nil
		}
		if err != nil {
			// The parent is trusted: a malformed message is a bug.
			return err
		}
		if fd != nil && m.GetWorker() == nil {
			fd.Close()
			return errors.New("descriptor with a message that takes none")
		}
		switch b := m.Body.(type) {
		case *pb.KeydMessage_Key:
			if err := s.addKey(b.Key); err != nil {
				s.log.Error("key refused", "err", err)
			}
		case *pb.KeydMessage_KeysDone:
			rep := &pb.KeydReady{Generation: b.KeysDone.Generation}
			if err := s.keysDone(b.KeysDone); err != nil {
				rep.Error = err.Error()
				s.log.Error("generation refused", "err", err)
			} else {
				s.log.Info("keys loaded", "generation", b.KeysDone.Generation, "count", b.KeysDone.Count)
			}
			if err := c.Send(&pb.KeydMessage{Id: m.Id, Body: &pb.KeydMessage_Ready{Ready: rep}}, nil); err != nil {
				return err
			}
		case *pb.KeydMessage_Worker:
			if fd == nil {
				s.log.Error("worker channel without a descriptor", "worker", b.Worker.WorkerId)
				continue
			}
			if err := s.AddWorker(fd, b.Worker.WorkerId, b.Worker.Generation); err != nil {
				s.log.Error("worker channel", "worker", b.Worker.WorkerId, "err", err)
			}
		case *pb.KeydMessage_Retire:
			s.retire(b.Retire.Generation)
		case *pb.KeydMessage_Shutdown:
			s.log.Info("stopping", "reason", b.Shutdown.Reason)
			return nil
		default:
			return fmt.Errorf("unexpected message %T from the parent", m.Body)
		}
	}
}

// AddWorker serves a preauth worker's channel f: the worker may use the
// keys of generation gen only.
func (s *Server) AddWorker(f *os.File, worker, gen uint32) error {
	c, err := newChannel(f, fmt.Sprintf("preauth worker %d", worker))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.workers[c] = worker
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.serveWorker(c, worker, gen)
		if err != nil && !errors.Is(err, ipc.ErrClosed) {
			s.log.Warn("worker channel dropped", "worker", worker, "err", err)
		}
		s.mu.Lock()
		delete(s.workers, c)
		s.mu.Unlock()
		c.Close()
	}()
	return nil
}

// closeWorkers ends every worker channel and waits for their goroutines;
// called by ServeParent alone, which also starts them.
func (s *Server) closeWorkers() {
	s.dropWorkers()
	s.wg.Wait()
}

// dropWorkers closes every worker channel, as keyd's death would.
func (s *Server) dropWorkers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.workers {
		c.Close()
	}
}

// serveWorker answers one worker's signing requests. A worker is not
// trusted: anything but a well-formed sign_request ends its channel; a
// request past its budget is refused, not queued.
func (s *Server) serveWorker(c *channel, worker, gen uint32) error {
	certs := s.certs(gen)
	for i, pem := range certs {
		cert := &pb.KeydCert{Index: uint32(i), CertPem: pem}
		if err := c.Send(&pb.KeydMessage{Body: &pb.KeydMessage_Cert{Cert: cert}}, nil); err != nil {
			return err
		}
	}
	done := &pb.KeydCertsDone{Generation: gen, Count: uint32(len(certs))}
	if err := c.Send(&pb.KeydMessage{Body: &pb.KeydMessage_CertsDone{CertsDone: done}}, nil); err != nil {
		return err
	}
	b := bucket{rate: s.rate, burst: s.burst, tokens: s.burst, last: s.now()}
	inflight := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		m, fd, err := c.Recv()
		if err != nil {
			return err
		}
		if fd != nil {
			fd.Close()
			return errors.New("a worker sends no descriptors")
		}
		req := m.GetSignRequest()
		if req == nil {
			return fmt.Errorf("unexpected message %T", m.Body)
		}
		reply := func(sig []byte, err error) error {
			r := &pb.SignReply{Signature: sig}
			if err != nil {
				r.Error = err.Error()
			}
			return c.Send(&pb.KeydMessage{Id: m.Id, Body: &pb.KeydMessage_SignReply{SignReply: r}}, nil)
		}
		if !b.take(s.now()) {
			if err := reply(nil, errors.New("rate limited")); err != nil {
				return err
			}
			continue
		}
		select {
		case inflight <- struct{}{}:
		default:
			if err := reply(nil, errors.New("too many requests in progress")); err != nil {
				return err
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inflight }()
			key, err := s.key(gen, req.KeyIndex)
			var sig []byte
			if err == nil {
				s.sem <- struct{}{}
				sig, err = sign(key, req)
				<-s.sem
			}
			if err == nil {
				s.mu.Lock()
				s.signed[worker]++
				s.mu.Unlock()
			}
			if err := reply(sig, err); err != nil {
				c.Close() // the worker stopped reading
			}
		}()
	}
}

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
