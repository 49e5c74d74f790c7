package s3blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/blobtest"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/store/storetest"
)

// TestImportContract runs the import contract on the S3 emulator.
func TestImportContract(t *testing.T) {
	store, _, _ := newEmulatorStore(t)
	blobtest.RunImport(t, blobtest.Harness{}, func(t *testing.T) blobtest.Importer { return store })
	if n := store.HashFallbacks(); n != 0 {
		t.Errorf("HashFallbacks() = %d, want 0: the emulator did not keep the imports' SHA-256", n)
	}
}

// TestCopyFrom copies objects of a second bucket (the legacy bucket of the
// migration) server-side: the copy has the source's bytes, the content type
// asked for and its SHA-256 stored; a missing source is not found.
func TestCopyFrom(t *testing.T) {
	store, client, _ := newEmulatorStore(t)
	legacy := awstest.NewBucket(t, client, "legacy")
	ctx := context.Background()
	for _, srcKey := range []string{"images/2022/0b9f2c.jpg", "images/a b+c%d é.jpg"} {
		t.Run(srcKey, func(t *testing.T) {
			data := make([]byte, 100_000)
			_, _ = rand.Read(data)
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(legacy), Key: aws.String(srcKey),
				Body: bytes.NewReader(data), ContentType: aws.String("binary/octet-stream")})
			storetest.Must(t, "put legacy object", err)
			key := "chat/" + core.NewID("ci")
			got, err := store.CopyFrom(ctx, legacy, srcKey, key, "image/jpeg")
			storetest.Must(t, "CopyFrom", err)
			if diff := cmp.Diff(core.BlobInfo{Size: int64(len(data)), SHA256: storetest.Digest(string(data))}, got); diff != "" {
				t.Errorf("CopyFrom returned (-want +got):\n%s", diff)
			}
			u, err := store.PresignGet(ctx, key, 60_000_000_000)
			storetest.Must(t, "PresignGet", err)
			resp, err := http.Get(u.URL)
			storetest.Must(t, "GET", err)
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
				t.Errorf("copy's Content-Type %q, want image/jpeg", ct)
			}
		})
	}
	_, err := store.CopyFrom(ctx, legacy, "images/missing.jpg", "chat/"+core.NewID("ci"), "image/jpeg")
	storetest.WantKind(t, "CopyFrom of a missing object", err, core.KindNotFound)
	if n := store.HashFallbacks(); n != 0 {
		t.Errorf("HashFallbacks() = %d, want 0: the copies have no stored SHA-256", n)
	}
}
