package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/client"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/sharemodel"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// checkShare checks the calls on share id recorded in h against the model of
// a share as the API answers (a revoke answers the same whether it wrote or
// not), on either runtime. The service's detectors may revoke a share (a
// burst of keys, failed claims) inside a call that answers key_used or
// session_revoked; only when the stored share says that the detector revoked
// it does the model allow that, so that every other run is checked without
// that freedom.
func checkShare(t *testing.T, env *testenv.Env, id string, h *sharemodel.History) {
	t.Helper()
	sh, err := env.Store.GetShare(t.Context(), id)
	if err != nil {
		t.Fatalf("get share %s: %v", id, err)
	}
	opts := sharemodel.Options{Detectors: sh.RevokedBy == core.DetectorID}
	t.Logf("share %s: status %s, revoked by %q: detectors in the model: %t", id, sh.Status, sh.RevokedBy, opts.Detectors)
	sharemodel.Check(t, opts, h)
}

// apiOutput is the model's output of an API call that returned err.
func apiOutput(err error) sharemodel.Output {
	if err == nil {
		return sharemodel.Output{}
	}
	code := client.Code(err)
	if code == "" {
		code = "no answer" // the model allows no such outcome
	}
	return sharemodel.Output{Code: code, Err: err.Error()}
}

// recordedShare creates a share of photoID with pro1 allowing maxViews views
// on one device, opens an access on dev and issues keys keys, each as client
// 0's call in h, and returns the share, the access and the keys' ids.
func recordedShare(t *testing.T, h *sharemodel.History, pat, pro party, photoID string, maxViews int, dev *client.Device, keys int) (client.Share, client.Access, []string) {
	t.Helper()
	ctx := context.Background()
	var sh client.Share
	out := h.Do(0, sharemodel.Input{Op: sharemodel.OpCreate, MaxViews: maxViews, MaxDevices: 1}, func() sharemodel.Output {
		var err error
		sh, err = pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro.sub, PhotoIDs: []string{photoID}, ExpiresIn: 600, MaxViews: maxViews}, "")
		out := apiOutput(err)
		out.ID = sh.ShareID
		return out
	})
	if out.Code != "" {
		t.Fatalf("create share: %s", out.Err)
	}
	var a client.Access
	out = h.Do(0, sharemodel.Input{Op: sharemodel.OpOpen, ID: dev.Fingerprint}, func() sharemodel.Output {
		var err error
		a, err = pro.c.OpenAccess(ctx, sh.ShareID, dev)
		return apiOutput(err)
	})
	if out.Code != "" {
		t.Fatalf("open access: %s", out.Err)
	}
	var ids []string
	for range keys {
		out := h.Do(0, sharemodel.Input{Op: sharemodel.OpIssue}, func() sharemodel.Output { return issued(pro.c.IssueKey(ctx, a.AccessID, photoID)) })
		if out.Code != "" {
			t.Fatalf("issue key: %s", out.Err)
		}
		ids = append(ids, out.ID)
	}
	return sh, a, ids
}

// issued is the model's output of an issue-key call.
func issued(k client.IssuedKey, err error) sharemodel.Output {
	out := apiOutput(err)
	if err == nil {
		out.ID = k.KeyID
	}
	return out
}

func deviceBody(t *testing.T) map[string]any {
	t.Helper()
	d, err := client.NewDevice(core.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kem": d.KEM, "device_public_key": d.Private.PublicKey().Bytes(), "device_fingerprint": d.Fingerprint}
}

// sharedWith shares photoID of owner with pro (two devices allowed), opens an
// access, issues a key, and returns the share, access and key ids and the id
// of pro's newest notification.
func sharedWith(t *testing.T, env *testenv.Env, owner, pro, photoID string) (string, string, string, string) {
	t.Helper()
	ctx := context.Background()
	pc := client.New(env.URL, env.Token(owner, core.RolePatient))
	sh, err := pc.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro, PhotoIDs: []string{photoID}, ExpiresIn: 3600, MaxViews: 100, MaxDevices: 2}, "")
	if err != nil {
		t.Fatalf("create share: %v", err)
	}
	gc := client.New(env.URL, env.Token(pro, core.RoleProfessional))
	dev, _ := client.NewDevice(core.KEMX25519)
	a, err := gc.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatalf("open access: %v", err)
	}
	k, err := gc.IssueKey(ctx, a.AccessID, photoID)
	if err != nil {
		t.Fatalf("issue key: %v", err)
	}
	var inbox struct {
		Items []struct {
			NotificationID string `json:"notification_id"`
		} `json:"items"`
	}
	if err := gc.Do(ctx, "GET", "/v1/notifications", nil, nil, &inbox); err != nil || len(inbox.Items) == 0 {
		t.Fatalf("inbox of %s: %v %v", pro, err, inbox)
	}
	return sh.ShareID, a.AccessID, k.KeyID, inbox.Items[0].NotificationID
}

type party struct {
	c   *client.Client
	sub string
}

