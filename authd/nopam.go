//go:build !pam

package authd

import (
	"errors"
	"log/slog"
)

func newPAM(service string, log *slog.Logger) (backend, error) {
	return nil, errors.New("authd: auth_backend pam: this imapd-authd was built without PAM (build with -tags pam)")
}
