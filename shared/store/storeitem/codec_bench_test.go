package storeitem

import (
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// BenchmarkCodecs measures the codecs of the two entities every request
// path writes or reads: an audit record and a share.
func BenchmarkCodecs(b *testing.B) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	rec := core.AuditRecord{PatientID: "pat-1", Seq: 42, At: now, ActorID: "pro-1", Action: "chat_image.url_issued", Hash: make([]byte, 32), PrevHash: make([]byte, 32)}
	share := core.Share{ID: "sh-1", PatientID: "pat-1", ProfessionalID: "pro-1", MaxViews: 5, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Status: core.ShareActive}
	b.Run("AuditRecordOf", func(b *testing.B) {
		for b.Loop() {
			_ = AuditRecordOf(rec)
		}
	})
	stored := AuditRecordOf(rec)
	b.Run("AuditRecord.Entity", func(b *testing.B) {
		for b.Loop() {
			if _, err := stored.Entity(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ShareOf", func(b *testing.B) {
		for b.Loop() {
			_ = ShareOf(share)
		}
	})
	sh := ShareOf(share)
	b.Run("Share.Entity", func(b *testing.B) {
		for b.Loop() {
			if _, err := sh.Entity(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