func parties(env *testenv.Env) (patientA, patientB, grantee, other party) {
	mk := func(sub string, role core.Role) party {
		return party{client.New(env.URL, env.Token(sub, role)), sub}
	}
	return mk(patient1, core.RolePatient), mk(patient2, core.RolePatient), mk(pro1, core.RoleProfessional), mk(pro2, core.RoleProfessional)
}

// refusal is one request and the status and error code it must be
// answered with.
type refusal struct {
	name        string
	method, url string
	token       string
	body        any
	status      int
	code        string
}

// wantRefusals sends each request, a subtest each, and checks its answer.
func wantRefusals(t *testing.T, env *testenv.Env, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := env.Do(c.method, c.url, c.token, c.body)
			if r.Status != c.status || r.Code() != c.code {
				t.Errorf("got %d %q (%s), want %d %q", r.Status, r.Code(), r.Body, c.status, c.code)
			}
		})
	}
}

// bodyWith returns a copy of base with over laid on it: a nil value in
// over removes that field, so one table row can drop a required field.
func bodyWith(base, over map[string]any) map[string]any {
	m := maps.Clone(base)
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// chainUnmoved reads the patient's audit head; the func it returns fails
// the test, saying on what, if the head has moved since (or cannot be
// read).
func chainUnmoved(t *testing.T, env *testenv.Env, patient string) func(on string) {
	t.Helper()
	head, err := env.Store.AuditHead(t.Context(), patient)
	if err != nil {
		t.Fatal(err)
	}
	return func(on string) {
		t.Helper()
		if h, err := env.Store.AuditHead(t.Context(), patient); err != nil || h.Seq != head.Seq {
			t.Errorf("audit head of %s moved from %d to %d (%v) %s", patient, head.Seq, h.Seq, err, on)
		}
	}
}

// upload uploads a photo as p and stops the test if that fails.
func (p party) upload(t *testing.T, angle, contentType string, photo []byte, meta *client.PhotoMetadata) string {
	t.Helper()
	id, err := p.c.UploadPhoto(t.Context(), angle, contentType, photo, meta)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// issue issues a key of the photo through the access as p and stops the
// test if that fails.
func (p party) issue(t *testing.T, accessID, photoID string) client.IssuedKey {
	t.Helper()
	k, err := p.c.IssueKey(t.Context(), accessID, photoID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// claim claims the key as p and stops the test if that fails.
func (p party) claim(t *testing.T, keyID string) client.SignedURL {
	t.Helper()
	u, err := p.c.ClaimKey(t.Context(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// openShare: the patient creates the share req and the grantee opens it
// from a new device of kem; it stops the test if either fails.
func openShare(t *testing.T, patient, grantee party, req client.ShareRequest, kem uint16) (client.Share, *client.Device, client.Access) {
	t.Helper()
	sh, err := patient.c.CreateShare(t.Context(), req, "")
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := client.NewDevice(kem)
	a, err := grantee.c.OpenAccess(t.Context(), sh.ShareID, dev)
	if err != nil {
		t.Fatal(err)
	}
	return sh, dev, a
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := client.Code(err); got != code {
		t.Errorf("%s: %v (code %q), want %q", what, err, got, code)
	}
}

// TestSharingFlow: a patient shares an encrypted photo with a professional,
// who views it on a device with every KEM the server offers; the photo is
// decrypted to the original bytes; notifications and the audit trail follow;
// revocation stops everything at once.
func TestSharingFlow(t *testing.T) {
	for _, kem := range core.KEMs {
		t.Run(fmt.Sprintf("kem %#04x", kem), func(t *testing.T) {
			forEachRuntime(t, core.Config{}, func(t *testing.T, env *testenv.Env) {
				ctx := context.Background()
				pat, _, pro, other := parties(env)
				crown := bytes.Repeat([]byte("crown photo "), 3000)
				front := bytes.Repeat([]byte("front photo "), 2000)
				crownID := pat.upload(t, "CROWN", "image/jpeg", crown, &client.PhotoMetadata{Notes: "encrypted notes"})
				frontID := pat.upload(t, "FRONT", "image/jpeg", front, nil)
				sh, err := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, Angles: []string{"CROWN"}, ExpiresIn: 3600, MaxViews: 3, ScreenshotPolicy: "warn", Purpose: "second opinion"}, "")
				if err != nil {
					t.Fatal(err)
				}
				if sh.Status != "active" || len(sh.PhotoIDs) != 1 || sh.PhotoIDs[0] != crownID || sh.MaxViews != 3 || sh.ViewsUsed != 0 {
					t.Fatalf("share = %+v, want the crown photo only, active, 0/3 views", sh)
				}
				if _, err := other.c.GetShare(ctx, sh.ShareID); client.Code(err) != core.CodeNotFound {
					t.Errorf("another professional reads the share: %v", err)
				}

				dev, err := client.NewDevice(kem)
				if err != nil {
					t.Fatal(err)
				}
				a, err := pro.c.OpenAccess(ctx, sh.ShareID, dev)
				if err != nil {
					t.Fatal(err)
				}
				got, err := pro.c.ViewPhoto(ctx, dev, a.AccessID, crownID)
				if err != nil || !bytes.Equal(got, crown) {
					t.Fatalf("view: %v (equal=%v)", err, bytes.Equal(got, crown))
				}
				if _, err := pro.c.IssueKey(ctx, a.AccessID, frontID); client.Code(err) != core.CodeNotFound {
					t.Errorf("key of a photo outside the share: %v, want not_found", err)
				}
				// A key opens only on the device it was sealed to.
				k := pro.issue(t, a.AccessID, crownID)
				stranger, _ := client.NewDevice(kem)
				if _, err := stranger.OpenKey(k, a.AccessID); err == nil {
					t.Error("another device opened the sealed key")
				}
				if sh, _ := pat.c.GetShare(ctx, sh.ShareID); sh.ViewsUsed != 2 {
					t.Errorf("views_used = %d, want 2", sh.ViewsUsed)
				}

				if err := pat.c.RevokeShare(ctx, sh.ShareID); err != nil {
					t.Fatal(err)
				}
				if err := pat.c.RevokeShare(ctx, sh.ShareID); err != nil {
					t.Errorf("second revoke: %v", err)
				}
				_, err = pro.c.ClaimKey(ctx, k.KeyID)
				wantCode(t, "claim of a key issued before revoke", err, core.CodeSessionRevoked)
				_, err = pro.c.IssueKey(ctx, a.AccessID, crownID)
				wantCode(t, "issue after revoke", err, core.CodeSessionRevoked)
				_, err = pro.c.OpenAccess(ctx, sh.ShareID, dev)
				wantCode(t, "open after revoke", err, core.CodeSessionRevoked)

				types := func(p party) []string {
					var inbox struct {
						Items []struct{ Type string } `json:"items"`
					}
					if err := p.c.Do(ctx, "GET", "/v1/notifications", nil, nil, &inbox); err != nil {
						t.Fatal(err)
					}
					var out []string
					for _, it := range inbox.Items {
						out = append(out, it.Type)
					}
					return out
				}
				if got, want := strings.Join(types(pro), ","), "session_revoked,session_created"; got != want {
					t.Errorf("grantee's notifications = %s, want %s", got, want)
				}
				if got, want := strings.Join(types(pat), ","), "photo_viewed,photo_viewed,session_accessed"; got != want {
					t.Errorf("patient's notifications = %s, want %s", got, want)
				}
				var actions []string
				for _, r := range history(t, env, patient1, core.RolePatient) {
					actions = append(actions, r.Action+":"+r.Outcome)
				}
				want := "access.open:denied,key.issue:denied,key.claim:denied,share.revoke:success," +
					"key.issue:success,key.claim:success,key.issue:success,access.open:success,share.create:success"
				if got := strings.Join(actions[:9], ","); got != want {
					t.Errorf("history = %s\nwant      %s", got, want)
				}
				wantChainValid(t, env)
			})
		})
	}
}

// TestConcurrentViews: 300 concurrent key requests on a session with 10 views
// give exactly 10 keys; the rest get views_exhausted.
func TestConcurrentViews(t *testing.T) { forEachRuntime(t, core.Config{}, testConcurrentViews) }

func testConcurrentViews(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id := pat.upload(t, "VERTEX", "image/png", []byte("vertex"), nil)
	var h sharemodel.History
	dev, _ := client.NewDevice(core.KEMX25519)
	sh, a, _ := recordedShare(t, &h, pat, pro, id, 10, dev, 0)
	got := raceCalls(t, &h, 300, sharemodel.Input{Op: sharemodel.OpIssue}, func() (sharemodel.Output, error) {
		k, err := pro.c.IssueKey(ctx, a.AccessID, id)
		return issued(k, err), err
	})
	if diff := cmp.Diff(map[string]int{"": 10, core.CodeViewsExhausted: 290}, got); diff != "" {
		t.Errorf("answers by error code (\"\" a key) (-want +got):\n%s", diff)
	}
	if got, _ := pat.c.GetShare(ctx, sh.ShareID); got.ViewsUsed != 10 {
		t.Errorf("views_used = %d, want 10", got.ViewsUsed)
	}
	wantChainValid(t, env)
	checkShare(t, env, sh.ShareID, &h)
}

// raceCalls makes n calls at once, each recorded in h as in, and counts
// their answers by error code ("" for success).
func raceCalls(t *testing.T, h *sharemodel.History, n int, in sharemodel.Input, call func() (sharemodel.Output, error)) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			h.Do(i+1, in, func() sharemodel.Output {
				var out sharemodel.Output
				out, err = call()
				return out
			})
			mu.Lock()
			defer mu.Unlock()
			got[client.Code(err)]++
		})
	}
	wg.Wait()
	return got
}

// TestConcurrentClaims: 100 concurrent claims of one key return one URL.
func TestConcurrentClaims(t *testing.T) { forEachRuntime(t, core.Config{}, testConcurrentClaims) }

func testConcurrentClaims(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id, _ := pat.c.UploadPhoto(ctx, "BACK", "image/png", []byte("back"), nil)
	var h sharemodel.History
	dev, _ := client.NewDevice(core.KEMP256)
	sh, _, keys := recordedShare(t, &h, pat, pro, id, 1, dev, 1)
	got := raceCalls(t, &h, 100, sharemodel.Input{Op: sharemodel.OpClaim, ID: keys[0]}, func() (sharemodel.Output, error) {
		_, err := pro.c.ClaimKey(ctx, keys[0])
		return apiOutput(err), err
	})
	if diff := cmp.Diff(map[string]int{"": 1, core.CodeKeyUsed: 99}, got); diff != "" {
		t.Errorf("answers by error code (\"\" a URL) (-want +got):\n%s", diff)
	}
	checkShare(t, env, sh.ShareID, &h)
}

// TestRevokeRacesViews: issues and claims race a revocation; once revoke has
// returned nothing succeeds, and keys issued before it cannot be claimed.
func TestRevokeRacesViews(t *testing.T) { forEachRuntime(t, core.Config{}, testRevokeRacesViews) }

func testRevokeRacesViews(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id, _ := pat.c.UploadPhoto(ctx, "LEFT", "image/png", []byte("left"), nil)
	// Every call is recorded and the history checked against the model:
	// a request that starts after the revoke returned must fail, and every
	// answer must fit one order of the calls.
	var h sharemodel.History
	dev, _ := client.NewDevice(core.KEMMLKEM768X25519)
	sh, a, pending := recordedShare(t, &h, pat, pro, id, 1000, dev, 20)
	// Requests that start before revoke returns may go either way; every
	// request that starts after it must fail. The claims sent before the
	// revoke are of distinct keys, so that no failed claim can let the
	// detector revoke the share first (the model would then have to allow
	// it, which makes the check slower and weaker); the claims sent after it
	// claim those keys again.
	var revoked atomic.Bool
	var late atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			after := revoked.Load()
			var err error
			if i%2 == 0 {
				h.Do(i+1, sharemodel.Input{Op: sharemodel.OpIssue}, func() sharemodel.Output {
					var k client.IssuedKey
					k, err = pro.c.IssueKey(ctx, a.AccessID, id)
					return issued(k, err)
				})
			} else {
				kid := pending[(i/2)%len(pending)]
				h.Do(i+1, sharemodel.Input{Op: sharemodel.OpClaim, ID: kid}, func() sharemodel.Output {
					_, err = pro.c.ClaimKey(ctx, kid)
					return apiOutput(err)
				})
			}
			if after && err == nil {
				late.Add(1)
			}
		})
		if i == 30 {
			out := h.Do(61, sharemodel.Input{Op: sharemodel.OpRevoke}, func() sharemodel.Output {
				return apiOutput(pat.c.RevokeShare(ctx, sh.ShareID))
			})
			if out.Code != "" {
				t.Fatal(out.Err)
			}
			revoked.Store(true)
		}
	}
	wg.Wait()
	if n := late.Load(); n != 0 {
		t.Errorf("%d requests that started after revoke returned succeeded", n)
	}
	for _, kid := range pending {
		var err error
		h.Do(0, sharemodel.Input{Op: sharemodel.OpClaim, ID: kid}, func() sharemodel.Output {
			_, err = pro.c.ClaimKey(ctx, kid)
			return apiOutput(err)
		})
		if c := client.Code(err); c != core.CodeSessionRevoked && c != core.CodeKeyUsed {
			t.Errorf("claim of %s after revoke: %v, want session_revoked (or key_used if claimed before)", kid, err)
		}
		if err == nil {
			t.Errorf("claim of %s succeeded after revoke", kid)
		}
	}
	var err error
	h.Do(0, sharemodel.Input{Op: sharemodel.OpIssue}, func() sharemodel.Output {
		var k client.IssuedKey
		k, err = pro.c.IssueKey(ctx, a.AccessID, id)
		return issued(k, err)
	})
	wantCode(t, "issue after revoke", err, core.CodeSessionRevoked)
	checkShare(t, env, sh.ShareID, &h)
}

