package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/sharemodel"
)

// portModel is the sequential model of a share as the port answers: no
// detectors (they are the service's), and a revoke reports whether it wrote.
// Every race below records its calls and checks them against it.
var portModel = sharemodel.Options{RevokeReportsWrite: true}

// recorded runs write as client's call in of h and records its outcome: the
// error's code, the key id of a successful issue.
func recorded(h *sharemodel.History, client int, in sharemodel.Input, write func() error) error {
	call := h.Call()
	err := write()
	out := sharemodel.OutputOf(err)
	if err == nil && in.Op == sharemodel.OpIssue {
		out.ID = in.ID
	}
	h.Return(client, in, call, out)
	return err
}

// Setup calls, recorded as client 0's: they stop the test on failure.

func createRecorded(t *testing.T, h *sharemodel.History, s core.Store, sh core.Share) Written {
	t.Helper()
	var w Written
	h.Do(0, sharemodel.Input{Op: sharemodel.OpCreate, ID: sh.ID, MaxViews: sh.MaxViews, MaxDevices: sh.MaxDevices},
		func() sharemodel.Output { w = CreateShare(t, s, sh); return sharemodel.Output{ID: sh.ID} })
	return w
}

func openRecorded(t *testing.T, h *sharemodel.History, s core.Store, a core.Access, now time.Time) Written {
	t.Helper()
	var w Written
	h.Do(0, sharemodel.Input{Op: sharemodel.OpOpen, ID: a.DeviceFingerprint},
		func() sharemodel.Output { w = MustOpen(t, s, a, now); return sharemodel.Output{} })
	return w
}

func issueRecorded(t *testing.T, h *sharemodel.History, s core.Store, sh core.Share, a core.Access, now time.Time) core.EphemeralKey {
	t.Helper()
	k := NewKey(sh, a.ID, now)
	h.Do(0, sharemodel.Input{Op: sharemodel.OpIssue, ID: k.ID},
		func() sharemodel.Output { MustIssue(t, s, k, now); return sharemodel.Output{ID: k.ID} })
	return k
}

