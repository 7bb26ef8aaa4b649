// Package keyd is the key role (`imapd: keyd`): the one process that holds
// the TLS private keys. It signs handshakes for the preauth workers, which
// hold only the public certificates and a Signer that asks keyd over IPC, so
// that a preauth worker taken over by hostile input before login still has
// no key to steal (docs/security.md, "keyd"; OpenSMTPD's ca process).
package keyd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"

	pb "imapd/proto"
)

// maxKeys bounds one generation; maxMessage bounds what Ed25519 may sign
// (a TLS 1.3 CertificateVerify is 130 bytes, TLS 1.2's ServerKeyExchange
// input a few hundred).
const (
	maxKeys    = 4096
	maxMessage = 1024
)

// hashes maps the wire's hash names to Go's, and back.
var hashes = map[pb.SignHash]crypto.Hash{
	pb.SignHash_SIGN_HASH_NONE:   0,
	pb.SignHash_SIGN_HASH_SHA1:   crypto.SHA1,
	pb.SignHash_SIGN_HASH_SHA256: crypto.SHA256,
	pb.SignHash_SIGN_HASH_SHA384: crypto.SHA384,
	pb.SignHash_SIGN_HASH_SHA512: crypto.SHA512,
}

func wireHash(h crypto.Hash) (pb.SignHash, bool) {
	for w, g := range hashes {
		if g == h {
			return w, true
		}
	}
	return 0, false
}

// keyring is the keys of one generation, by certificate index.
type keyring struct {
	keys  []crypto.Signer
	certs [][]byte // each key's certificate chain, PEM, for the workers
	err   error    // while loading: the first key refused
}

// parseKey checks that keyPEM is the key of certPEM's leaf (as the parent
// read them) and returns it; nothing of the PEM is kept.
func parseKey(certPEM, keyPEM []byte) (crypto.Signer, error) {
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	s, ok := kp.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", kp.PrivateKey)
	}
	switch s.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return s, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", s)
}

// sign answers one request with key, refusing any combination a TLS
// handshake never asks for: a digest of the wrong length, PSS on a key that
// is not RSA, a hash with Ed25519 or none with the others.
func sign(key crypto.Signer, req *pb.SignRequest) ([]byte, error) {
	h, ok := hashes[req.Hash]
	if !ok {
		return nil, fmt.Errorf("unknown hash %d", req.Hash)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if h != 0 || req.Pss {
			return nil, errors.New("ed25519 signs the message itself, without hash or PSS")
		}
		if len(req.Digest) > maxMessage {
			return nil, fmt.Errorf("message of %d bytes exceeds %d", len(req.Digest), maxMessage)
		}
		return k.Sign(rand.Reader, req.Digest, crypto.Hash(0))
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
		if h == 0 {
			return nil, errors.New("a digest needs its hash")
		}
		if len(req.Digest) != h.Size() {
			return nil, fmt.Errorf("digest of %d bytes for %v", len(req.Digest), h)
		}
		var opts crypto.SignerOpts = h
		if req.Pss {
			if _, ok := k.(*rsa.PrivateKey); !ok {
				return nil, errors.New("PSS needs an RSA key")
			}
			if sl := int(req.SaltLength); sl != rsa.PSSSaltLengthEqualsHash && sl != rsa.PSSSaltLengthAuto && sl != h.Size() {
				return nil, fmt.Errorf("PSS salt length %d", sl)
			}
			opts = &rsa.PSSOptions{SaltLength: int(req.SaltLength), Hash: h}
		}
		return k.Sign(rand.Reader, req.Digest, opts)
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}
