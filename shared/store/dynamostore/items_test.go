package dynamostore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

func TestUploadExpiry(t *testing.T) {
	window := time.Date(2026, 3, 14, 15, 59, 59, 1, time.FixedZone("x", 2*3600))
	got := uploadExpiry(core.StatusPending, window)
	want := expiring{
		timeIndexed: indexedAt("upload#2026-03-14-13", window.Unix()+1),
		TTL:         window.Add(UploadTTLGrace).Unix() + 1,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(expiring{})); diff != "" {
		t.Errorf("uploadExpiry(pending) mismatch (-want +got):\n%s", diff)
	}
	exact := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	if got := uploadExpiry(core.StatusPending, exact).TimeAt; got == nil || *got != exact.Unix() {
		t.Errorf("time_at of a whole second: got %v, want %d", got, exact.Unix())
	}
	if got := uploadExpiry(core.StatusReady, window); got != (expiring{}) {
		t.Errorf("uploadExpiry(ready) = %+v, want none", got)
	}
}
