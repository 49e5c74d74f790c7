package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// dayKey names one counter: a UTC day and a StatKey.
type dayKey struct {
	Day string // yyyy-mm-dd
	Key string
}

func dayOf(tm time.Time) string { return tm.UTC().Format(time.DateOnly) }

// chainCounts counts the records of the patients' chains by UTC day and
// StatKey: what CountAudit must answer, from the records as stored.
func chainCounts(t *testing.T, s core.Store, patients ...string) map[dayKey]int64 {
	t.Helper()
	counts := map[dayKey]int64{}
	for _, p := range patients {
		for _, r := range ListChain(t, s, p) {
			counts[dayKey{dayOf(r.At), r.StatKey()}]++
		}
	}
	return counts
}

// storeCounts asks CountAudit for each counter of keys.
func storeCounts(t *testing.T, s core.Store, keys []dayKey) map[dayKey]int64 {
	t.Helper()
	counts := map[dayKey]int64{}
	for _, k := range keys {
		day, err := time.Parse(time.DateOnly, k.Day)
		Must(t, "parse day "+k.Day, err)
		n, err := s.CountAudit(ctx(t), day, k.Key)
		Must(t, fmt.Sprintf("CountAudit(%s, %s)", k.Day, k.Key), err)
		if n != 0 {
			counts[k] = n
		}
	}
	return counts
}

func count(t *testing.T, s core.Store, day time.Time, key string) int64 {
	t.Helper()
	n, err := s.CountAudit(ctx(t), day, key)
	Must(t, fmt.Sprintf("CountAudit(%v, %s)", day, key), err)
	return n
}

// statKey is the StatKey of a successful record of action by role.
func statKey(action core.AuditAction, role core.Role) string {
	return core.AuditRecord{Action: action, Outcome: core.OutcomeSuccess, ActorRole: role}.StatKey()
}

// suiteKeys are the counters of every record the suite writes on day0 and
// the days around it, successful or not, plus some nobody writes.
func suiteKeys() []dayKey {
	var keys []dayKey
	for _, day := range []time.Time{day0.Add(-24 * time.Hour), day0, day0.Add(24 * time.Hour)} {
		for _, a := range []core.AuditAction{actCreate, actRevoke, actExpire, actOpen, actIssue, actClaim, actSuspicion, actAppend, "never.written"} {
			for _, role := range []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic, core.RoleSystem} {
				for _, outcome := range []string{core.OutcomeSuccess, core.OutcomeDenied, core.OutcomeFailed} {
					keys = append(keys, dayKey{dayOf(day), core.AuditRecord{Action: a, Outcome: outcome, ActorRole: role}.StatKey()})
				}
			}
		}
	}
	return keys
}

