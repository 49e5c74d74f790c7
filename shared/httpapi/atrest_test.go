package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// TestNoStoredItemHoldsADataKey: after a photo's whole life (upload, share,
// open, a key issued, claimed and the ciphertext fetched, a full view, the
// cleanup job past every expiry), no stored item, no object, no log line
// and, on the embedded runtime, no byte of any file of the data directory
// (medshare.db whole, with the pages bbolt freed) holds the photo's data
// key, in raw bytes, hex or base64 (ARCHITECTURE §2.7). The photo's record
// holds the wrapped key and its digest, which the same search finds: the
// search reads what is stored.
func TestNoStoredItemHoldsADataKey(t *testing.T) {
	forEachRuntime(t, core.Config{}, testNoStoredItemHoldsADataKey)
}

func testNoStoredItemHoldsADataKey(t *testing.T, env *testenv.Env) {
	ctx := t.Context()
	pat, _, pro, _ := parties(env)
	img := bytes.Repeat([]byte("a photo kept only encrypted "), 100)
	id := pat.upload(t, "CROWN", "image/jpeg", img, &client.PhotoMetadata{Notes: "notes"})
	_, dev, a := openShare(t, pat, pro, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 5}, core.KEMX25519)
	k := pro.issue(t, a.AccessID, id)
	dataKey, err := dev.OpenKey(k, a.AccessID)
	if err != nil || len(dataKey) != 32 {
		t.Fatalf("open the sealed key: %v (%d bytes)", err, len(dataKey))
	}
	u := pro.claim(t, k.KeyID)
	if r := env.Get(u.URL); r.Status != http.StatusOK {
		t.Fatalf("fetch the ciphertext: %d", r.Status)
	}
	if got, err := pro.c.ViewPhoto(ctx, dev, a.AccessID, id); err != nil || !bytes.Equal(got, img) {
		t.Fatalf("view: %v (equal=%v)", err, bytes.Equal(got, img))
	}
	env.Clock.Advance(time.Hour)
	if _, err := env.Service.Cleanup(ctx); err != nil {
		t.Fatalf("cleanup: %v", err)
	}

	stored := env.StoredItems()
	photo, err := env.Store.GetPhoto(ctx, patient1, id)
	if err != nil {
		t.Fatal(err)
	}
	for what, v := range map[string][]byte{"wrapped key": photo.WrappedKey.Ciphertext, "ciphertext digest": photo.SHA256} {
		if len(testenv.Holding(stored, v)) == 0 {
			t.Fatalf("no stored item holds the photo's %s: the search does not read the store", what)
		}
	}
	everything := append(stored, env.StoredObjects()...)
	everything = append(everything, env.DataDirFiles()...)
	everything = append(everything, testenv.Stored{Where: "the logs", Data: []byte(env.Logs.String())})
	if where := testenv.Holding(everything, dataKey); len(where) > 0 {
		t.Errorf("the data key is stored in:\n%s", strings.Join(where, "\n"))
	}
}

// TestDeletedPhotoIsCryptoShredded: the photo's record is the only stored
// item that holds its wrapped data key, even once it is shared, opened on
// two devices and viewed; deleting the photo removes that record, so that
// afterwards no item of the store and no object holds the wrapped key or
// the ciphertext, and no key is issued for it again (DECISIONS "Deleting a
// photo crypto-shreds it").
func TestDeletedPhotoIsCryptoShredded(t *testing.T) {
	forEachRuntime(t, core.Config{}, testDeletedPhotoIsCryptoShredded)
}

func testDeletedPhotoIsCryptoShredded(t *testing.T, env *testenv.Env) {
	ctx := t.Context()
	pat, _, pro, _ := parties(env)
	img := bytes.Repeat([]byte("a photo to be shredded "), 100)
	id := pat.upload(t, "CROWN", "image/jpeg", img, nil)
	kept := pat.upload(t, "FRONT", "image/jpeg", []byte("a photo that stays"), nil)
	sh, err := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id, kept}, ExpiresIn: 600, MaxViews: 10, MaxDevices: 2}, "")
	if err != nil {
		t.Fatal(err)
	}
	var accesses []string
	var ciphertext []byte
	for range 2 {
		dev, _ := client.NewDevice(core.KEMX25519)
		a, err := pro.c.OpenAccess(ctx, sh.ShareID, dev)
		if err != nil {
			t.Fatal(err)
		}
		accesses = append(accesses, a.AccessID)
		k := pro.issue(t, a.AccessID, id)
		u := pro.claim(t, k.KeyID)
		r := env.Get(u.URL)
		if r.Status != http.StatusOK {
			t.Fatalf("fetch the ciphertext: %d", r.Status)
		}
		ciphertext = r.Body
	}
	photo, err := env.Store.GetPhoto(ctx, patient1, id)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := photo.WrappedKey.Ciphertext
	photoItem := storekeys.PhotoKey(patient1, id).SK
	// Some 64 bytes of the ciphertext, from its middle: enough to find it.
	sample := ciphertext[len(ciphertext)/2-32 : len(ciphertext)/2+32]

	where := testenv.Holding(env.StoredItems(), wrapped)
	if len(where) == 0 {
		t.Fatal("no stored item holds the wrapped key before the delete: the search does not read the store")
	}
	for _, w := range where {
		if !strings.Contains(w, photoItem) {
			t.Errorf("before the delete, the wrapped key is also stored in %s; want the photo's record only", w)
		}
	}
	if len(testenv.Holding(env.StoredObjects(), sample)) == 0 {
		t.Fatal("no object holds the ciphertext before the delete: the search does not read the objects")
	}

	if err := pat.c.Do(ctx, "DELETE", "/v1/photos/"+id, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if where := testenv.Holding(env.StoredItems(), wrapped); len(where) > 0 {
		t.Errorf("after the delete, the wrapped key is still stored in:\n%s", strings.Join(where, "\n"))
	}
	if where := testenv.Holding(env.StoredObjects(), sample); len(where) > 0 {
		t.Errorf("after the delete, the ciphertext is still stored in:\n%s", strings.Join(where, "\n"))
	}
	for _, a := range accesses {
		_, err := pro.c.IssueKey(ctx, a, id)
		wantCode(t, "key of the deleted photo", err, core.CodeNotFound)
		if _, err := pro.c.IssueKey(ctx, a, kept); err != nil {
			t.Errorf("key of the photo that stays: %v", err)
		}
	}
	wantChainValid(t, env)
}