// wantLinearChain checks that patient's chain holds exactly want, by request
// id, each once, in sequence 1..n without gaps or forks, and that
// core.VerifyChain accepts it. It returns the chain.
func wantLinearChain(t *testing.T, s core.Store, patient string, want []string) []core.AuditRecord {
	t.Helper()
	chain := ListChain(t, s, patient)
	var prev core.ChainHead
	var got []string
	for i, r := range chain {
		if r.Seq != uint64(i+1) {
			t.Errorf("%s record %d: got seq %d, want %d", patient, i, r.Seq, i+1)
		}
		if !bytes.Equal(r.PrevHash, prev.Hash) {
			t.Errorf("%s record %d: previous hash does not link to record %d (fork)", patient, r.Seq, prev.Seq)
		}
		prev = HeadOf(r)
		got = append(got, r.RequestID)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if diff := cmp.Diff(want, got, shareCmpOpts); diff != "" {
		t.Errorf("%s: request ids of the chain mismatch (-want +got):\n%s", patient, diff)
	}
	WantVerified(t, s, patient, len(want))
	return chain
}

func requestIDs(recs []core.AuditRecord) []string {
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

func noteIDs(items []core.InboxItem) []string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return slices.Sorted(slices.Values(ids))
}

func testShareConcurrency(t *testing.T, h Harness) {
	// Each of these runs twice: with every record in the patient's chain, as
	// the service writes them, and with a chain per writer. In one chain the
	// head condition alone serializes the writers; in separate chains only
	// the share's and the key's own conditions can keep the count (ARCHITECTURE
	// §2.3, §2.4).
	chains := []struct {
		name  string
		chain func(writer int) string
	}{
		{"one chain", func(int) string { return "pat-1" }},
		{"a chain per writer", func(i int) string { return fmt.Sprintf("pat-1-writer-%d", i) }},
	}
	for _, c := range chains {
		t.Run("IssueKeyCountsViews/"+c.name, func(t *testing.T) { testIssueKeyCountsViews(t, h, c.chain) })
	}
	for _, c := range chains {
		t.Run("ClaimKeyOnce/"+c.name, func(t *testing.T) { testClaimKeyOnce(t, h, c.chain) })
	}

	t.Run("BindDevices", func(t *testing.T) {
		for _, maxDevices := range []int{1, 2} {
			t.Run(fmt.Sprintf("max %d", maxDevices), func(t *testing.T) {
				const n = 30
				s := newStore(t, h)
				var hist sharemodel.History
				sh := NewShare("pat-1", "dr-a", t0)
				sh.MaxDevices = maxDevices
				cw := createRecorded(t, &hist, s, sh)
				accesses := make([]core.Access, n)
				for i := range accesses {
					accesses[i] = NewAccess(sh, fmt.Sprintf("device-%d", i), tNow)
				}
				recs := make([]core.AuditRecord, n)
				errs := RunAll(n, func(i int) error {
					a := accesses[i]
					rec := Record("pat-1", "dr-a", core.RoleProfessional, core.AuditAccessOpen, a.ID, tNow)
					nt := Note("pat-1", core.NoteSessionAccess, sh.ID, tNow)
					return recorded(&hist, i+1, sharemodel.Input{Op: sharemodel.OpOpen, ID: a.DeviceFingerprint}, func() error {
						var err error
						recs[i], err = Chained(ctx(t), s, rec, 2*n, func(l core.AuditRecord) error {
							return s.OpenAccess(ctx(t), a, tNow, l, nt)
						})
						return err
					})
				})
				var bound, ids []string
				ids = append(ids, cw.Rec.RequestID)
				for i, err := range errs {
					switch {
					case err == nil:
						bound = append(bound, accesses[i].DeviceFingerprint)
						ids = append(ids, recs[i].RequestID)
					case isCode(err, core.KindForbidden, core.CodeDeviceMismatch):
						if _, err := s.GetAccess(ctx(t), accesses[i].ID); core.KindOf(err) != core.KindNotFound {
							t.Errorf("GetAccess of refused access %d: got %v, want kind not found", i, err)
						}
					default:
						t.Errorf("OpenAccess %d: got %v, want nil or forbidden with device_mismatch", i, err)
					}
				}
				if len(bound) != maxDevices {
					t.Errorf("OpenAccess bound %d devices, want exactly %d", len(bound), maxDevices)
				}
				sh.Devices = bound
				WantShare(t, s, sh)
				wantLinearChain(t, s, "pat-1", ids)
				sharemodel.Check(t, portModel, &hist)
			})
		}
	})

	t.Run("CreateShareSameIdempotencyKey", func(t *testing.T) {
		const n = 30
		s := newStore(t, h)
		shares := make([]core.Share, n)
		notes := make([]core.Notification, n)
		for i := range shares {
			shares[i] = NewShare("pat-1", "dr-a", t0.Add(time.Duration(i)*time.Millisecond))
			shares[i].IdempotencyKey, shares[i].RequestHash = "idem-1", Digest(fmt.Sprintf("request %d", i))
			notes[i] = Note("dr-a", core.NoteSessionCreated, shares[i].ID, shares[i].CreatedAt)
		}
		recs := make([]core.AuditRecord, n)
		var hist sharemodel.History
		errs := RunAll(n, func(i int) error {
			rec := Record("pat-1", "pat-1", core.RolePatient, core.AuditShareCreate, shares[i].ID, shares[i].CreatedAt)
			in := sharemodel.Input{Op: sharemodel.OpCreate, ID: shares[i].ID, MaxViews: shares[i].MaxViews, MaxDevices: shares[i].MaxDevices}
			return recorded(&hist, i, in, func() error {
				var err error
				recs[i], err = Chained(ctx(t), s, rec, 2*n, func(l core.AuditRecord) error {
					return s.CreateShare(ctx(t), shares[i], l, notes[i])
				})
				return err
			})
		})
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Errorf("CreateShare %d and %d both succeeded, want exactly one", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no CreateShare succeeded, want exactly one")
		}
		for i, err := range errs {
			if i == winner {
				continue
			}
			wantReplay(t, fmt.Sprintf("CreateShare %d", i), err, shares[winner])
			if _, err := s.GetShare(ctx(t), shares[i].ID); core.KindOf(err) != core.KindNotFound {
				t.Errorf("GetShare of replayed share %d: got %v, want kind not found", i, err)
			}
		}
		WantShare(t, s, shares[winner])
		wantLinearChain(t, s, "pat-1", []string{recs[winner].RequestID})
		if diff := cmp.Diff([]core.InboxItem{Unread(notes[winner])}, Flatten(ListInbox(t, s, "dr-a", 100)), shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(dr-a) mismatch (-want +got):\n%s", diff)
		}
		sharemodel.Check(t, portModel, &hist)
	})

	t.Run("RevokeOnce", func(t *testing.T) {
		const n = 20
		s := newStore(t, h)
		var hist sharemodel.History
		sh := NewShare("pat-1", "dr-a", t0)
		cw := createRecorded(t, &hist, s, sh)
		at := func(i int) time.Time { return tNow.Add(time.Duration(i) * time.Second) }
		notes := make([]core.Notification, n)
		for i := range notes {
			notes[i] = Note("dr-a", core.NoteSessionRevoked, sh.ID, at(i))
		}
		got := make([]bool, n)
		recs := make([]core.AuditRecord, n)
		errs := RunAll(n, func(i int) error {
			rec := Record("pat-1", "pat-1", core.RolePatient, core.AuditShareRevoke, sh.ID, at(i))
			call := hist.Call()
			var err error
			recs[i], err = Chained(ctx(t), s, rec, 2*n, func(l core.AuditRecord) error {
				var err error
				got[i], err = s.RevokeShare(ctx(t), sh.ID, "pat-1", at(i), revokeReason, l, notes[i])
				return err
			})
			out := sharemodel.OutputOf(err)
			out.Wrote = got[i]
			hist.Return(i+1, sharemodel.Input{Op: sharemodel.OpRevoke}, call, out)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("RevokeShare %d: got %v, want nil (revoke is idempotent)", i, err)
			}
		}
		// Exactly one revoke wrote: its record is the chain's second, and
		// its notification the grantee's only revoke notification.
		chain := ListChain(t, s, "pat-1")
		if len(chain) != 2 {
			t.Fatalf("ListAudit(pat-1): got %d records, want the create and one revoke", len(chain))
		}
		winner := slices.IndexFunc(recs, func(r core.AuditRecord) bool { return r.RequestID == chain[1].RequestID })
		if winner < 0 {
			t.Fatalf("the revoke record in the chain is no revoker's")
		}
		wantLinearChain(t, s, "pat-1", []string{cw.Rec.RequestID, recs[winner].RequestID})
		// Exactly the winner reports that it revoked the share.
		for i, revoked := range got {
			if revoked != (i == winner) {
				t.Errorf("RevokeShare %d: got revoked=%v, want %v (revoke %d wrote)", i, revoked, i == winner, winner)
			}
		}
		want := sh
		want.Status, want.RevokedAt, want.RevokedBy, want.RevokeReason = core.ShareRevoked, at(winner), recs[winner].ActorID, revokeReason
		WantShare(t, s, want)
		if diff := cmp.Diff([]core.InboxItem{Unread(notes[winner]), Unread(cw.Notes[0])}, Flatten(ListInbox(t, s, "dr-a", 100)), shareCmpOpts); diff != "" {
			t.Errorf("ListInbox(dr-a) mismatch (-want +got):\n%s", diff)
		}
		sharemodel.Check(t, portModel, &hist)
	})

	t.Run("RevokeRacesUse/one chain", func(t *testing.T) { testRevokeRacesUse(t, h, true) })
	t.Run("RevokeRacesUse/a chain per writer", func(t *testing.T) { testRevokeRacesUse(t, h, false) })
}

// testIssueKeyCountsViews runs 300 issuers, each with its own key and its
// record in chain(i), against a share with 10 views: exactly 10 succeed, the
// others are refused with views_exhausted, and exactly their keys,
// notifications and records are stored.
func testIssueKeyCountsViews(t *testing.T, h Harness, chain func(writer int) string) {
	const n, views = 300, 10
	s := newStore(t, h)
	var hist sharemodel.History
	sh := NewShare("pat-1", "dr-a", t0)
	sh.MaxViews = views
	cw := createRecorded(t, &hist, s, sh)
	a := NewAccess(sh, "device-1", tNow)
	ow := openRecorded(t, &hist, s, a, tNow)

	keys := make([]core.EphemeralKey, n)
	notes := make([]core.Notification, n)
	recs := make([]core.AuditRecord, n)
	for i := range n {
		keys[i] = NewKey(sh, a.ID, tNow)
		notes[i] = Note("pat-1", core.NotePhotoViewed, sh.ID, tNow)
	}
	errs := RunAll(n, func(i int) error {
		rec := Record(chain(i), "dr-a", core.RoleProfessional, core.AuditKeyIssue, keys[i].ID, tNow)
		return recorded(&hist, i+1, sharemodel.Input{Op: sharemodel.OpIssue, ID: keys[i].ID}, func() error {
			var err error
			recs[i], err = Chained(ctx(t), s, rec, 2*n, func(l core.AuditRecord) error {
				return s.IssueKey(ctx(t), keys[i], tNow, l, notes[i])
			})
			return err
		})
	})
	ids := map[string][]string{"pat-1": {cw.Rec.RequestID, ow.Rec.RequestID}}
	wantNotes := []core.InboxItem{Unread(ow.Notes[0])}
	issued := 0
	for i, err := range errs {
		switch {
		case err == nil:
			issued++
			ids[chain(i)] = append(ids[chain(i)], recs[i].RequestID)
			wantNotes = append(wantNotes, Unread(notes[i]))
			wantKey(t, s, keys[i])
		case isCode(err, core.KindGone, core.CodeViewsExhausted):
			if _, err := s.GetKey(ctx(t), keys[i].ID); core.KindOf(err) != core.KindNotFound {
				t.Errorf("GetKey of refused key %d: got %v, want kind not found", i, err)
			}
			if _, ok := ids[chain(i)]; !ok {
				ids[chain(i)] = nil
			}
		default:
			t.Errorf("IssueKey %d: got %v, want nil or gone with views_exhausted", i, err)
		}
	}
	if issued != views {
		t.Errorf("IssueKey succeeded %d times, want exactly %d", issued, views)
	}
	if got := GetShare(t, s, sh.ID).ViewsUsed; got != views {
		t.Errorf("ViewsUsed: got %d, want %d", got, views)
	}
	for patient, want := range ids {
		wantLinearChain(t, s, patient, want)
	}
	if diff := cmp.Diff(noteIDs(wantNotes), noteIDs(Flatten(ListInbox(t, s, "pat-1", 100)))); diff != "" {
		t.Errorf("ListInbox(pat-1) ids mismatch (-want +got):\n%s", diff)
	}
	sharemodel.Check(t, portModel, &hist)
}

// testClaimKeyOnce runs 100 claimers of one key, each with its record in
// chain(i): exactly one succeeds, the others are refused with key_used, and
// only the winner's record is written.
func testClaimKeyOnce(t *testing.T, h Harness, chain func(writer int) string) {
	const n = 100
	s := newStore(t, h)
	var hist sharemodel.History
	sh := NewShare("pat-1", "dr-a", t0)
	createRecorded(t, &hist, s, sh)
	a := NewAccess(sh, "device-1", tNow)
	openRecorded(t, &hist, s, a, tNow)
	k := issueRecorded(t, &hist, s, sh, a, tNow)
	ids := map[string][]string{"pat-1": requestIDs(ListChain(t, s, "pat-1"))}
	claimedAt := func(i int) time.Time { return tNow.Add(time.Duration(i+1) * time.Millisecond) }
	got := make([]core.EphemeralKey, n)
	recs := make([]core.AuditRecord, n)
	errs := RunAll(n, func(i int) error {
		rec := Record(chain(i), "dr-a", core.RoleProfessional, core.AuditKeyClaim, k.ID, claimedAt(i))
		return recorded(&hist, i+1, sharemodel.Input{Op: sharemodel.OpClaim, ID: k.ID}, func() error {
			var err error
			recs[i], err = Chained(ctx(t), s, rec, 2*n, func(l core.AuditRecord) error {
				var err error
				got[i], err = s.ClaimKey(ctx(t), k, "dr-a", claimedAt(i), l)
				return err
			})
			return err
		})
	})
	winner := -1
	for i, err := range errs {
		if _, ok := ids[chain(i)]; !ok {
			ids[chain(i)] = nil
		}
		switch {
		case err == nil && winner >= 0:
			t.Errorf("ClaimKey %d and %d both succeeded, want exactly one", winner, i)
		case err == nil:
			winner = i
		case !isCode(err, core.KindGone, core.CodeKeyUsed):
			t.Errorf("ClaimKey %d: got %v, want nil or gone with key_used", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no ClaimKey succeeded, want exactly one")
	}
	want := k
	want.Status, want.UsedAt = core.KeyUsed, claimedAt(winner)
	if diff := cmp.Diff(want, got[winner], shareCmpOpts); diff != "" {
		t.Errorf("the winning ClaimKey returned (-want +got):\n%s", diff)
	}
	wantKey(t, s, want)
	ids[chain(winner)] = append(ids[chain(winner)], recs[winner].RequestID)
	for patient, want := range ids {
		wantLinearChain(t, s, patient, want)
	}
	sharemodel.Check(t, portModel, &hist)
}

// testRevokeRacesUse runs issuers, claimers and openers against one share
// while its patient revokes it, once each kind of use has succeeded. Every
// use that succeeded must have been written before the revoke, every use
// tried after it must fail with session_revoked, and afterwards no key
// issued before the revoke can be claimed. A using goroutine that succeeded
// waits until the revoke is sent, then races it with the rest of its tries.
//
// With oneChain every write lands in the patient's chain atomically with its
// record, so the chain orders them and the suite checks the order itself.
// Otherwise each using goroutine writes its records to a chain of its own, so
// that the head condition does not serialize uses and the revoke; then the
// views the revoke saw must be all the views ever counted.
func testRevokeRacesUse(t *testing.T, h Harness, oneChain bool) {
	const (
		issuers, claimers, openers = 4, 4, 2
		preIssued, heldBack        = 40, 5
		maxTries                   = 200 // per using goroutine, before it waits for the revoke to land
		maxAttempts                = 10000
	)
	s := newStore(t, h)
	// Every call is recorded, the setup's as client 0's, and the history
	// checked against the model of the port at the end.
	var hist sharemodel.History
	sh := NewShare("pat-1", "dr-a", t0)
	sh.MaxViews = core.MaxShareViews
	sh.MaxDevices = 1
	createRecorded(t, &hist, s, sh)
	a := NewAccess(sh, "device-1", tNow)
	openRecorded(t, &hist, s, a, tNow)
	var pre []core.EphemeralKey
	for range preIssued + heldBack {
		pre = append(pre, issueRecorded(t, &hist, s, sh, a, tNow))
	}
	issuerClient := func(g int) int { return 1 + g }
	claimerClient := func(g int) int { return 1 + issuers + g }
	openerClient := func(g int) int { return 1 + issuers + claimers + g }
	const revokerClient = 1 + issuers + claimers + openers
	claimAt := tNow.Add(time.Second)

	type use struct {
		op  string
		rec core.AuditRecord
		key core.EphemeralKey // issued or claimed
	}
	var (
		mu       sync.Mutex
		uses     []use
		problems []string
	)
	first := map[string]chan struct{}{"issue": make(chan struct{}), "claim": make(chan struct{}), "open": make(chan struct{})}
	var once = map[string]*sync.Once{"issue": {}, "claim": {}, "open": {}}
	// revoking is closed when the revoke is sent. A using goroutine that
	// succeeded waits for it before it goes on, so that no goroutine spends
	// its tries before the revoke while another kind of use has yet to
	// succeed once: it races the revoke with all its tries.
	revoking := make(chan struct{})
	succeeded := func(u use) {
		mu.Lock()
		uses = append(uses, u)
		mu.Unlock()
		once[u.op].Do(func() { close(first[u.op]) })
		<-revoking
	}
	// revokeDone is closed when the revoke returned.
	revokeDone := make(chan struct{})
	// untilRefused runs try until it fails and returns that error. A lock
	// need not be fair, so uses may win many times in a row before the
	// revoke lands: after maxTries successes it waits for the revoke to
	// return and tries once more, which must be refused.
	untilRefused := func(try func() error) error {
		for range maxTries {
			if err := try(); err != nil {
				return err
			}
		}
		<-revokeDone
		if err := try(); err != nil {
			return err
		}
		return errors.New("no refusal after the revoke")
	}
	// stopped records how a using goroutine ended: it must be refused with
	// session_revoked.
	stopped := func(who string, err error) {
		if !isCode(err, core.KindGone, core.CodeSessionRevoked) {
			mu.Lock()
			problems = append(problems, fmt.Sprintf("%s ended with %v, want gone with session_revoked", who, err))
			mu.Unlock()
		}
	}
	var revokeRec core.AuditRecord
	var revoked bool
	var revokeErr error

	chainOf := func(who string) string {
		if oneChain {
			return "pat-1"
		}
		return "pat-1-" + who
	}
	var wg sync.WaitGroup
	for g := range issuers {
		wg.Go(func() {
			stopped(fmt.Sprintf("issuer %d", g), untilRefused(func() error {
				k := NewKey(sh, a.ID, tNow)
				n := Note("pat-1", core.NotePhotoViewed, sh.ID, tNow)
				var rec core.AuditRecord
				err := recorded(&hist, issuerClient(g), sharemodel.Input{Op: sharemodel.OpIssue, ID: k.ID}, func() error {
					var err error
					rec, err = Chained(ctx(t), s, Record(chainOf(fmt.Sprintf("issuer-%d", g)), "dr-a", core.RoleProfessional, core.AuditKeyIssue, k.ID, tNow), maxAttempts,
						func(l core.AuditRecord) error { return s.IssueKey(ctx(t), k, tNow, l, n) })
					return err
				})
				if err == nil {
					succeeded(use{"issue", rec, k})
				}
				return err
			}))
		})
	}
	for g := range claimers {
		wg.Go(func() {
			for i := g; i < preIssued; i += claimers {
				k := pre[i]
				var claimed core.EphemeralKey
				var rec core.AuditRecord
				err := recorded(&hist, claimerClient(g), sharemodel.Input{Op: sharemodel.OpClaim, ID: k.ID}, func() error {
					var err error
					rec, err = Chained(ctx(t), s, Record(chainOf(fmt.Sprintf("claimer-%d", g)), "dr-a", core.RoleProfessional, core.AuditKeyClaim, k.ID, claimAt), maxAttempts,
						func(l core.AuditRecord) error {
							var err error
							claimed, err = s.ClaimKey(ctx(t), k, "dr-a", claimAt, l)
							return err
						})
					return err
				})
				if err != nil {
					stopped(fmt.Sprintf("claimer %d", g), err)
					return
				}
				succeeded(use{"claim", rec, claimed})
			}
			// Out of keys before the revoke: a weaker run, not a failure.
		})
	}
	for g := range openers {
		wg.Go(func() {
			stopped(fmt.Sprintf("opener %d", g), untilRefused(func() error {
				acc := NewAccess(sh, "device-1", tNow)
				n := Note("pat-1", core.NoteSessionAccess, sh.ID, tNow)
				var rec core.AuditRecord
				err := recorded(&hist, openerClient(g), sharemodel.Input{Op: sharemodel.OpOpen, ID: acc.DeviceFingerprint}, func() error {
					var err error
					rec, err = Chained(ctx(t), s, Record(chainOf(fmt.Sprintf("opener-%d", g)), "dr-a", core.RoleProfessional, core.AuditAccessOpen, acc.ID, tNow), maxAttempts,
						func(l core.AuditRecord) error { return s.OpenAccess(ctx(t), acc, tNow, l, n) })
					return err
				})
				if err == nil {
					succeeded(use{"open", rec, core.EphemeralKey{}})
				}
				return err
			}))
		})
	}
	wg.Go(func() {
		// Revoke in the middle: once every kind of use has succeeded.
		timeout := time.After(30 * time.Second)
		for _, op := range []string{"issue", "claim", "open"} {
			select {
			case <-first[op]:
			case <-timeout:
				mu.Lock()
				problems = append(problems, "no "+op+" succeeded before the revoke")
				mu.Unlock()
			}
		}
		n := Note("dr-a", core.NoteSessionRevoked, sh.ID, tNow)
		close(revoking)
		call := hist.Call()
		revokeRec, revokeErr = Chained(ctx(t), s, Record("pat-1", "pat-1", core.RolePatient, core.AuditShareRevoke, sh.ID, tNow), maxAttempts,
			func(l core.AuditRecord) error {
				var err error
				revoked, err = s.RevokeShare(ctx(t), sh.ID, "pat-1", tNow, revokeReason, l, n)
				return err
			})
		out := sharemodel.OutputOf(revokeErr)
		out.Wrote = revoked
		hist.Return(revokerClient, sharemodel.Input{Op: sharemodel.OpRevoke}, call, out)
		close(revokeDone)
	})
	wg.Wait()
	Must(t, "RevokeShare", revokeErr)
	for _, p := range problems {
		t.Error(p)
	}

	// Every use that succeeded was written before the revoke (in one chain,
	// the chain says so).
	issued := map[string]bool{}
	claimed := map[string]core.EphemeralKey{}
	chains := map[string][]string{"pat-1": nil}
	for _, u := range uses {
		chains[u.rec.PatientID] = append(chains[u.rec.PatientID], u.rec.RequestID)
		if oneChain && u.rec.Seq >= revokeRec.Seq {
			t.Errorf("%s %s succeeded after the revoke: its record has seq %d, the revoke's %d", u.op, u.rec.ResourceID, u.rec.Seq, revokeRec.Seq)
		}
		switch u.op {
		case "issue":
			issued[u.key.ID] = true
		case "claim":
			claimed[u.key.ID] = u.key
		}
	}
	t.Logf("before the revoke: %d issues, %d claims, %d opens", len(issued), len(claimed), len(uses)-len(issued)-len(claimed))

	// The revoke saw every view counted before it, and the chain is linear.
	stored := GetShare(t, s, sh.ID)
	if stored.Status != core.ShareRevoked || stored.ViewsUsed != len(pre)+len(issued) {
		t.Errorf("stored share: got status %q with %d views, want %q with %d", stored.Status, stored.ViewsUsed, core.ShareRevoked, len(pre)+len(issued))
	}
	if !revoked {
		t.Errorf("RevokeShare of the active share: got revoked=false, want true")
	}
	wantRevoked(t, s, sh.ID, tNow, revokeRec.ActorID, revokeReason)
	// Every chain holds exactly the records of its writes, linked.
	var setup []string
	for _, r := range ListChain(t, s, "pat-1")[:2+len(pre)] {
		setup = append(setup, r.RequestID)
	}
	chains["pat-1"] = append(chains["pat-1"], append(setup, revokeRec.RequestID)...)
	for patient, ids := range chains {
		wantLinearChain(t, s, patient, ids)
	}

	// After the revoke: no key issued before it can be claimed, and nothing
	// else succeeds either. Nothing is written by the refusals.
	var unclaimed []core.EphemeralKey
	for _, k := range pre {
		if _, ok := claimed[k.ID]; !ok {
			unclaimed = append(unclaimed, k)
		}
	}
	for _, u := range uses {
		if u.op == "issue" {
			unclaimed = append(unclaimed, u.key)
		}
	}
	if len(unclaimed) < heldBack {
		t.Fatalf("only %d unclaimed keys, want at least %d", len(unclaimed), heldBack)
	}
	var keyIDs []string
	for _, k := range unclaimed {
		keyIDs = append(keyIDs, k.ID)
	}
	later := NewKey(sh, a.ID, claimAt)
	acc := NewAccess(sh, "device-1", claimAt)
	w := world{parties: []string{"pat-1", "dr-a"}, shares: []string{sh.ID}, keys: append(keyIDs, later.ID), accesses: []string{acc.ID}}
	before := observe(t, s, w)
	for _, k := range unclaimed {
		err := recorded(&hist, 0, sharemodel.Input{Op: sharemodel.OpClaim, ID: k.ID}, func() error {
			_, _, err := TryClaim(t, s, k, "dr-a", claimAt)
			return err
		})
		WantCode(t, "ClaimKey after the revoke", err, core.KindGone, core.CodeSessionRevoked)
	}
	err := recorded(&hist, 0, sharemodel.Input{Op: sharemodel.OpIssue, ID: later.ID}, func() error {
		_, err := TryIssue(t, s, later, claimAt)
		return err
	})
	WantCode(t, "IssueKey after the revoke", err, core.KindGone, core.CodeSessionRevoked)
	err = recorded(&hist, 0, sharemodel.Input{Op: sharemodel.OpOpen, ID: acc.DeviceFingerprint}, func() error {
		_, err := TryOpen(t, s, acc, claimAt)
		return err
	})
	WantCode(t, "OpenAccess after the revoke", err, core.KindGone, core.CodeSessionRevoked)
	wantUnchanged(t, s, w, before, "uses after the revoke")
	for id, k := range claimed {
		if k.Status != core.KeyUsed {
			t.Errorf("claimed key %s: got status %q, want %q", id, k.Status, core.KeyUsed)
		}
		wantKey(t, s, k)
	}
	sharemodel.Check(t, portModel, &hist)
}