// TestSessionExpiry: sessions, accesses and keys past their expiry but still
// stored are refused (ARCHITECTURE §2.2).
func TestSessionExpiry(t *testing.T) { forEachRuntime(t, core.Config{}, testSessionExpiry) }

func testSessionExpiry(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id, _ := pat.c.UploadPhoto(ctx, "RIGHT", "image/png", []byte("right"), nil)
	sh, _ := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 3600, MaxViews: 10, AccessWindow: 120}, "")
	dev, _ := client.NewDevice(core.KEMX25519)
	a, err := pro.c.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatal(err)
	}
	k := pro.issue(t, a.AccessID, id)
	if d := time.Until(k.ExpiresAt); d > 61*time.Second {
		t.Errorf("key lives %v, want at most 60 s", d)
	}
	env.Clock.Advance(61 * time.Second)
	_, err = pro.c.ClaimKey(ctx, k.KeyID)
	wantCode(t, "claim of an expired key", err, core.CodeKeyExpired)

	env.Clock.Advance(60 * time.Second) // past the 120 s access window
	_, err = pro.c.IssueKey(ctx, a.AccessID, id)
	wantCode(t, "issue on an expired access", err, core.CodeSessionExpired)
	a2, err := pro.c.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatalf("a new access on the same device: %v", err)
	}

	env.Clock.Advance(time.Hour) // past the session
	if got, _ := pat.c.GetShare(ctx, sh.ShareID); got.Status != "expired" {
		t.Errorf("status = %q, want expired", got.Status)
	}
	_, err = pro.c.OpenAccess(ctx, sh.ShareID, dev)
	wantCode(t, "open on an expired session", err, core.CodeSessionExpired)
	_, err = pro.c.IssueKey(ctx, a2.AccessID, id)
	wantCode(t, "issue on an expired session", err, core.CodeSessionExpired)
}

