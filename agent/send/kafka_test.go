package send

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/agent"
)

func TestKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("write: %w", kafka.SASLAuthenticationFailed), "authentication"},
		{errors.New("[58] SASL Authentication Failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"), "authentication"},
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), "unreachable"},
		{fmt.Errorf("lookup: %w", &net.DNSError{Name: "kafka.example", Err: "no such host"}), "unreachable"},
		{kafka.NotLeaderForPartition, "other"},
	}
	for _, tt := range tests {
		if got := Kind(tt.err); got != tt.want {
			t.Errorf("Kind(%v) = %q, want %q", tt.err, got, tt.want)
		}
		// What the agent reads off a failed Send.
		if got := agent.ErrorKind(&Error{Kind: Kind(tt.err), Err: tt.err}); got != tt.want {
			t.Errorf("agent.ErrorKind = %q, want %q", got, tt.want)
		}
	}
}
