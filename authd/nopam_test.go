//go:build !pam

package authd

import (
	"log/slog"
	"strings"
	"testing"

	pb "imapd/proto"
)

func TestBuiltWithoutPAM(t *testing.T) {
	_, err := newBackend(&pb.AuthdSetup{Backend: pb.AuthBackend_AUTH_BACKEND_PAM}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "without PAM") {
		t.Errorf("pam backend in a build without PAM: %v", err)
	}
}