// TestDeviceBinding: the first access binds the session to its device; another
// device is refused, the refusal is audited with the share and the refused
// device, and the patient is notified once per refused device.
func TestDeviceBinding(t *testing.T) { forEachRuntime(t, core.Config{}, testDeviceBinding) }

func testDeviceBinding(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id, _ := pat.c.UploadPhoto(ctx, "TEMPLES", "image/png", []byte("temples"), nil)
	sh, _ := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 10}, "")
	first, _ := client.NewDevice(core.KEMX25519)
	second, _ := client.NewDevice(core.KEMX25519)
	if _, err := pro.c.OpenAccess(ctx, sh.ShareID, first); err != nil {
		t.Fatal(err)
	}
	_, err := pro.c.OpenAccess(ctx, sh.ShareID, second)
	wantCode(t, "second device", err, core.CodeDeviceMismatch)
	if _, err := pro.c.OpenAccess(ctx, sh.ShareID, first); err != nil {
		t.Errorf("the bound device again: %v", err)
	}
	// A device is its key: another key under the bound device's label is
	// another device.
	second.Fingerprint = first.Fingerprint
	_, err = pro.c.OpenAccess(ctx, sh.ShareID, second)
	wantCode(t, "another key under the bound fingerprint", err, core.CodeDeviceMismatch)
	third, _ := client.NewDevice(core.KEMP256)
	_, err = pro.c.OpenAccess(ctx, sh.ShareID, third)
	wantCode(t, "third device", err, core.CodeDeviceMismatch)
	secondFP := core.DeviceKeyFingerprint(second.KEM, second.Private.PublicKey().Bytes())
	thirdFP := core.DeviceKeyFingerprint(third.KEM, third.Private.PublicKey().Bytes())
	var denied []string
	for _, r := range history(t, env, patient1, core.RolePatient) {
		if r.Action == string(core.AuditAccessOpen) && r.Outcome == core.OutcomeDenied && r.Reason == core.CodeDeviceMismatch {
			if r.V != core.AuditVersion2 || r.ShareID != sh.ShareID || r.PhotoID != "" {
				t.Errorf("refusal record %+v: want version 2 naming the share and no photo", r)
			}
			denied = append(denied, r.Device)
		}
	}
	// Newest first: the third device, then the second twice.
	if diff := cmp.Diff([]string{thirdFP, secondFP, secondFP}, denied); diff != "" {
		t.Errorf("devices of the audited refusals (-want +got):\n%s", diff)
	}
	// The patient hears of each refused device once: the second device
	// refused twice is one notification.
	var notes []map[string]string
	for _, n := range inbox(t, env, patient1, core.RolePatient) {
		if n.Type == core.NoteDeviceMismatch {
			if n.ShareID != sh.ShareID {
				t.Errorf("device_mismatch notification %+v names share %q, want %q", n, n.ShareID, sh.ShareID)
			}
			notes = append(notes, n.Data)
		}
	}
	want := []map[string]string{{"device": thirdFP, "professional_id": pro1}, {"device": secondFP, "professional_id": pro1}}
	if diff := cmp.Diff(want, notes); diff != "" {
		t.Errorf("device_mismatch notifications of the patient (-want +got):\n%s", diff)
	}
	if n := inbox(t, env, pro1, core.RoleProfessional); slices.ContainsFunc(n, func(n note) bool { return n.Type == core.NoteDeviceMismatch }) {
		t.Errorf("the grantee got a device_mismatch notification: %+v", n)
	}
	wantChainValid(t, env)
}

