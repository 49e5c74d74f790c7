package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The problems core.VerifyChain names.
const (
	problemContent = "record hash does not match its content"
	problemLink    = "previous hash does not match"
	problemGap     = "sequence gap"
	problemChain   = "record belongs to another chain"
	problemHead    = "chain does not end at the stored head"
)

const tamperChainLen = 10

func testTamper(t *testing.T, h Harness) {
	t.Run("MixedVersions", func(t *testing.T) { testTamperMixed(t, h) })

	t.Run("Untouched", func(t *testing.T) {
		s := newStore(t, h)
		chain := appendChain(t, s, "pat-1", tamperChainLen, nil)
		v, err := core.VerifyChain(ctx(t), s, "pat-1")
		Must(t, "VerifyChain", err)
		last := chain[len(chain)-1]
		if !v.Valid || v.Records != tamperChainLen || v.HeadSeq != last.Seq || !bytes.Equal(v.HeadHash, last.Hash) {
			t.Errorf("VerifyChain: got %+v, want valid with %d records ending at the last record", v, tamperChainLen)
		}
	})

	// tamperFunc rewrites record seq of pat-1.
	type tamperFunc func(seq uint64, mutate func(*core.AuditRecord))
	// one tampers with one record.
	one := func(seq uint64, mutate func(*core.AuditRecord)) func(tamperFunc, []core.AuditRecord) {
		return func(tamper tamperFunc, _ []core.AuditRecord) { tamper(seq, mutate) }
	}
	// rehash makes mutate's record consistent with itself again, as an
	// attacker who knows the hash function would.
	rehash := func(mutate func(*core.AuditRecord)) func(*core.AuditRecord) {
		return func(r *core.AuditRecord) { mutate(r); r.Hash = core.AuditHash(*r) }
	}
	action := func(r *core.AuditRecord) { r.Action = core.AuditPhotoDelete }

	for _, tc := range []struct {
		name        string
		apply       func(tamper tamperFunc, chain []core.AuditRecord)
		wantBadSeq  uint64
		wantProblem string
	}{
		// Any change to a hashed field breaks that record's own hash.
		{"action", one(5, action), 5, problemContent},
		{"actor", one(5, func(r *core.AuditRecord) { r.ActorID = "dr-someone-else" }), 5, problemContent},
		{"actor role", one(5, func(r *core.AuditRecord) { r.ActorRole = core.RolePatient }), 5, problemContent},
		{"outcome", one(5, func(r *core.AuditRecord) { r.Outcome = core.OutcomeDenied }), 5, problemContent},
		{"reason", one(5, func(r *core.AuditRecord) { r.Reason = core.CodeKeyUsed }), 5, problemContent},
		{"time by one nanosecond", one(5, func(r *core.AuditRecord) { r.At = r.At.Add(time.Nanosecond) }), 5, problemContent},
		{"resource", one(5, func(r *core.AuditRecord) { r.ResourceID = "ph_other" }), 5, problemContent},
		{"resource type", one(5, func(r *core.AuditRecord) { r.ResourceType = "chat_image" }), 5, problemContent},
		{"source ip", one(5, func(r *core.AuditRecord) { r.SourceIP = "198.51.100.1" }), 5, problemContent},
		{"user agent", one(5, func(r *core.AuditRecord) { r.UserAgent = "curl/8" }), 5, problemContent},
		{"request id", one(5, func(r *core.AuditRecord) { r.RequestID = "req-forged" }), 5, problemContent},
		// The fields of version 2 (seq 4 has them, seq 5 does not).
		{"photo id", one(4, func(r *core.AuditRecord) { r.PhotoID = "ph_forged" }), 4, problemContent},
		{"photo id added", one(5, func(r *core.AuditRecord) { r.PhotoID = "ph_forged" }), 5, problemContent},
		{"share id", one(4, func(r *core.AuditRecord) { r.ShareID = "sh_forged" }), 4, problemContent},
		{"share id removed", one(4, func(r *core.AuditRecord) { r.ShareID = "" }), 4, problemContent},
		{"device", one(4, func(r *core.AuditRecord) { r.Device = "sha256:forged" }), 4, problemContent},
		{"version downgraded", one(4, func(r *core.AuditRecord) { r.Version = core.AuditVersion1 }), 4, problemContent},
		{"version removed with the new fields", one(4, func(r *core.AuditRecord) {
			r.Version, r.PhotoID, r.ShareID, r.Device = 0, "", "", ""
		}), 4, problemContent},
		{"hash", one(5, func(r *core.AuditRecord) { r.Hash = flipBit(r.Hash) }), 5, problemContent},
		{"first record", one(1, action), 1, problemContent},
		{"last record", one(tamperChainLen, action), tamperChainLen, problemContent},
		// A broken link shows on the record that holds it.
		{"previous hash", one(5, func(r *core.AuditRecord) { r.PrevHash = flipBit(r.PrevHash) }), 5, problemLink},
		{"previous hash of the first record", one(1, func(r *core.AuditRecord) { r.PrevHash = Digest("genesis") }), 1, problemLink},
		// Structural changes show where the structure breaks.
		{"sequence", one(5, func(r *core.AuditRecord) { r.Seq = 6 }), 5, problemGap},
		{"patient", one(5, func(r *core.AuditRecord) { r.PatientID = "pat-2" }), 5, problemChain},
		// A record rehashed after the change verifies itself; the break shows
		// on the next record, whose link no longer matches.
		{"action, rehashed", one(5, rehash(action)), 6, problemLink},
		{"time, rehashed", one(5, rehash(func(r *core.AuditRecord) { r.At = r.At.Add(-time.Hour) })), 6, problemLink},
		// The last record rehashed, or the whole tail rewritten and relinked,
		// verifies record by record; the break shows past the last record,
		// where the chain no longer ends at the stored head.
		{"last record, rehashed", one(tamperChainLen, rehash(action)), tamperChainLen + 1, problemHead},
		{"tail rewritten and relinked", func(tamper tamperFunc, chain []core.AuditRecord) {
			prev := chain[3].Hash
			for seq := uint64(5); seq <= tamperChainLen; seq++ {
				tamper(seq, func(r *core.AuditRecord) {
					if seq == 5 {
						action(r)
					}
					r.PrevHash = prev
					r.Hash = core.AuditHash(*r)
					prev = r.Hash
				})
			}
		}, tamperChainLen + 1, problemHead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, h)
			chain := appendChain(t, s, "pat-1", tamperChainLen, nil)
			other := appendChain(t, s, "pat-2", 3, nil)
			tc.apply(func(seq uint64, mutate func(*core.AuditRecord)) {
				h.Tamper(t, s, "pat-1", seq, mutate)
			}, slices.Clone(chain))

			v, err := core.VerifyChain(ctx(t), s, "pat-1")
			Must(t, "VerifyChain", err)
			if v.Valid || v.FirstBadSeq != tc.wantBadSeq || v.Problem != tc.wantProblem {
				t.Errorf("VerifyChain: got valid=%v first bad seq %d (%q), want invalid at seq %d (%q)",
					v.Valid, v.FirstBadSeq, v.Problem, tc.wantBadSeq, tc.wantProblem)
			}
			// The tampering stayed in its record: the head and other chains
			// are untouched.
			wantHead(t, s, "pat-1", HeadOf(chain[len(chain)-1]))
			w, err := core.VerifyChain(ctx(t), s, "pat-2")
			Must(t, "VerifyChain pat-2", err)
			if !w.Valid || w.Records != uint64(len(other)) {
				t.Errorf("VerifyChain(pat-2): got %+v, want valid with %d records", w, len(other))
			}
		})
	}
}

