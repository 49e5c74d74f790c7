package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// isCode reports whether err is of kind k with code code.
func isCode(err error, k core.Kind, code string) bool {
	return err != nil && core.KindOf(err) == k && core.CodeOf(err) == code
}

// Fixtures. Each has every field set, so that a field an adapter drops shows.

func sharedPhoto(angle core.Angle) core.SharedPhoto {
	id := core.NewID("ph")
	return core.SharedPhoto{
		PhotoID:     id,
		Angle:       angle,
		ContentType: "image/heic",
		Size:        123457,
		SHA256:      Digest("ciphertext of " + id),
	}
}

// NewShare returns a new ACTIVE share of patient for professional, created
// at created and expiring shareTTL later, allowing 5 views on 1 device.
func NewShare(patient, professional string, created time.Time) core.Share {
	return core.Share{
		ID:               core.NewID("sh"),
		PatientID:        patient,
		ProfessionalID:   professional,
		Photos:           []core.SharedPhoto{sharedPhoto("CROWN"), sharedPhoto("FRONT")},
		Purpose:          "second opinion on the crown",
		ScreenshotPolicy: core.ScreenshotWarn,
		MaxViews:         5,
		AccessWindow:     accessWindow,
		MaxDevices:       1,
		Status:           core.ShareActive,
		CreatedAt:        created,
		ExpiresAt:        created.Add(shareTTL),
	}
}

// StorePhotos stores each photo of sh as the photo item it stands for,
// READY, owned by sh's patient: the same id, angle, type, size and digest,
// with a wrapped key of its own, uploaded in the minute before sh was created. IssueKey
// releases a photo's key only while this item exists.
func StorePhotos(t *testing.T, s core.Store, sh core.Share) {
	t.Helper()
	created := sh.CreatedAt.Add(-time.Minute)
	for _, sp := range sh.Photos {
		p := core.Photo{
			ID:              sp.PhotoID,
			OwnerID:         sh.PatientID,
			Angle:           sp.Angle,
			ContentType:     sp.ContentType,
			Size:            sp.Size,
			SHA256:          sp.SHA256,
			WrappedKey:      core.WrappedKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/test", Ciphertext: Digest("wrapped " + sp.PhotoID)},
			Metadata:        Digest("metadata of " + sp.PhotoID),
			Status:          core.StatusPending,
			CreatedAt:       created,
			UploadExpiresAt: created.Add(15 * time.Minute),
		}
		Must(t, "CreatePhoto "+sp.PhotoID, s.CreatePhoto(ctx(t), p))
		ready, err := s.MarkPhotoReady(ctx(t), sh.PatientID, sp.PhotoID, core.BlobInfo{Size: sp.Size, SHA256: sp.SHA256}, created.Add(time.Second))
		Must(t, "MarkPhotoReady "+sp.PhotoID, err)
		if ready.Status != core.StatusReady || ready.OwnerID != sh.PatientID {
			t.Fatalf("MarkPhotoReady %s: got status %q owned by %q, want %q owned by %q", sp.PhotoID, ready.Status, ready.OwnerID, core.StatusReady, sh.PatientID)
		}
	}
}

// Note returns a notification to recipient about share, created at at.
func Note(recipient, typ, shareID string, at time.Time) core.Notification {
	return core.Notification{
		ID:          core.NewSortableID("nt", at),
		RecipientID: recipient,
		Type:        typ,
		ShareID:     shareID,
		CreatedAt:   at,
		Data:        map[string]string{"share_id": shareID, "event": typ},
	}
}

// Record returns an unlinked audit record of patient's chain with every field
// set and a fresh request id.
func Record(patient, actor string, role core.Role, action core.AuditAction, resource string, at time.Time) core.AuditRecord {
	return core.AuditRecord{
		PatientID:    patient,
		At:           at,
		ActorID:      actor,
		ActorRole:    role,
		Action:       action,
		ResourceType: "share",
		ResourceID:   resource,
		Outcome:      core.OutcomeSuccess,
		SourceIP:     "203.0.113.7",
		UserAgent:    "sharetest/1.0",
		RequestID:    core.NewID("rq"),
	}
}