// note is a notification as GET /v1/notifications shows it.
type note struct {
	NotificationID string            `json:"notification_id"`
	Type           string            `json:"type"`
	ShareID        string            `json:"share_id"`
	Data           map[string]string `json:"data"`
}

// inbox returns sub's notifications, newest first (one page of 100).
func inbox(t *testing.T, env *testenv.Env, sub string, role core.Role) []note {
	t.Helper()
	r := env.Do("GET", "/v1/notifications?limit=100", env.Token(sub, role), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("notifications of %s: %d %s", sub, r.Status, r.Body)
	}
	var page struct {
		Items []note `json:"items"`
	}
	r.JSON(t, &page)
	return page.Items
}

func TestShareIdempotency(t *testing.T) { forEachRuntime(t, core.Config{}, testShareIdempotency) }

func testShareIdempotency(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, patB, _, _ := parties(env)
	id, _ := pat.c.UploadPhoto(ctx, "HAIRLINE", "image/png", []byte("hairline"), nil)
	req := client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 2}
	a, err := pat.c.CreateShare(ctx, req, "retry-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := pat.c.CreateShare(ctx, req, "retry-1")
	if err != nil || b.ShareID != a.ShareID {
		t.Errorf("replay: %v, share %s; want the same share %s", err, b.ShareID, a.ShareID)
	}
	req.MaxViews = 3
	_, err = pat.c.CreateShare(ctx, req, "retry-1")
	wantCode(t, "same key, other body", err, core.CodeConflict)
	bid, _ := patB.c.UploadPhoto(ctx, "HAIRLINE", "image/png", []byte("b"), nil)
	if s, err := patB.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{bid}, ExpiresIn: 600, MaxViews: 2}, "retry-1"); err != nil || s.ShareID == a.ShareID {
		t.Errorf("another patient's same key: %v, %s", err, s.ShareID)
	}
	var list struct {
		Items []struct {
			ShareID string `json:"share_id"`
		} `json:"items"`
	}
	pat.c.Do(ctx, "GET", "/v1/shares", nil, nil, &list)
	if len(list.Items) != 1 {
		t.Errorf("%d shares after replays, want 1", len(list.Items))
	}
}

