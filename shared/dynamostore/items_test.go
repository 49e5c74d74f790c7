package dynamostore

import (
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

func TestUploadExpiry(t *testing.T) {
	window := time.Date(2026, 3, 14, 15, 59, 59, 1, time.FixedZone("x", 2*3600))
	got := uploadExpiry(core.StatusPending, window)
	want := expiring{
		ExpiryBucket: "upload#2026-03-14-13",
		ExpiresAt:    window.Unix() + 1,
		TTL:          window.Add(UploadTTLGrace).Unix() + 1,
	}
	if got != want {
		t.Errorf("uploadExpiry(pending) = %+v, want %+v", got, want)
	}
	exact := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	if got := uploadExpiry(core.StatusPending, exact).ExpiresAt; got != exact.Unix() {
		t.Errorf("expires_at of a whole second: got %d, want %d", got, exact.Unix())
	}
	if got := uploadExpiry(core.StatusReady, window); got != (expiring{}) {
		t.Errorf("uploadExpiry(ready) = %+v, want none", got)
	}
}
