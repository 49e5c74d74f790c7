package storetest

import (
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The fixtures of the suite, by entity, as TestFixturesFillEveryField reads
// them: every value the suite stores through the port, or expects back
// from it after a write that sets what no caller gives (a claim's UsedAt, a
// score, an appointment's image count, a record's link). A fixture added
// for an entity belongs here too.
//
// Together the fixtures of an entity must set every field of it, nested
// structs and the elements of slices of structs included: the suite
// compares what it stored with what it reads back, so a field that some
// fixture sets and an adapter drops fails a round trip; a field that no
// fixture sets would not. A field added to an entity fails the guard until
// a fixture sets it, which makes the round trips cover it.
func fixtures() []any {
	sh := NewShare("pat-1", "dr-a", t0)
	a := NewAccess(sh, "device-1", tNow)
	scored := a
	scored.Score = 3 // AddSuspicion's (wantScore)
	k := NewKey(sh, a.ID, tNow)
	claimed := k
	claimed.Status, claimed.UsedAt = core.KeyUsed, tNow.Add(time.Second) // ClaimKey's (wantKey)
	appt := newAppointment("appt-1")
	counted := appt
	counted.ImageCount = 1 // CreateChatImage's (wantAppointment)
	rec := auditRecord("pat-1", "dr-a", 0)
	linked := core.Link(rec, core.ChainHead{Seq: 41, Hash: Digest("head 41")})
	refused, note := refusal(sh, "device-2", tNow)
	return []any{
		newPhoto("pat-1"), pendingPhoto("pat-1", tNow),
		appt, counted, newChatImage(appt), legacyChatImage(appt),
		rec, linked, refused, Record("pat-1", "dr-a", core.RoleProfessional, core.AuditKeyIssue, k.ID, tNow),
		sh, everyFieldShare("pat-1", "dr-a", t0),
		a, scored,
		k, claimed,
		note, Note("dr-a", core.NoteSessionCreated, sh.ID, t0),
		dailyReport(day0, 0),
	}
}

// everyFieldShare returns NewShare of patient for professional, created at
// created, with every field set: as if two devices were bound, two views
// spent and the share revoked, and with an idempotency key. The stores keep
// what CreateShare is given, so that one write round-trips every field.
func everyFieldShare(patient, professional string, created time.Time) core.Share {
	sh := NewShare(patient, professional, created)
	sh.MaxDevices, sh.Devices, sh.ViewsUsed = 2, []string{"device-1", "device-2"}, 2
	sh.RevokedAt, sh.RevokedBy, sh.RevokeReason = created.Add(time.Minute), patient, revokeReason
	sh.IdempotencyKey, sh.RequestHash = "idem-1", Digest("request 1")
	return sh
}