// NewAccess returns an access of sh's grantee on device, opened at now.
func NewAccess(sh core.Share, device string, now time.Time) core.Access {
	return core.Access{
		ID:                core.NewID("ac"),
		ShareID:           sh.ID,
		PatientID:         sh.PatientID,
		ProfessionalID:    sh.ProfessionalID,
		KEM:               0x0020,
		DevicePublicKey:   Digest("public key of " + device),
		DeviceFingerprint: device,
		SourceIP:          "198.51.100.23",
		UserAgent:         "MedShare/2.1 (iPhone)",
		CreatedAt:         now,
		ExpiresAt:         minTime(now.Add(sh.AccessWindow), sh.ExpiresAt),
		ShareExpiresAt:    sh.ExpiresAt,
		Photos:            sh.Photos,
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// NewKey returns a key of sh's first photo for accessID, issued at now and
// living core.MaxKeyTTL.
func NewKey(sh core.Share, accessID string, now time.Time) core.EphemeralKey {
	return photoKey(sh, sh.Photos[0], accessID, now)
}

// photoKey returns a key of sh's photo p for accessID, issued at now and
// living core.MaxKeyTTL.
func photoKey(sh core.Share, p core.SharedPhoto, accessID string, now time.Time) core.EphemeralKey {
	return core.EphemeralKey{
		ID:             core.NewID("ek"),
		AccessID:       accessID,
		ShareID:        sh.ID,
		PhotoID:        p.PhotoID,
		PatientID:      sh.PatientID,
		ProfessionalID: sh.ProfessionalID,
		ObjectKey:      p.ObjectKey(sh.PatientID),
		Status:         core.KeyIssued,
		CreatedAt:      now,
		ExpiresAt:      now.Add(core.MaxKeyTTL),
		ShareExpiresAt: sh.ExpiresAt,
	}
}

// Linked links rec to the current head of its chain.
func Linked(t *testing.T, s core.Store, rec core.AuditRecord) core.AuditRecord {
	t.Helper()
	head, err := s.AuditHead(ctx(t), rec.PatientID)
	Must(t, "AuditHead "+rec.PatientID, err)
	return core.Link(rec, head)
}

// Chained runs write with rec linked to the head of its chain and, on
// *core.HeadMismatchError, again with rec relinked to the head the error
// carries: what the service does across processes. Every mismatch means
// another write to the chain won, so a correct store needs no more attempts
// than there are writers. It returns the record as written, or write's
// error as is.
func Chained(ctx context.Context, s core.Store, rec core.AuditRecord, maxAttempts int, write func(core.AuditRecord) error) (core.AuditRecord, error) {
	head, err := s.AuditHead(ctx, rec.PatientID)
	if err != nil {
		return core.AuditRecord{}, fmt.Errorf("audit head of %s: %w", rec.PatientID, err)
	}
	for range maxAttempts {
		l := core.Link(rec, head)
		err := write(l)
		if err == nil {
			return l, nil
		}
		var moved *core.HeadMismatchError
		if !errors.As(err, &moved) {
			return core.AuditRecord{}, err
		}
		if moved.Current.Seq < head.Seq {
			return core.AuditRecord{}, fmt.Errorf("%s: head of %s went back from %d to %d", rec.RequestID, rec.PatientID, head.Seq, moved.Current.Seq)
		}
		head = moved.Current
	}
	return core.AuditRecord{}, fmt.Errorf("%s: no success in %d attempts", rec.RequestID, maxAttempts)
}

// Operations through the port, each with its notification and its record
// linked to the current head. The create* and must* forms stop the test on
// failure; the try* forms return the error.

// Written is what one successful operation wrote besides its state change.
type Written struct {
	Notes []core.Notification // one, but none for ClaimKey
	Rec   core.AuditRecord    // as linked
}

func tryCreate(t *testing.T, s core.Store, sh core.Share) (Written, error) {
	t.Helper()
	w := Written{
		Notes: []core.Notification{Note(sh.ProfessionalID, core.NoteSessionCreated, sh.ID, sh.CreatedAt)},
		Rec:   Linked(t, s, Record(sh.PatientID, sh.PatientID, core.RolePatient, core.AuditShareCreate, sh.ID, sh.CreatedAt)),
	}
	return w, s.CreateShare(ctx(t), sh, w.Rec, w.Notes[0])
}

// CreateShare stores sh's photos (StorePhotos), then creates sh.
func CreateShare(t *testing.T, s core.Store, sh core.Share) Written {
	t.Helper()
	StorePhotos(t, s, sh)
	w, err := tryCreate(t, s, sh)
	Must(t, "CreateShare "+sh.ID, err)
	return w
}

func tryRevoke(t *testing.T, s core.Store, sh core.Share, patient string, at time.Time) (bool, Written, error) {
	t.Helper()
	w := Written{
		Notes: []core.Notification{Note(sh.ProfessionalID, core.NoteSessionRevoked, sh.ID, at)},
		Rec:   Linked(t, s, Record(patient, patient, core.RolePatient, core.AuditShareRevoke, sh.ID, at)),
	}
	revoked, err := s.RevokeShare(ctx(t), sh.ID, patient, at, revokeReason, w.Rec, w.Notes[0])
	return revoked, w, err
}

// mustRevoke revokes sh, active, by its patient at at, checks that the call
// reports it revoked and that the store holds the revocation, and returns
// the share as stored.
func mustRevoke(t *testing.T, s core.Store, sh core.Share, at time.Time) core.Share {
	t.Helper()
	revoked, w, err := tryRevoke(t, s, sh, sh.PatientID, at)
	Must(t, "RevokeShare "+sh.ID, err)
	if !revoked {
		t.Errorf("RevokeShare %s of an active share: got revoked=false, want true", sh.ID)
	}
	return wantRevoked(t, s, sh.ID, at, w.Rec.ActorID, revokeReason)
}

// wantRevoked fails t unless the stored share id is REVOKED at at by by for
// reason, and returns it as stored.
func wantRevoked(t *testing.T, s core.Store, id string, at time.Time, by, reason string) core.Share {
	t.Helper()
	got := GetShare(t, s, id)
	if got.Status != core.ShareRevoked || !got.RevokedAt.Equal(at) || got.RevokedBy != by || got.RevokeReason != reason {
		t.Errorf("GetShare(%s): got status %q, revoked at %v by %q for %q; want %q at %v by %q for %q",
			id, got.Status, got.RevokedAt, got.RevokedBy, got.RevokeReason, core.ShareRevoked, at, by, reason)
	}
	return got
}

// TryOpen opens access a at now.
func TryOpen(t *testing.T, s core.Store, a core.Access, now time.Time) (Written, error) {
	t.Helper()
	w := Written{
		Notes: []core.Notification{Note(a.PatientID, core.NoteSessionAccess, a.ShareID, now)},
		Rec:   Linked(t, s, Record(a.PatientID, a.ProfessionalID, core.RoleProfessional, core.AuditAccessOpen, a.ID, now)),
	}
	return w, s.OpenAccess(ctx(t), a, now, w.Rec, w.Notes[0])
}

// MustOpen opens access a at now, or stops the test.
func MustOpen(t *testing.T, s core.Store, a core.Access, now time.Time) Written {
	t.Helper()
	w, err := TryOpen(t, s, a, now)
	Must(t, "OpenAccess "+a.ID, err)
	return w
}

// TryIssue issues key k at now.
func TryIssue(t *testing.T, s core.Store, k core.EphemeralKey, now time.Time) (Written, error) {
	t.Helper()
	w := Written{
		Notes: []core.Notification{Note(k.PatientID, core.NotePhotoViewed, k.ShareID, now)},
		Rec:   Linked(t, s, Record(k.PatientID, k.ProfessionalID, core.RoleProfessional, core.AuditKeyIssue, k.ID, now)),
	}
	return w, s.IssueKey(ctx(t), k, now, w.Rec, w.Notes[0])
}

// MustIssue issues key k at now, or stops the test.
func MustIssue(t *testing.T, s core.Store, k core.EphemeralKey, now time.Time) Written {
	t.Helper()
	w, err := TryIssue(t, s, k, now)
	Must(t, "IssueKey "+k.ID, err)
	return w
}

// TryClaim claims key k as professional at now; it writes no notification.
func TryClaim(t *testing.T, s core.Store, k core.EphemeralKey, professional string, now time.Time) (core.EphemeralKey, Written, error) {
	t.Helper()
	w := Written{Rec: Linked(t, s, Record(k.PatientID, professional, core.RoleProfessional, core.AuditKeyClaim, k.ID, now))}
	got, err := s.ClaimKey(ctx(t), k, professional, now, w.Rec)
	return got, w, err
}

// activeShare creates a share of pat-1 for dr-a with an open access on
// device-1, and returns them.
func activeShare(t *testing.T, s core.Store, edit func(*core.Share)) (core.Share, core.Access) {
	t.Helper()
	sh := NewShare("pat-1", "dr-a", t0)
	if edit != nil {
		edit(&sh)
	}
	CreateShare(t, s, sh)
	a := NewAccess(sh, "device-1", tNow)
	MustOpen(t, s, a, tNow)
	return sh, a
}

// issuedKey issues a key of sh on access a at now and returns it as stored.
func issuedKey(t *testing.T, s core.Store, sh core.Share, a core.Access, now time.Time) core.EphemeralKey {
	t.Helper()
	k := NewKey(sh, a.ID, now)
	MustIssue(t, s, k, now)
	return k
}

// GetShare returns the stored share or stops the test.
func GetShare(t *testing.T, s core.Store, id string) core.Share {
	t.Helper()
	sh, err := s.GetShare(ctx(t), id)
	Must(t, "GetShare "+id, err)
	return sh
}

// WantShare fails t unless the stored share is want, its devices as a set.
func WantShare(t *testing.T, s core.Store, want core.Share) {
	t.Helper()
	got := GetShare(t, s, want.ID)
	if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
		t.Errorf("GetShare(%s) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

func wantKey(t *testing.T, s core.Store, want core.EphemeralKey) {
	t.Helper()
	got, err := s.GetKey(ctx(t), want.ID)
	Must(t, "GetKey "+want.ID, err)
	if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
		t.Errorf("GetKey(%s) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

// ListInbox returns recipient's inbox, newest first, in pages of limit.
func ListInbox(t *testing.T, s core.Store, recipient string, limit int) [][]core.InboxItem {
	t.Helper()
	return Collect(t, "ListInbox "+recipient, limit, func(pg core.Page) ([]core.InboxItem, string, error) {
		return s.ListInbox(ctx(t), recipient, pg)
	})
}

// ListChain returns patient's chain, oldest first.
func ListChain(t *testing.T, s core.Store, patient string) []core.AuditRecord {
	t.Helper()
	return Flatten(Collect(t, "ListAudit "+patient, 100, func(pg core.Page) ([]core.AuditRecord, string, error) {
		return s.ListAudit(ctx(t), patient, false, pg)
	}))
}

func listShares(t *testing.T, s core.Store, party string, role core.Role, limit int) [][]core.Share {
	t.Helper()
	return Collect(t, fmt.Sprintf("ListShares %s as %s", party, role), limit, func(pg core.Page) ([]core.Share, string, error) {
		return s.ListShares(ctx(t), party, role, pg)
	})
}

// Unread is n as a new inbox item holds it.
func Unread(n core.Notification) core.InboxItem { return core.InboxItem{Notification: n} }

// world names what a test watches: the chains, inboxes, share lists and
// by-actor lists of parties, and the shares, accesses and keys by id.
type world struct {
	parties  []string
	shares   []string
	accesses []string
	keys     []string
}

// state is everything a world's store holds that the ports can read. A
// missing share, access or key is nil.
type state struct {
	Heads     map[string]core.ChainHead
	Chains    map[string][]core.AuditRecord
	ByActor   map[string][]core.AuditRecord
	Inboxes   map[string][]core.InboxItem
	ByPatient map[string][]core.Share
	ByGrantee map[string][]core.Share
	Shares    map[string]*core.Share
	Accesses  map[string]*core.Access
	Keys      map[string]*core.EphemeralKey
}

func observe(t *testing.T, s core.Store, w world) state {
	t.Helper()
	st := state{
		Heads: map[string]core.ChainHead{}, Chains: map[string][]core.AuditRecord{}, ByActor: map[string][]core.AuditRecord{},
		Inboxes: map[string][]core.InboxItem{}, ByPatient: map[string][]core.Share{}, ByGrantee: map[string][]core.Share{},
		Shares: map[string]*core.Share{}, Accesses: map[string]*core.Access{}, Keys: map[string]*core.EphemeralKey{},
	}
	for _, p := range w.parties {
		h, err := s.AuditHead(ctx(t), p)
		Must(t, "AuditHead "+p, err)
		st.Heads[p] = h
		st.Chains[p] = ListChain(t, s, p)
		st.ByActor[p] = Flatten(Collect(t, "ListAuditByActor "+p, 100, func(pg core.Page) ([]core.AuditRecord, string, error) {
			return s.ListAuditByActor(ctx(t), p, pg)
		}))
		st.Inboxes[p] = Flatten(ListInbox(t, s, p, 100))
		st.ByPatient[p] = Flatten(listShares(t, s, p, core.RolePatient, 100))
		st.ByGrantee[p] = Flatten(listShares(t, s, p, core.RoleProfessional, 100))
	}
	for _, id := range w.shares {
		sh, err := s.GetShare(ctx(t), id)
		if err == nil {
			st.Shares[id] = &sh
		} else if core.KindOf(err) != core.KindNotFound {
			t.Fatalf("GetShare %s: %v", id, err)
		}
	}
	for _, id := range w.accesses {
		a, err := s.GetAccess(ctx(t), id)
		if err == nil {
			st.Accesses[id] = &a
		} else if core.KindOf(err) != core.KindNotFound {
			t.Fatalf("GetAccess %s: %v", id, err)
		}
	}
	for _, id := range w.keys {
		k, err := s.GetKey(ctx(t), id)
		if err == nil {
			st.Keys[id] = &k
		} else if core.KindOf(err) != core.KindNotFound {
			t.Fatalf("GetKey %s: %v", id, err)
		}
	}
	return st
}

// wantRefused checks that do, a write of op that share shareID refuses,
// answers kind and code, the answer of the share's own rule as it was
// (unless the share is unknown), and writes nothing of w.
func wantRefused(t *testing.T, s core.Store, w world, shareID, op string, kind core.Kind, code string, unknown bool,
	do func() error, rule func(core.Share) error) {
	t.Helper()
	before := observe(t, s, w)
	err := do()
	WantCode(t, op, err, kind, code)
	if !unknown {
		wantRule(t, op, err, rule(*before.Shares[shareID]))
	}
	wantUnchanged(t, s, w, before, op)
}

// wantUnchanged fails t unless the store still holds before.
func wantUnchanged(t *testing.T, s core.Store, w world, before state, op string) {
	t.Helper()
	if diff := cmp.Diff(before, observe(t, s, w), shareCmpOpts); diff != "" {
		t.Errorf("%s wrote something, want nothing written (-before +after):\n%s", op, diff)
	}
}