// TestSharingBadInput: every new route answers bad input with a 4xx and a
// stable code.
func TestSharingBadInput(t *testing.T) { forEachRuntime(t, core.Config{}, testSharingBadInput) }

func testSharingBadInput(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id, _ := pat.c.UploadPhoto(ctx, "OTHER", "image/png", []byte("other"), nil)
	pending := env.Do("POST", "/v1/photos", env.Token(patient1, core.RolePatient), map[string]any{
		"angle": "OTHER", "content_type": "image/png", "size": 10, "sha256": bytes.Repeat([]byte{1}, 32), "data_key": bytes.Repeat([]byte{2}, 32),
	})
	var pend struct {
		PhotoID string `json:"photo_id"`
	}
	pending.JSON(t, &pend)
	sh, ac, _, _ := sharedWith(t, env, patient1, pro1, id)
	_ = pro
	pt := env.Token(patient1, core.RolePatient)
	gt := env.Token(pro1, core.RoleProfessional)
	share := func(over map[string]any) map[string]any {
		return bodyWith(map[string]any{"professional_id": pro1, "photo_ids": []string{id}, "expires_in": 600, "max_views": 5}, over)
	}
	dev := deviceBody(t)
	device := func(over map[string]any) map[string]any {
		return bodyWith(dev, over)
	}
	unknown := func(p string) string { return p + "_" + strings.Repeat("q", 26) }
	cases := []refusal{
		{"share/unknown field", "POST", "/v1/shares", pt, share(map[string]any{"views": 1}), 400, core.CodeInvalid},
		{"share/both ids and angles", "POST", "/v1/shares", pt, share(map[string]any{"angles": []string{"CROWN"}}), 400, core.CodeInvalid},
		{"share/neither", "POST", "/v1/shares", pt, share(map[string]any{"photo_ids": nil}), 400, core.CodeInvalid},
		{"share/photo not owned", "POST", "/v1/shares", env.Token(patient2, core.RolePatient), share(nil), 400, core.CodeInvalid},
		{"share/photo not ready", "POST", "/v1/shares", pt, share(map[string]any{"photo_ids": []string{pend.PhotoID}}), 400, core.CodeInvalid},
		{"share/unknown photo", "POST", "/v1/shares", pt, share(map[string]any{"photo_ids": []string{unknown("ph")}}), 400, core.CodeInvalid},
		{"share/malformed photo id", "POST", "/v1/shares", pt, share(map[string]any{"photo_ids": []string{"x"}}), 400, core.CodeInvalid},
		{"share/bad angle", "POST", "/v1/shares", pt, share(map[string]any{"photo_ids": nil, "angles": []string{"TOP"}}), 400, core.CodeInvalid},
		{"share/expiry too short", "POST", "/v1/shares", pt, share(map[string]any{"expires_in": 59}), 400, core.CodeInvalid},
		{"share/expiry too long", "POST", "/v1/shares", pt, share(map[string]any{"expires_in": 2592001}), 400, core.CodeInvalid},
		{"share/expiry overflow", "POST", "/v1/shares", pt, share(map[string]any{"expires_in": int64(1) << 62}), 400, core.CodeInvalid},
		{"share/expiry missing", "POST", "/v1/shares", pt, share(map[string]any{"expires_in": nil}), 400, core.CodeInvalid},
		{"share/views zero", "POST", "/v1/shares", pt, share(map[string]any{"max_views": 0}), 400, core.CodeInvalid},
		{"share/views over", "POST", "/v1/shares", pt, share(map[string]any{"max_views": 1001}), 400, core.CodeInvalid},
		{"share/views as string", "POST", "/v1/shares", pt, share(map[string]any{"max_views": "5"}), 400, core.CodeInvalid},
		{"share/window short", "POST", "/v1/shares", pt, share(map[string]any{"access_window": 10}), 400, core.CodeInvalid},
		{"share/devices over", "POST", "/v1/shares", pt, share(map[string]any{"max_devices": 6}), 400, core.CodeInvalid},
		{"share/bad policy", "POST", "/v1/shares", pt, share(map[string]any{"screenshot_policy": "block"}), 400, core.CodeInvalid},
		{"share/purpose too long", "POST", "/v1/shares", pt, share(map[string]any{"purpose": strings.Repeat("p", 201)}), 400, core.CodeInvalid},
		{"share/purpose control chars", "POST", "/v1/shares", pt, share(map[string]any{"purpose": "a\x07b"}), 400, core.CodeInvalid},
		{"share/self", "POST", "/v1/shares", pt, share(map[string]any{"professional_id": patient1}), 400, core.CodeInvalid},
		{"share/bad professional", "POST", "/v1/shares", pt, share(map[string]any{"professional_id": "a b"}), 400, core.CodeInvalid},
		{"share/malformed json", "POST", "/v1/shares", pt, `{"max_views":`, 400, core.CodeInvalid},
		{"get/malformed id", "GET", "/v1/shares/nope", pt, nil, 400, core.CodeInvalid},
		{"get/unknown id", "GET", "/v1/shares/" + unknown("sh"), pt, nil, 404, core.CodeNotFound},
		{"revoke/unknown field", "POST", "/v1/shares/" + sh + "/revoke", pt, `{"why":"x"}`, 400, core.CodeInvalid},
		{"open/unknown kem", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"kem": 17}), 400, core.CodeInvalid},
		{"open/kem missing", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"kem": nil}), 400, core.CodeInvalid},
		{"open/kem negative", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"kem": -1}), 400, core.CodeInvalid},
		{"open/short public key", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"device_public_key": []byte{1, 2, 3}}), 400, core.CodeInvalid},
		{"open/p-256 kem with x25519 key", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"kem": 16}), 400, core.CodeInvalid},
		{"open/public key not base64", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"device_public_key": "!!"}), 400, core.CodeInvalid},
		{"open/no fingerprint", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"device_fingerprint": nil}), 400, core.CodeInvalid},
		{"open/long fingerprint", "POST", "/v1/shares/" + sh + "/access", gt, device(map[string]any{"device_fingerprint": strings.Repeat("f", 257)}), 400, core.CodeInvalid},
		{"open/unknown share", "POST", "/v1/shares/" + unknown("sh") + "/access", gt, device(nil), 404, core.CodeNotFound},
		{"key/malformed access", "POST", "/v1/access/x/photos/" + id + "/key", gt, nil, 400, core.CodeInvalid},
		{"key/malformed photo", "POST", "/v1/access/" + ac + "/photos/x/key", gt, nil, 400, core.CodeInvalid},
		{"key/unknown access", "POST", "/v1/access/" + unknown("ac") + "/photos/" + id + "/key", gt, nil, 404, core.CodeNotFound},
		{"key/unshared photo", "POST", "/v1/access/" + ac + "/photos/" + unknown("ph") + "/key", gt, nil, 404, core.CodeNotFound},
		{"key/with body", "POST", "/v1/access/" + ac + "/photos/" + id + "/key", gt, `{"a":1}`, 400, core.CodeInvalid},
		{"claim/malformed", "POST", "/v1/keys/nope/signed-url", gt, nil, 400, core.CodeInvalid},
		{"claim/unknown", "POST", "/v1/keys/" + unknown("ek") + "/signed-url", gt, nil, 404, core.CodeNotFound},
		{"notifications/limit", "GET", "/v1/notifications?limit=0", gt, nil, 400, core.CodeInvalid},
		{"notifications/cursor", "GET", "/v1/notifications?cursor=zz", gt, nil, 400, core.CodeInvalid},
		{"read/malformed", "POST", "/v1/notifications/x/read", gt, nil, 400, core.CodeInvalid},
		{"read/unknown", "POST", "/v1/notifications/" + unknown("nt") + "/read", gt, nil, 404, core.CodeNotFound},
		{"activity/no events", "POST", "/v1/access/" + ac + "/activity", gt, map[string]any{"events": []any{}}, 400, core.CodeInvalid},
		{"activity/unknown type", "POST", "/v1/access/" + ac + "/activity", gt, map[string]any{"events": []map[string]any{{"type": "sneeze", "at": time.Now()}}}, 400, core.CodeInvalid},
		{"activity/no time", "POST", "/v1/access/" + ac + "/activity", gt, map[string]any{"events": []map[string]any{{"type": "screenshot"}}}, 400, core.CodeInvalid},
		{"activity/future", "POST", "/v1/access/" + ac + "/activity", gt, map[string]any{"events": []map[string]any{{"type": "screenshot", "at": time.Now().Add(time.Hour)}}}, 400, core.CodeInvalid},
		{"activity/too many", "POST", "/v1/access/" + ac + "/activity", gt, map[string]any{"events": manyEvents(101)}, 400, core.CodeInvalid},
		{"activity/long details", "POST", "/v1/access/" + ac + "/activity", gt, map[string]any{"events": []map[string]any{{"type": "screenshot", "at": time.Now(), "details": strings.Repeat("d", 201)}}}, 400, core.CodeInvalid},
		{"activity/unknown field", "POST", "/v1/access/" + ac + "/activity", gt, map[string]any{"events": []map[string]any{{"type": "screenshot", "at": time.Now(), "score": 0}}}, 400, core.CodeInvalid},
		{"activity/malformed access", "POST", "/v1/access/x/activity", gt, map[string]any{"events": manyEvents(1)}, 400, core.CodeInvalid},
		{"activity/unknown access", "POST", "/v1/access/" + unknown("ac") + "/activity", gt, map[string]any{"events": manyEvents(1)}, 404, core.CodeNotFound},
	}
	wantRefusals(t, env, cases)
	var list struct {
		Items []any `json:"items"`
	}
	pat.c.Do(ctx, "GET", "/v1/shares", nil, nil, &list)
	if len(list.Items) != 1 {
		t.Errorf("%d shares after refused requests, want the 1 made by the setup", len(list.Items))
	}
	if strings.Contains(env.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("bad input logged errors:\n%s", env.Logs.String())
	}
	_ = http.StatusOK
}

