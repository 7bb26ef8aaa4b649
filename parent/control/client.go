package control

import (
	"errors"
	"fmt"
	"net"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

// clientTimeout bounds one request: a reload starts new workers, which takes
// a while, but imapctl must not hang forever on a wedged server.
const clientTimeout = 2 * time.Minute

// Client is an imapctl connection to the control socket. It is not safe
// for concurrent use.
type Client struct {
	c   *net.UnixConn
	id  uint64
	buf []byte
}

// Dial connects to the control socket at path.
func Dial(path string) (*Client, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Client{c: c, buf: make([]byte, maxMessage+1)}, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }

// Do sends req (its ctl_version set here) and returns the reply, an error
// when the server refused it.
func (c *Client) Do(req *pb.CtlRequest) (*pb.CtlReply, error) {
	c.id++
	req.CtlVersion = Version
	data, err := marshal(c.id, req)
	if err != nil {
		return nil, err
	}
	c.c.SetDeadline(time.Now().Add(clientTimeout))
	if _, err := c.c.Write(data); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	env, err := readEnvelope(c.c, c.buf)
	if errors.Is(err, ipc.ErrClosed) {
		return nil, errors.New("control: imapd closed the connection")
	}
	if err != nil {
		return nil, err
	}
	reply := env.GetCtlReply()
	switch {
	case reply == nil:
		return nil, fmt.Errorf("control: unexpected message %q", ipc.BodyName(env))
	case !reply.Ok && reply.Error != "":
		return reply, fmt.Errorf("imapd: %s", reply.Error)
	case env.Version != ipc.Version || reply.CtlVersion != Version:
		return nil, fmt.Errorf("%w: imapd speaks %d/%d, imapctl %d/%d",
			ErrVersion, env.Version, reply.CtlVersion, ipc.Version, Version)
	case env.Id != c.id:
		return nil, fmt.Errorf("control: reply to request %d, want %d", env.Id, c.id)
	case !reply.Ok:
		return reply, errors.New("imapd: request failed")
	}
	return reply, nil
}

// Status asks for the server's status report.
func (c *Client) Status() (*pb.StatusReport, error) {
	r, err := c.Do(&pb.CtlRequest{Op: &pb.CtlRequest_Status{Status: &pb.CtlStatus{}}})
	if err != nil {
		return nil, err
	}
	if r.Status == nil {
		return nil, errors.New("control: status reply without a report")
	}
	return r.Status, nil
}

// Reload asks the server to re-read its configuration. An error means the
// server kept its old one.
func (c *Client) Reload() error {
	_, err := c.Do(&pb.CtlRequest{Op: &pb.CtlRequest_Reload{Reload: &pb.CtlReload{}}})
	return err
}

// AuthTest checks user's password as a login would.
func (c *Client) AuthTest(user string, password []byte) (*pb.AuthTestResult, error) {
	r, err := c.Do(&pb.CtlRequest{Op: &pb.CtlRequest_AuthTest{AuthTest: &pb.CtlAuthTest{User: user, Password: password}}})
	if err != nil {
		return nil, err
	}
	if r.AuthTest == nil {
		return nil, errors.New("control: auth test reply without a result")
	}
	return r.AuthTest, nil
}

// Who lists the server's connections.
func (c *Client) Who() ([]*pb.SessionInfo, error) {
	r, err := c.Do(&pb.CtlRequest{Op: &pb.CtlRequest_Who{Who: &pb.CtlWho{}}})
	if err != nil {
		return nil, err
	}
	return r.Who, nil
}

// Kick ends every session of user and returns how many there were.
func (c *Client) Kick(user string) (int, error) {
	r, err := c.Do(&pb.CtlRequest{Op: &pb.CtlRequest_Kick{Kick: &pb.CtlKick{User: user}}})
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(r.Message, "%d", &n); err != nil {
		return 0, fmt.Errorf("control: kick reply %q", r.Message)
	}
	return n, nil
}

// Move pins user to a proxy backend, ending their sessions elsewhere.
func (c *Client) Move(user, backend string) (string, error) {
	r, err := c.Do(&pb.CtlRequest{Op: &pb.CtlRequest_Move{Move: &pb.CtlMove{User: user, Backend: backend}}})
	if err != nil {
		return "", err
	}
	return r.Message, nil
}
