package boltstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/store/storekeys"
)

// FuzzVerifyChain writes an honest chain of 1 to 6 records, then lets the
// input tamper with the file as someone holding it could, bypassing every
// check: replace a record's stored JSON with any bytes (mode 0), set one of
// its JSON fields to any value (1), delete it (2), replace the head's JSON
// (3), copy one record over another (4), or swap two (5). core.VerifyChain
// over the store must not panic, must not call the chain valid unless the
// records and head read back exactly as written (the tampering changed
// nothing a reader sees), and must call it valid when they do. A record the
// store cannot decode makes it fail with an error: the database is corrupt,
// and verify answers 500, not "valid".
func FuzzVerifyChain(f *testing.F) {
	f.Add(uint8(3), "MedShare/2.1 (iPhone)", uint8(1), uint8(1), []byte("\x06denied"))
	f.Add(uint8(3), "agent", uint8(1), uint8(0), []byte("\x01other-actor"))
	f.Add(uint8(3), "agent", uint8(1), uint8(2), []byte("\x0c"+base64.StdEncoding.EncodeToString([]byte("x"))))
	f.Add(uint8(3), "agent", uint8(1), uint8(1), []byte("\x0d2026-03-14T16:09:26.535897932+01:00"))
	f.Add(uint8(3), "agent", uint8(1), uint8(1), []byte("\x0e4"))
	f.Add(uint8(3), "agent", uint8(0), uint8(1), []byte(`{}`))
	f.Add(uint8(3), "agent", uint8(0), uint8(1), []byte(`not json`))
	f.Add(uint8(3), "agent", uint8(0), uint8(1), []byte(`{"seq":2,"Seq":9}`))
	f.Add(uint8(3), "agent", uint8(2), uint8(1), []byte{})
	f.Add(uint8(3), "agent", uint8(2), uint8(2), []byte{})
	f.Add(uint8(3), "agent", uint8(3), uint8(0), []byte(`{"seq":2}`))
	f.Add(uint8(3), "agent", uint8(3), uint8(0), []byte(`{"seq":3,"hash":null}`))
	f.Add(uint8(3), "agent", uint8(4), uint8(0x12), []byte{})
	f.Add(uint8(3), "agent", uint8(5), uint8(0x01), []byte{})
	f.Add(uint8(1), "agent \xff", uint8(1), uint8(0), []byte("\x09agent \xfe"))
	f.Fuzz(func(t *testing.T, n uint8, text string, mode, which uint8, raw []byte) {
		ctx := context.Background()
		s := openTemp(t)
		s.db.NoSync = true // nothing here needs to survive a crash; fsyncs would be most of the time
		const patient = "pat-1"
		count := 1 + int(n)%6
		at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
		head := core.ChainHead{}
		for i := range count {
			rec := core.Link(core.AuditRecord{
				PatientID: patient, At: at.Add(time.Duration(i) * time.Second), ActorID: "pro-1", ActorRole: core.RoleProfessional,
				Action: core.AuditKeyIssue, ResourceType: "key", ResourceID: fmt.Sprintf("ek_%d", i), Outcome: core.OutcomeSuccess,
				SourceIP: "203.0.113.7", UserAgent: text, RequestID: fmt.Sprintf("rq_%d", i),
			}, head)
			if err := s.AppendAudit(ctx, rec); err != nil {
				t.Fatalf("append record %d: %v", i+1, err)
			}
			head = core.ChainHead{Seq: rec.Seq, Hash: rec.Hash}
		}
		honest, honestHead, err := readChain(s, patient)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := core.VerifyChain(ctx, s, patient); err != nil || !v.Valid || v.Records != uint64(count) {
			t.Fatalf("the honest chain of %d records: %+v, %v", count, v, err)
		}

		a, b := 1+uint64(which%16)%uint64(count), 1+uint64(which/16)%uint64(count)
		recKey := func(seq uint64) []byte { return boltKey(storekeys.AuditRecordKey(patient, seq)) }
		err = s.db.Update(func(tx *bolt.Tx) error {
			items := tx.Bucket(itemsBucket)
			switch mode % 6 {
			case 0:
				return items.Put(recKey(a), raw)
			case 1:
				return items.Put(recKey(a), setField(items.Get(recKey(a)), raw))
			case 2:
				return items.Delete(recKey(a))
			case 3:
				return items.Put(boltKey(storekeys.AuditHeadKey(patient)), raw)
			case 4:
				return items.Put(recKey(b), append([]byte(nil), items.Get(recKey(a))...))
			default:
				ra, rb := append([]byte(nil), items.Get(recKey(a))...), append([]byte(nil), items.Get(recKey(b))...)
				if err := items.Put(recKey(a), rb); err != nil {
					return err
				}
				return items.Put(recKey(b), ra)
			}
		})
		if err != nil {
			t.Fatal(err)
		}

		v, verr := core.VerifyChain(ctx, s, patient)
		after, afterHead, rerr := readChain(s, patient)
		// A nil and an empty hash are the same value (storetest's rule).
		unchanged := rerr == nil && cmp.Equal(honest, after, cmpopts.EquateEmpty()) && cmp.Equal(honestHead, afterHead, cmpopts.EquateEmpty())
		switch {
		case verr == nil && v.Valid && !unchanged:
			t.Fatalf("VerifyChain calls a tampered chain valid (%+v):\nwritten %+v\nread    %+v (%v)", v, honest, after, rerr)
		case unchanged && (verr != nil || !v.Valid):
			t.Fatalf("VerifyChain refuses a chain that reads as written: %+v, %v", v, verr)
		}
	})
}

// readChain reads patient's whole chain and head as a reader sees them.
func readChain(s *Store, patient string) ([]core.AuditRecord, core.ChainHead, error) {
	ctx := context.Background()
	head, err := s.AuditHead(ctx, patient)
	if err != nil {
		return nil, head, err
	}
	var all []core.AuditRecord
	page := core.Page{Limit: 100}
	for {
		recs, next, err := s.ListAudit(ctx, patient, false, page)
		if err != nil {
			return nil, head, err
		}
		all = append(all, recs...)
		if next == "" {
			return all, head, nil
		}
		page.Cursor = next
	}
}

// auditJSONFields are the JSON fields of a stored record, in the order a
// tamper's first byte picks them.
var auditJSONFields = []string{"patient_id", "actor_id", "actor_role", "action", "resource_type", "resource_id", "outcome",
	"reason", "source_ip", "user_agent", "request_id", "unknown_field", "prev_hash", "at", "seq", "hash"}

// setField sets one field of a record's stored JSON: raw's first byte picks
// it, the rest is its value (a number for seq, standard base64 for the
// hashes, a string otherwise). Without a byte it sets nothing.
func setField(stored, raw []byte) []byte {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(stored, &m) != nil {
		return stored
	}
	field, value := auditJSONFields[int(raw[0])%len(auditJSONFields)], string(raw[1:])
	switch field {
	case "seq":
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			m[field] = value
		} else {
			m[field] = n
		}
	default:
		m[field] = value
	}
	out, err := json.Marshal(m)
	if err != nil {
		return stored
	}
	return out
}
