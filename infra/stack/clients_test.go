package stack

import (
	"slices"
	"testing"

	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// TestFunctionsLinkWhatTheirRolesAllow: lambdafn.Uses (the AWS clients each
// function links) and lambdafn.Permissions() (what each function's role may call)
// are read from the same code; they must agree. A function links S3 exactly
// when its role may touch an object or the bucket, KMS exactly when it may
// wrap, unwrap or describe the data key, SNS exactly when it may publish,
// and the CDN's Secrets Manager client exactly when it is the chat CDN's
// signer.
func TestFunctionsLinkWhatTheirRolesAllow(t *testing.T) {
	perms := lambdafn.Permissions()
	for _, name := range FunctionNames() {
		a, ok := perms[name]
		if !ok {
			t.Errorf("%s has no permissions", name)
			continue
		}
		uses, ok := lambdafn.Uses(name)
		if !ok {
			t.Errorf("%s is not in lambdafn.Uses", name)
			continue
		}
		for svc, may := range map[string]bool{
			lambdafn.S3:  len(a.Read)+len(a.Write)+len(a.Delete) > 0 || a.ListBucket,
			lambdafn.KMS: a.Wrap || a.Unwrap || a.Describe,
			lambdafn.SNS: a.Publish,
			lambdafn.CDN: name == ChatCDNFunction,
		} {
			if links := slices.Contains(uses, svc); links != may {
				t.Errorf("%s: links %s %v, its role may call it %v", name, svc, links, may)
			}
		}
	}
	if n := len(lambdafn.Permissions()); n != len(FunctionNames()) {
		t.Errorf("lambdafn.Permissions has %d functions, the stack %d", n, len(FunctionNames()))
	}
}
