package lambdafn

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/core"
)

// TestUnlinkedFailsClosed: a service a function does not link answers
// every call with an internal error that names the function and the
// service, for the log; never a nil dereference, never success.
func TestUnlinkedFailsClosed(t *testing.T) {
	u := unlinked{"list-photos", KMS}
	ctx := context.Background()
	_, e1 := u.PresignPut(ctx, "k", 1, make([]byte, 32), "image/png", 60)
	_, e2 := u.PresignGet(ctx, "k", 60)
	_, e3 := u.Stat(ctx, "k")
	_, e4 := u.Wrap(ctx, make([]byte, 32), nil)
	_, e5 := u.Unwrap(ctx, core.WrappedKey{}, nil)
	for i, err := range []error{e1, e2, e3, u.Delete(ctx, "k"), e4, e5, u.Publish(ctx, core.Notification{}), u.Ping(ctx)} {
		if core.KindOf(err) != core.KindInternal {
			t.Errorf("call %d: %v, want an internal error", i, err)
			continue
		}
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Err == nil || !strings.Contains(ce.Err.Error(), "list-photos does not link kms") {
			t.Errorf("call %d: %v, want the cause to name the function and the service", i, err)
		}
	}
}