func testCountAudit(t *testing.T, h Harness) {
	t.Run("EveryWrite", func(t *testing.T) {
		// One record of each method that appends one; CountAudit agrees
		// with the chains as stored, record for record.
		s := newStore(t, h)
		sh, a, _ := activeShareUntil(t, s, t0.Add(shareTTL))
		k := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
		MustIssue(t, s, k, tNow)
		if _, _, err := tryClaim(t, s, k, tNow.Add(time.Second)); err != nil {
			t.Fatalf("ClaimKey: %v", err)
		}
		rec := Linked(t, s, Record("pat-1", "dr-a", core.RoleProfessional, actSuspicion, a.ID, tNow))
		Must(t, "AddSuspicion", s.AddSuspicion(ctx(t), a.ID, 0, 15, "", rec))
		revokeWritten(t, s, sh, tNow.Add(time.Minute))
		other := newShare("pat-2", "dr-a", t0, t0.Add(shareTTL))
		CreateShare(t, s, other)
		mustExpire(t, s, other, other.ExpiresAt)
		for _, r := range []core.AuditRecord{
			Record("pat-1", "dr-other", core.RoleProfessional, actAppend, "photos", tNow),
			Record("pat-1", "clinic-1", core.RoleClinic, actAppend, "photos", tNow),
		} {
			Must(t, "AppendAudit", s.AppendAudit(ctx(t), Linked(t, s, r)))
		}
		denied := Record("pat-2", "dr-b", core.RoleProfessional, actAppend, "photos", tNow)
		denied.Outcome, denied.Reason = core.OutcomeDenied, core.CodeNotFound
		Must(t, "AppendAudit", s.AppendAudit(ctx(t), Linked(t, s, denied)))

		want := chainCounts(t, s, "pat-1", "pat-2")
		d := dayOf(t0)
		for _, k := range []string{
			statKey(actCreate, core.RolePatient), statKey(actOpen, core.RoleProfessional), statKey(actIssue, core.RoleProfessional),
			statKey(actClaim, core.RoleProfessional), statKey(actSuspicion, core.RoleProfessional), statKey(actRevoke, core.RolePatient),
			statKey(actExpire, core.RoleSystem), statKey(actAppend, core.RoleProfessional), statKey(actAppend, core.RoleClinic),
			core.AuditRecord{Action: actAppend, Outcome: core.OutcomeDenied, ActorRole: core.RoleProfessional}.StatKey(),
		} {
			if want[dayKey{d, k}] == 0 {
				t.Fatalf("the chains hold no record %s on %s: the test wrote less than it meant to", k, d)
			}
		}
		if want[dayKey{d, statKey(actCreate, core.RolePatient)}] != 2 {
			t.Fatalf("the chains hold %d share creations, want 2", want[dayKey{d, statKey(actCreate, core.RolePatient)}])
		}
		keys := slices.Collect(maps.Keys(want))
		keys = append(keys, suiteKeys()...)
		if diff := cmp.Diff(want, storeCounts(t, s, keys)); diff != "" {
			t.Errorf("CountAudit mismatch (-want, from the chains +got):\n%s", diff)
		}
	})

	t.Run("DayBoundaries", func(t *testing.T) {
		s := newStore(t, h)
		key := statKey(actAppend, core.RoleProfessional)
		for _, at := range []time.Time{
			day0.Add(-time.Nanosecond), // the day before
			day0,                       // the first instant of the day
			day0.Add(24*time.Hour - time.Millisecond),              // 23:59:59.999
			day0.Add(24*time.Hour - time.Nanosecond).In(elsewhere), // the next day in that zone, still day0 in UTC
			day0.Add(24 * time.Hour),                               // 00:00 of the next day
		} {
			r := Record("pat-1", "dr-a", core.RoleProfessional, actAppend, "photos", at)
			Must(t, "AppendAudit", s.AppendAudit(ctx(t), Linked(t, s, r)))
		}
		for _, tc := range []struct {
			name string
			day  time.Time
			want int64
		}{
			{"the day", day0, 3},
			{"the day, named in another zone", day0.In(elsewhere), 3},
			{"the day, named by a time within it", t0, 3},
			{"the day, named by its last instant", day0.Add(24*time.Hour - time.Nanosecond), 3},
			{"the day, named by its last instant in a zone where it is the next day", day0.Add(24*time.Hour - time.Nanosecond).In(elsewhere), 3},
			{"the day before", day0.Add(-24 * time.Hour), 1},
			{"the next day", day0.Add(24 * time.Hour), 1},
			{"two days later", day0.Add(48 * time.Hour), 0},
			{"a year before", day0.AddDate(-1, 0, 0), 0},
		} {
			if got := count(t, s, tc.day, key); got != tc.want {
				t.Errorf("CountAudit, %s: got %d, want %d", tc.name, got, tc.want)
			}
		}
		for _, other := range []string{
			statKey(actAppend, core.RolePatient),
			statKey(actIssue, core.RoleProfessional),
			core.AuditRecord{Action: actAppend, Outcome: core.OutcomeDenied, ActorRole: core.RoleProfessional}.StatKey(),
			string(actAppend) + "|success",
		} {
			if got := count(t, s, day0, other); got != 0 {
				t.Errorf("CountAudit(%q), never written: got %d, want 0", other, got)
			}
		}
	})

	t.Run("FailedWritesCountNothing", func(t *testing.T) {
		s := newStore(t, h)
		sh, a, _ := activeShareUntil(t, s, t0.Add(shareTTL))
		used := newShare("pat-1", "dr-a", t0.Add(time.Second), t0.Add(shareTTL))
		used.MaxViews = 1
		CreateShare(t, s, used)
		ua := NewAccess(used, "device-1", tNow)
		MustOpen(t, s, ua, tNow)
		k := newKey(used, ua.ID, tNow, tNow.Add(core.MaxKeyTTL))
		MustIssue(t, s, k, tNow) // its only view
		if _, _, err := tryClaim(t, s, k, tNow); err != nil {
			t.Fatalf("ClaimKey: %v", err)
		}
		revoked := newShare("pat-1", "dr-a", t0.Add(2*time.Second), t0.Add(shareTTL))
		CreateShare(t, s, revoked)
		revokeWritten(t, s, revoked, tNow)
		flag := Linked(t, s, Record("pat-1", "dr-a", core.RoleProfessional, actSuspicion, a.ID, tNow))
		Must(t, "AddSuspicion", s.AddSuspicion(ctx(t), a.ID, 0, 30, "ip:192.0.2.1", flag))
		keys := suiteKeys()
		before := storeCounts(t, s, keys)
		if diff := cmp.Diff(chainCounts(t, s, "pat-1", "pat-2"), before); diff != "" {
			t.Fatalf("CountAudit before the failures mismatch (-want, from the chains +got):\n%s", diff)
		}
		stale := func(rec core.AuditRecord) core.AuditRecord { return core.Link(rec, core.ChainHead{}) }

		for _, f := range []struct {
			name string
			do   func(t *testing.T) error
		}{
			{"AppendAudit with a stale head", func(t *testing.T) error {
				return s.AppendAudit(ctx(t), stale(Record("pat-1", "dr-a", core.RoleProfessional, actAppend, "photos", tNow)))
			}},
			{"CreateShare with a stale head", func(t *testing.T) error {
				n := newShare("pat-1", "dr-a", t0.Add(3*time.Second), t0.Add(shareTTL))
				StorePhotos(t, s, n)
				return s.CreateShare(ctx(t), n, stale(Record("pat-1", "pat-1", core.RolePatient, actCreate, n.ID, n.CreatedAt)), Note("dr-a", core.NoteSessionCreated, n.ID, n.CreatedAt))
			}},
			{"CreateShare of an existing id", func(t *testing.T) error {
				rec := Linked(t, s, Record("pat-1", "pat-1", core.RolePatient, actCreate, sh.ID, sh.CreatedAt))
				return s.CreateShare(ctx(t), sh, rec, Note("dr-a", core.NoteSessionCreated, sh.ID, sh.CreatedAt))
			}},
			{"OpenAccess on another device", func(t *testing.T) error {
				_, err := TryOpen(t, s, NewAccess(sh, "device-2", tNow), tNow)
				return err
			}},
			{"IssueKey with no views left", func(t *testing.T) error {
				_, err := TryIssue(t, s, newKey(used, ua.ID, tNow, tNow.Add(core.MaxKeyTTL)), tNow)
				return err
			}},
			{"IssueKey with a stale head", func(t *testing.T) error {
				nk := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
				return s.IssueKey(ctx(t), nk, tNow, stale(Record("pat-1", "dr-a", core.RoleProfessional, actIssue, nk.ID, tNow)), Note("pat-1", core.NotePhotoViewed, sh.ID, tNow))
			}},
			{"ClaimKey of a used key", func(t *testing.T) error {
				_, _, err := tryClaim(t, s, k, tNow.Add(time.Second))
				return err
			}},
			{"RevokeShare by another patient", func(t *testing.T) error {
				rec := Linked(t, s, Record("pat-2", "pat-2", core.RolePatient, actRevoke, sh.ID, tNow))
				_, err := s.RevokeShare(ctx(t), sh.ID, "pat-2", tNow, "not mine", rec, Note("dr-a", core.NoteSessionRevoked, sh.ID, tNow))
				return err
			}},
			{"AddSuspicion from a score that moved", func(t *testing.T) error {
				rec := Linked(t, s, Record("pat-1", "dr-a", core.RoleProfessional, actSuspicion, a.ID, tNow))
				return s.AddSuspicion(ctx(t), a.ID, 0, 15, "", rec)
			}},
			{"AddSuspicion of a counted flag", func(t *testing.T) error {
				rec := Linked(t, s, Record("pat-1", "dr-a", core.RoleProfessional, actSuspicion, a.ID, tNow))
				return s.AddSuspicion(ctx(t), a.ID, 30, 60, "ip:192.0.2.1", rec)
			}},
			{"ExpireShare before the expiry", func(t *testing.T) error {
				_, _, err := tryExpire(t, s, sh, tNow)
				return err
			}},
			{"ExpireShare with a stale head", func(t *testing.T) error {
				_, err := s.ExpireShare(ctx(t), sh.ID, sh.ExpiresAt, stale(expireRecord(sh, sh.ExpiresAt)), expireNotes(sh, sh.ExpiresAt)...)
				return err
			}},
		} {
			t.Run(f.name, func(t *testing.T) {
				if err := f.do(t); err == nil {
					t.Fatalf("%s: got nil error, want one", f.name)
				}
				if diff := cmp.Diff(before, storeCounts(t, s, keys)); diff != "" {
					t.Errorf("CountAudit after %s mismatch (-before +after):\n%s", f.name, diff)
				}
			})
		}

		// Calls that succeed without writing count nothing either.
		for _, f := range []struct {
			name string
			do   func(t *testing.T) (bool, error)
		}{
			{"RevokeShare of a revoked share", func(t *testing.T) (bool, error) {
				rec := Linked(t, s, Record("pat-1", "pat-1", core.RolePatient, actRevoke, revoked.ID, tNow))
				return s.RevokeShare(ctx(t), revoked.ID, "pat-1", tNow, "again", rec, Note("dr-a", core.NoteSessionRevoked, revoked.ID, tNow))
			}},
			{"ExpireShare of a revoked share", func(t *testing.T) (bool, error) {
				expired, _, err := tryExpire(t, s, revoked, revoked.ExpiresAt)
				return expired, err
			}},
		} {
			t.Run(f.name, func(t *testing.T) {
				wrote, err := f.do(t)
				Must(t, f.name, err)
				if wrote {
					t.Errorf("%s: reported a write, want none", f.name)
				}
				if diff := cmp.Diff(before, storeCounts(t, s, keys)); diff != "" {
					t.Errorf("CountAudit after %s mismatch (-before +after):\n%s", f.name, diff)
				}
			})
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		key := statKey(actAppend, core.RoleProfessional)
		for _, tc := range []struct {
			name   string
			n      int
			append func(t *testing.T, s core.Store, i, n int) error
		}{
			{"many chains", 50, func(t *testing.T, s core.Store, i, _ int) error {
				r := core.Link(Record(fmt.Sprintf("pat-%d", i), "dr-a", core.RoleProfessional, actAppend, "photos", tNow), core.ChainHead{})
				return s.AppendAudit(ctx(t), r)
			}},
			// The appenders contend for the head: their failed attempts
			// count nothing.
			{"one chain", 30, func(t *testing.T, s core.Store, _, n int) error {
				_, err := Chained(ctx(t), s, Record("pat-1", "dr-a", core.RoleProfessional, actAppend, "photos", tNow), 2*n,
					func(l core.AuditRecord) error { return s.AppendAudit(ctx(t), l) })
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := tc.n
				s := newStore(t, h)
				errs := RunAll(n, func(i int) error { return tc.append(t, s, i, n) })
				for i, err := range errs {
					if err != nil {
						t.Fatalf("AppendAudit %d: %v", i, err)
					}
				}
				if got := count(t, s, day0, key); got != int64(n) {
					t.Errorf("CountAudit after %d appends: got %d, want exactly %d", n, got, n)
				}
			})
		}
		t.Run("views", func(t *testing.T) {
			// Issuers race for 10 views, each in a chain of its own: the
			// refused ones count nothing.
			const n, views = 40, 10
			s := newStore(t, h)
			sh := newShare("pat-1", "dr-a", t0, t0.Add(shareTTL))
			sh.MaxViews = views
			CreateShare(t, s, sh)
			a := NewAccess(sh, "device-1", tNow)
			MustOpen(t, s, a, tNow)
			errs := RunAll(n, func(i int) error {
				k := newKey(sh, a.ID, tNow, tNow.Add(core.MaxKeyTTL))
				r := core.Link(Record(fmt.Sprintf("pat-1-writer-%d", i), "dr-a", core.RoleProfessional, actIssue, k.ID, tNow), core.ChainHead{})
				return s.IssueKey(ctx(t), k, tNow, r, Note("pat-1", core.NotePhotoViewed, sh.ID, tNow))
			})
			issued := 0
			for i, err := range errs {
				switch {
				case err == nil:
					issued++
				case core.KindOf(err) == core.KindGone && core.CodeOf(err) == core.CodeViewsExhausted:
				default:
					t.Errorf("IssueKey %d: got %v, want nil or views_exhausted", i, err)
				}
			}
			if issued != views {
				t.Errorf("IssueKey succeeded %d times, want exactly %d", issued, views)
			}
			if got := count(t, s, tNow, statKey(actIssue, core.RoleProfessional)); got != views {
				t.Errorf("CountAudit(key.issue) after the race: got %d, want exactly %d", got, views)
			}
		})
	})
}