// TestDeletedPhotoKeyNeverReleased: once a patient deletes a shared photo,
// no share issues its key again (crypto-shredding holds for shared photos).
func TestDeletedPhotoKeyNeverReleased(t *testing.T) {
	forEachRuntime(t, core.Config{}, testDeletedPhotoKeyNeverReleased)
}

func testDeletedPhotoKeyNeverReleased(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	pat, _, pro, _ := parties(env)
	id, _ := pat.c.UploadPhoto(ctx, "CROWN", "image/png", []byte("to be deleted"), nil)
	sh, _ := pat.c.CreateShare(ctx, client.ShareRequest{ProfessionalID: pro1, PhotoIDs: []string{id}, ExpiresIn: 600, MaxViews: 5}, "")
	dev, _ := client.NewDevice(core.KEMX25519)
	a, err := pro.c.OpenAccess(ctx, sh.ShareID, dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pro.c.ViewPhoto(ctx, dev, a.AccessID, id); err != nil {
		t.Fatal(err)
	}
	if err := pat.c.Do(ctx, "DELETE", "/v1/photos/"+id, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = pro.c.IssueKey(ctx, a.AccessID, id)
	wantCode(t, "key of a deleted photo", err, core.CodeNotFound)
	if got, _ := pat.c.GetShare(ctx, sh.ShareID); got.ViewsUsed != 1 {
		t.Errorf("views_used = %d, want 1: a refused key spends no view", got.ViewsUsed)
	}
}

// TestAuditSurvivesOddUserAgents: user agents of any bytes and length are
// stored as the text they were hashed over, so the chain still verifies.
func TestAuditSurvivesOddUserAgents(t *testing.T) {
	forEachRuntime(t, core.Config{}, testAuditSurvivesOddUserAgents)
}

func testAuditSurvivesOddUserAgents(t *testing.T, env *testenv.Env) {
	registerAppointment(t, env, appt1, clinic1, patient1, pro1)
	id, _ := chatImage(t, env, patient1, core.RolePatient, appt1)
	for _, ua := range []string{strings.Repeat("a", 255) + "é", "bad \xff\xfe bytes", strings.Repeat("ü", 300)} {
		req, _ := http.NewRequest("GET", env.URL+"/api/chat-images/"+id+"/signed-url", nil)
		req.Header.Set("Authorization", "Bearer "+env.Token(pro1, core.RoleProfessional))
		req.Header.Set("User-Agent", ua)
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("signed url with user agent %q: %d", ua, resp.StatusCode)
		}
	}
	r := env.Do("GET", "/v1/audit/verify", env.Token(patient1, core.RolePatient), nil)
	if !strings.Contains(string(r.Body), `"valid":true`) {
		t.Errorf("verify after odd user agents: %s", r.Body)
	}
}

func manyEvents(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"type": "app_backgrounded", "at": time.Now().UTC()}
	}
	return out
}