// testTamperMixed tampers with a chain written across the canonical
// versions: a record of the first version cannot be given the fields of
// version 2, even rehashed under the first version's form, and a record of
// version 2 cannot lose them.
func testTamperMixed(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name   string
		seq    uint64
		mutate func(*core.AuditRecord)
	}{
		{"photo id on a version 0 record", 1, func(r *core.AuditRecord) { r.PhotoID = "ph_forged" }},
		{"share id on a version 1 record", 2, func(r *core.AuditRecord) { r.ShareID = "sh_forged" }},
		{"device on a version 1 record, rehashed", 2, func(r *core.AuditRecord) {
			r.Device = "sha256:forged"
			r.Hash = core.AuditHash(*r)
		}},
		{"version 2 record without its photo", 4, func(r *core.AuditRecord) { r.PhotoID = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, h)
			mixedChain(t, s, "pat-1")
			h.Tamper(t, s, "pat-1", tc.seq, tc.mutate)
			v, err := core.VerifyChain(ctx(t), s, "pat-1")
			Must(t, "VerifyChain", err)
			if v.Valid || v.FirstBadSeq != tc.seq || v.Problem != problemContent {
				t.Errorf("VerifyChain: got valid=%v first bad seq %d (%q), want invalid at seq %d (%q)",
					v.Valid, v.FirstBadSeq, v.Problem, tc.seq, problemContent)
			}
		})
	}
}

// flipBit returns b with its first bit flipped (a fresh slice).
func flipBit(b []byte) []byte {
	out := slices.Clone(b)
	if len(out) == 0 {
		return []byte{1}
	}
	out[0] ^= 1
	return out
}
