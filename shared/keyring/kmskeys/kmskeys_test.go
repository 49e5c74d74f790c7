package kmskeys_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/keyring/kmskeys"
)

const keyARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// fakeKMS records the requests and answers with what the test sets.
type fakeKMS struct {
	encrypts []*kms.EncryptInput
	decrypts []*kms.DecryptInput
	err      error
	enabled  bool
}

func (f *fakeKMS) Encrypt(_ context.Context, in *kms.EncryptInput, _ ...func(*kms.Options)) (*kms.EncryptOutput, error) {
	f.encrypts = append(f.encrypts, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.EncryptOutput{KeyId: aws.String(keyARN), CiphertextBlob: append([]byte("wrapped:"), in.Plaintext...)}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.decrypts = append(f.decrypts, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.DecryptOutput{KeyId: aws.String(keyARN), Plaintext: bytes.TrimPrefix(in.CiphertextBlob, []byte("wrapped:"))}, nil
}

func (f *fakeKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &kms.DescribeKeyOutput{KeyMetadata: &types.KeyMetadata{KeyId: in.KeyId, Arn: aws.String(keyARN), Enabled: f.enabled}}, nil
}

func newRing(t *testing.T, f *fakeKMS) *kmskeys.Ring {
	t.Helper()
	r, err := kmskeys.New(f, "alias/medshare")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func TestWrapUnwrapRequests(t *testing.T) {
	f := &fakeKMS{}
	r := newRing(t, f)
	ctx := context.Background()
	key := bytes.Repeat([]byte{0xab}, 32)
	encCtx := map[string]string{"photo": "ph_1", "owner": "patient-1"}
	w, err := r.Wrap(ctx, key, encCtx)
	if err != nil {
		t.Fatalf("Wrap = %v", err)
	}
	if w.KeyID != keyARN {
		t.Errorf("KeyID = %q, want the ARN KMS returned %q", w.KeyID, keyARN)
	}
	w.KeyID = "arn:aws:kms:us-east-1:111122223333:key/other" // whatever the stored id says
	got, err := r.Unwrap(ctx, w, encCtx)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %d bytes, %v; want the key", len(got), err)
	}
	if got, want := aws.ToString(f.encrypts[0].KeyId), "alias/medshare"; got != want {
		t.Errorf("Encrypt KeyId = %q, want %q", got, want)
	}
	if diff := cmp.Diff(encCtx, f.encrypts[0].EncryptionContext); diff != "" {
		t.Errorf("Encrypt context mismatch (-want +got):\n%s", diff)
	}
	if got, want := aws.ToString(f.decrypts[0].KeyId), "alias/medshare"; got != want {
		t.Errorf("Decrypt KeyId = %q, want the ring's key %q", got, want)
	}
	if diff := cmp.Diff(encCtx, f.decrypts[0].EncryptionContext); diff != "" {
		t.Errorf("Decrypt context mismatch (-want +got):\n%s", diff)
	}
	// The ring keeps no reference to the caller's map.
	encCtx["photo"] = "ph_2"
	if f.encrypts[0].EncryptionContext["photo"] != "ph_1" {
		t.Errorf("Encrypt was given the caller's map, not a copy")
	}
}

// apiError is what the SDK returns for a KMS error response.
func apiError(status int, err error) error { return awstest.APIError("KMS", "Decrypt", status, err) }

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want core.Kind
	}{
		{"invalid ciphertext", apiError(400, &types.InvalidCiphertextException{}), core.KindInternal},
		{"incorrect key", apiError(400, &types.IncorrectKeyException{}), core.KindInternal},
		{"validation", apiError(400, &smithy.GenericAPIError{Code: "ValidationException"}), core.KindInternal},
		{"access denied", apiError(400, &smithy.GenericAPIError{Code: "AccessDeniedException"}), core.KindInternal},
		{"not found", apiError(400, &types.NotFoundException{}), core.KindInternal},
		{"disabled", apiError(400, &types.DisabledException{}), core.KindInternal},
		{"invalid state", apiError(400, &types.KMSInvalidStateException{}), core.KindInternal},
		{"kms internal", apiError(500, &types.KMSInternalException{}), core.KindUnavailable},
		{"dependency timeout", apiError(503, &types.DependencyTimeoutException{}), core.KindUnavailable},
		{"key unavailable", apiError(500, &types.KeyUnavailableException{}), core.KindUnavailable},
		{"throttling", apiError(400, &smithy.GenericAPIError{Code: "ThrottlingException"}), core.KindUnavailable},
		{"request quota", apiError(400, &types.LimitExceededException{}), core.KindUnavailable},
		{"unknown 503", apiError(503, &smithy.GenericAPIError{Code: "Whatever"}), core.KindUnavailable},
		{"connection refused", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}, core.KindUnavailable},
		{"deadline", context.DeadlineExceeded, core.KindUnavailable},
		{"canceled", &aws.RequestCanceledError{Err: context.Canceled}, core.KindUnavailable},
		{"unknown", errors.New("boom"), core.KindInternal},
	}
	key := bytes.Repeat([]byte{0x5c}, 32)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(t, &fakeKMS{err: tt.err})
			ctx := context.Background()
			_, werr := r.Wrap(ctx, key, nil)
			got, uerr := r.Unwrap(ctx, core.WrappedKey{KeyID: keyARN, Ciphertext: []byte("x")}, nil)
			perr := r.Ping(ctx)
			for name, err := range map[string]error{"Wrap": werr, "Unwrap": uerr, "Ping": perr} {
				if err == nil || core.KindOf(err) != tt.want {
					t.Errorf("%s = %v, want kind %v", name, err, tt.want)
					continue
				}
				if s := err.Error(); strings.Contains(s, string(key)) || strings.Contains(s, hex.EncodeToString(key)) {
					t.Errorf("%s error %q holds the data key", name, s)
				}
			}
			if got != nil {
				t.Errorf("failed Unwrap returned %d bytes", len(got))
			}
			var ce *core.Error
			if errors.As(uerr, &ce) && ce.Message != "unwrap data key" {
				t.Errorf("Unwrap error message = %q, want %q", ce.Message, "unwrap data key")
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	f := &fakeKMS{}
	r := newRing(t, f)
	ctx := context.Background()
	for _, n := range []int{0, 4097} {
		if _, err := r.Wrap(ctx, make([]byte, n), nil); !core.IsKind(err, core.KindInvalid) {
			t.Errorf("Wrap of %d bytes = %v, want KindInvalid", n, err)
		}
	}
	if _, err := r.Unwrap(ctx, core.WrappedKey{KeyID: keyARN}, nil); !core.IsKind(err, core.KindInternal) {
		t.Errorf("Unwrap of an empty ciphertext = %v, want KindInternal", err)
	}
	if len(f.encrypts)+len(f.decrypts) != 0 {
		t.Errorf("invalid input reached KMS")
	}
	if _, err := kmskeys.New(f, ""); err == nil {
		t.Errorf("New with an empty key id succeeded")
	}
}

func TestPing(t *testing.T) {
	if err := newRing(t, &fakeKMS{enabled: true}).Ping(context.Background()); err != nil {
		t.Errorf("Ping of an enabled key = %v", err)
	}
	if err := newRing(t, &fakeKMS{enabled: false}).Ping(context.Background()); !core.IsKind(err, core.KindInternal) {
		t.Errorf("Ping of a disabled key = %v, want KindInternal", err)
	}
}
