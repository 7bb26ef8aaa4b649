package parent

import (
	"fmt"
	"time"

	pb "imapd/proto"
)

// grants holds what authd has vouched for and nobody has redeemed yet. A
// preauth worker can only turn a connection into a mailbox session by
// presenting a token from here, for the same connection, from the same
// worker, in time (DESIGN §2.5): identity comes only from the grant.
type grants struct {
	m   map[string]*pb.Grant
	now func() time.Time
}

func newGrants(now func() time.Time) *grants {
	return &grants{m: map[string]*pb.Grant{}, now: now}
}

func (g *grants) add(gr *pb.Grant) {
	g.expire()
	g.m[gr.Token] = gr
}

// redeem returns the grant for token if worker may use it for conn. Any
// presentation of a known token burns it: a token shown by the wrong worker
// or for the wrong connection has leaked and must not work later either.
func (g *grants) redeem(token string, worker uint32, conn uint64) (*pb.Grant, error) {
	gr, ok := g.m[token]
	if !ok {
		return nil, fmt.Errorf("unknown or already used token")
	}
	delete(g.m, token)
	switch {
	case gr.PreauthId != worker:
		return nil, fmt.Errorf("token granted to preauth worker %d, presented by %d", gr.PreauthId, worker)
	case gr.ConnId != conn:
		return nil, fmt.Errorf("token granted for connection %d, presented for %d", gr.ConnId, conn)
	case g.now().UnixNano() > gr.ExpiryUnixNano:
		return nil, fmt.Errorf("token expired")
	}
	return gr, nil
}

// expire drops grants nobody redeemed in time (their connection died).
func (g *grants) expire() {
	now := g.now().UnixNano()
	for t, gr := range g.m {
		if now > gr.ExpiryUnixNano {
			delete(g.m, t)
		}
	}
}
