package kmskeys_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/keyring/keyringtest"
	"github.com/medshare/medshare/shared/keyring/kmskeys"
)

// newKey creates a symmetric encryption key for one test and schedules its
// deletion when the test ends.
func newKey(t *testing.T, client *kms.Client) string {
	t.Helper()
	out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{
		Description: aws.String("medshare test " + t.Name()),
		KeySpec:     types.KeySpecSymmetricDefault,
		KeyUsage:    types.KeyUsageTypeEncryptDecrypt,
	})
	if err != nil {
		t.Fatalf("create kms key: %v", err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	t.Cleanup(func() {
		if _, err := client.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{
			KeyId:               aws.String(id),
			PendingWindowInDays: aws.Int32(7),
		}); err != nil {
			t.Errorf("schedule deletion of kms key %s: %v", id, err)
		}
	})
	return id
}

func newEmulatorRing(t *testing.T, client *kms.Client, keyID string) *kmskeys.Ring {
	t.Helper()
	r, err := kmskeys.New(client, keyID)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func TestContract(t *testing.T) {
	cfg := awstest.Config(t)
	client := kms.NewFromConfig(cfg)
	keyringtest.Run(t, func(t *testing.T) core.KeyRing {
		r, err := kmskeys.New(fidelity(cfg, client), newKey(t, client))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return r
	})
}

// fidelity returns client as it is against AWS, and wrapped in
// localKMSFidelity against an emulator endpoint.
func fidelity(cfg aws.Config, client *kms.Client) kmskeys.API {
	if os.Getenv("AWS_ENDPOINT_URL_KMS") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" && cfg.BaseEndpoint == nil {
		return client
	}
	return localKMSFidelity{client}
}

// localKMSFidelity restores, on local-kms, two properties of AWS KMS that
// keyringtest checks and that no adapter can provide, because they live
// inside KMS:
//
//   - KMS binds the encryption context unambiguously; local-kms feeds
//     GCM the sorted keys and values concatenated, so that {"a": "bc"} and
//     {"ab": "c"} authenticate alike. The shim length-prefixes every key and
//     value before local-kms sees them.
//   - KMS authenticates the whole ciphertext blob; local-kms's blob is
//     len || key ARN || version || GCM output, and when Decrypt names the
//     key (as the adapter does) it ignores the ARN bytes, so flipping one
//     goes unnoticed. The shim refuses a blob whose ARN is not the key
//     that decrypted it, with InvalidCiphertextException, as KMS would.
//
// The adapter's own behavior (what it sends, how it translates errors) is
// untouched: the shim sits between it and the emulator.
type localKMSFidelity struct{ *kms.Client }

func (c localKMSFidelity) Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error) {
	cp := *in
	cp.EncryptionContext = prefixed(in.EncryptionContext)
	return c.Client.Encrypt(ctx, &cp, optFns...)
}

func (c localKMSFidelity) Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	cp := *in
	cp.EncryptionContext = prefixed(in.EncryptionContext)
	out, err := c.Client.Decrypt(ctx, &cp, optFns...)
	if err != nil {
		return nil, err
	}
	if b := in.CiphertextBlob; len(b) < 1+int(b[0]) || string(b[1:1+int(b[0])]) != aws.ToString(out.KeyId) {
		return nil, &types.InvalidCiphertextException{Message: aws.String("ciphertext header does not match the key (local-kms fidelity shim)")}
	}
	return out, nil
}

func prefixed(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strconv.Itoa(len(k))+":"+k] = strconv.Itoa(len(v)) + ":" + v
	}
	return out
}

// TestOtherKey checks that a ring unwraps only what its own key wrapped, as
// the local ring does, even when the wrapped key names the other key.
func TestOtherKey(t *testing.T) {
	client := kms.NewFromConfig(awstest.Config(t))
	a := newEmulatorRing(t, client, newKey(t, client))
	b := newEmulatorRing(t, client, newKey(t, client))
	ctx := context.Background()
	encCtx := map[string]string{"photo": "ph_1", "owner": "patient-1"}
	key := bytes.Repeat([]byte{7}, 32)
	w, err := a.Wrap(ctx, key, encCtx)
	if err != nil {
		t.Fatalf("Wrap = %v", err)
	}
	got, err := b.Unwrap(ctx, w, encCtx)
	if err == nil || core.KindOf(err) != core.KindInternal || got != nil {
		t.Errorf("Unwrap by a ring of another key = %d bytes, %v; want no bytes and KindInternal", len(got), err)
	}
}

// TestKeyIDIsARN checks that the wrapped key names the KMS key by its ARN
// even when the ring was given an alias.
func TestKeyIDIsARN(t *testing.T) {
	client := kms.NewFromConfig(awstest.Config(t))
	ctx := context.Background()
	id := newKey(t, client)
	alias := "alias/" + awstest.UniqueName(t, "medshare-test")
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)}); err != nil {
		t.Fatalf("create alias: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteAlias(context.Background(), &kms.DeleteAliasInput{AliasName: aws.String(alias)})
	})
	desc, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatalf("describe key: %v", err)
	}
	r := newEmulatorRing(t, client, alias)
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping through the alias = %v", err)
	}
	w, err := r.Wrap(ctx, bytes.Repeat([]byte{1}, 32), nil)
	if err != nil {
		t.Fatalf("Wrap = %v", err)
	}
	if want := aws.ToString(desc.KeyMetadata.Arn); w.KeyID != want {
		t.Errorf("KeyID = %q, want the key's ARN %q", w.KeyID, want)
	}
	if _, err := r.Unwrap(ctx, w, nil); err != nil {
		t.Errorf("Unwrap through the alias = %v", err)
	}
}

func TestPingDisabledKey(t *testing.T) {
	client := kms.NewFromConfig(awstest.Config(t))
	ctx := context.Background()
	id := newKey(t, client)
	if _, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatalf("disable key: %v", err)
	}
	if err := newEmulatorRing(t, client, id).Ping(ctx); !core.IsKind(err, core.KindInternal) {
		t.Errorf("Ping of a disabled key = %v, want KindInternal", err)
	}
}
