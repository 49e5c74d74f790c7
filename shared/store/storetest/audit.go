package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// auditRecord returns an unlinked record of patient's chain with every field
// set (the fields of version 2, which name a view's photo, share and device,
// on even i only, so that both their presence and their absence
// round-trip); i makes it distinct.
func auditRecord(patient, actor string, i int) core.AuditRecord {
	r := core.AuditRecord{
		PatientID:    patient,
		At:           t0.Add(time.Duration(i)*time.Second + time.Duration(i)),
		ActorID:      actor,
		ActorRole:    core.RoleProfessional,
		Action:       "photo.key",
		ResourceType: "photo",
		ResourceID:   fmt.Sprintf("ph_%026d", i),
		Outcome:      core.OutcomeSuccess,
		SourceIP:     "203.0.113.7",
		UserAgent:    "storetest/1.0",
		RequestID:    fmt.Sprintf("req-%s-%d", patient, i),
	}
	if i%2 == 0 {
		r.PhotoID, r.ShareID, r.Device = r.ResourceID, fmt.Sprintf("sh_%026d", i), fmt.Sprintf("sha256:%064x", i)
	}
	return r
}

// appendV1 appends a record of the first canonical version to patient's
// chain, as the store holds records written before version 2: version 0
// (no version stored) or 1, without the fields of version 2, hashed under
// that form.
func appendV1(t *testing.T, s core.Store, patient string, version, i int) core.AuditRecord {
	t.Helper()
	head, err := s.AuditHead(ctx(t), patient)
	Must(t, "AuditHead "+patient, err)
	r := auditRecord(patient, "dr-a", i)
	r.PhotoID, r.ShareID, r.Device = "", "", ""
	r.Version = version
	r.Seq, r.PrevHash, r.At = head.Seq+1, head.Hash, r.At.UTC()
	r.Hash = core.AuditHash(r)
	Must(t, fmt.Sprintf("AppendAudit %s seq %d (version %d)", patient, r.Seq, version), s.AppendAudit(ctx(t), r))
	return r
}

// mixedChain appends to patient's chain two records of the first canonical
// version (0 and 1) and then two of the current one: a chain written
// across the upgrade.
func mixedChain(t *testing.T, s core.Store, patient string) []core.AuditRecord {
	t.Helper()
	chain := []core.AuditRecord{appendV1(t, s, patient, 0, 1), appendV1(t, s, patient, core.AuditVersion1, 3)}
	return append(chain, appendChain(t, s, patient, 2, func(i int, r *core.AuditRecord) {
		*r = auditRecord(patient, "dr-a", 10+2*i) // even: the version 2 fields set
	})...)
}

// appendChain appends n records to patient's chain through the port and
// returns them as linked. edit, when not nil, changes record i (1-based)
// before it is linked.
func appendChain(t *testing.T, s core.Store, patient string, n int, edit func(i int, r *core.AuditRecord)) []core.AuditRecord {
	t.Helper()
	head, err := s.AuditHead(ctx(t), patient)
	Must(t, "AuditHead "+patient, err)
	var recs []core.AuditRecord
	for i := 1; i <= n; i++ {
		r := auditRecord(patient, "dr-a", i)
		if edit != nil {
			edit(i, &r)
		}
		linked := core.Link(r, head)
		Must(t, fmt.Sprintf("AppendAudit %s seq %d", patient, linked.Seq), s.AppendAudit(ctx(t), linked))
		head = core.ChainHead{Seq: linked.Seq, Hash: linked.Hash}
		recs = append(recs, linked)
	}
	return recs
}

// HeadOf is the head of a chain whose last record is r.
func HeadOf(r core.AuditRecord) core.ChainHead { return core.ChainHead{Seq: r.Seq, Hash: r.Hash} }

func wantHead(t *testing.T, s core.Store, patient string, want core.ChainHead) {
	t.Helper()
	got, err := s.AuditHead(ctx(t), patient)
	if err != nil {
		t.Fatalf("AuditHead(%s): %v", patient, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("AuditHead(%s) mismatch (-want +got):\n%s", patient, diff)
	}
}

// listChain returns patient's whole chain in order through ListAudit.
func listChain(t *testing.T, s core.Store, patient string, newestFirst bool, limit int) [][]core.AuditRecord {
	t.Helper()
	return Collect(t, "ListAudit "+patient, limit, func(pg core.Page) ([]core.AuditRecord, string, error) {
		return s.ListAudit(ctx(t), patient, newestFirst, pg)
	})
}

func wantChain(t *testing.T, s core.Store, patient string, want []core.AuditRecord) {
	t.Helper()
	got := Flatten(listChain(t, s, patient, false, 100))
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("ListAudit(%s) mismatch (-want +got):\n%s", patient, diff)
	}
}

func seqs(pages [][]core.AuditRecord) [][]uint64 {
	out := make([][]uint64, len(pages))
	for i, p := range pages {
		for _, r := range p {
			out[i] = append(out[i], r.Seq)
		}
	}
	return out
}

func testAudit(t *testing.T, h Harness) {
	t.Run("EmptyChain", func(t *testing.T) {
		s := newStore(t, h)
		wantHead(t, s, "pat-1", core.ChainHead{})
		for _, newestFirst := range []bool{false, true} {
			recs, next, err := s.ListAudit(ctx(t), "pat-1", newestFirst, core.Page{Limit: 10})
			Must(t, "ListAudit", err)
			if len(recs) != 0 || next != "" {
				t.Errorf("ListAudit(newestFirst=%v) of an empty chain: got %d records and cursor %q, want none", newestFirst, len(recs), next)
			}
		}
		recs, next, err := s.ListAuditByActor(ctx(t), "dr-a", core.Page{Limit: 10})
		Must(t, "ListAuditByActor", err)
		if len(recs) != 0 || next != "" {
			t.Errorf("ListAuditByActor of an unknown actor: got %d records and cursor %q, want none", len(recs), next)
		}
	})

	t.Run("AppendAndHead", func(t *testing.T) {
		s := newStore(t, h)
		var want []core.AuditRecord
		for i := 1; i <= 3; i++ {
			want = append(want, appendChain(t, s, "pat-1", 1, func(_ int, r *core.AuditRecord) {
				*r = auditRecord("pat-1", "dr-a", i)
			})...)
			wantHead(t, s, "pat-1", HeadOf(want[i-1]))
		}
		wantChain(t, s, "pat-1", want)
		got := Flatten(listChain(t, s, "pat-1", false, 10))
		for _, r := range got {
			WantUTC(t, fmt.Sprintf("AuditRecord %d", r.Seq), map[string]time.Time{"At": r.At})
		}
		// Another chain is untouched.
		wantHead(t, s, "pat-10", core.ChainHead{})
	})

	t.Run("MixedVersions", func(t *testing.T) {
		// Records of the first canonical version, stored before version 2
		// existed, keep their form; records appended after them are
		// version 2; the chain verifies across the change, and the records
		// come back exactly, with the version 2 fields.
		s := newStore(t, h)
		chain := mixedChain(t, s, "pat-1")
		if chain[2].Version != core.AuditVersion2 || chain[3].PhotoID == "" {
			t.Fatalf("the appended records are not version 2 with a photo: %+v", chain[2:])
		}
		wantChain(t, s, "pat-1", chain)
		wantHead(t, s, "pat-1", HeadOf(chain[len(chain)-1]))
		v, err := core.VerifyChain(ctx(t), s, "pat-1")
		Must(t, "VerifyChain", err)
		if !v.Valid || v.Records != uint64(len(chain)) {
			t.Errorf("VerifyChain of a mixed chain: got %+v, want valid with %d records", v, len(chain))
		}
		recs, _, err := s.ListAuditByActor(ctx(t), "dr-a", core.Page{Limit: 10})
		Must(t, "ListAuditByActor", err)
		slices.Reverse(recs)
		if diff := cmp.Diff(chain, recs, cmpOpts); diff != "" {
			t.Errorf("ListAuditByActor of a mixed chain (-want +got):\n%s", diff)
		}
	})

	t.Run("AppendWrongHead", func(t *testing.T) {
		intruder := func(seq uint64, prev []byte) core.AuditRecord {
			r := auditRecord("pat-1", "dr-intruder", 99)
			r.Seq, r.PrevHash = seq, prev
			r.Hash = core.AuditHash(r)
			return r
		}
		for _, tc := range []struct {
			name     string
			chainLen int
			rec      func(chain []core.AuditRecord) core.AuditRecord
		}{
			{"stale head", 3, func(c []core.AuditRecord) core.AuditRecord { return core.Link(intruder(0, nil), HeadOf(c[1])) }},
			{"sequence ahead", 3, func(c []core.AuditRecord) core.AuditRecord { return intruder(5, c[2].Hash) }},
			{"right sequence, wrong previous hash", 3, func(c []core.AuditRecord) core.AuditRecord { return intruder(4, c[1].Hash) }},
			{"right sequence, no previous hash", 3, func(c []core.AuditRecord) core.AuditRecord { return intruder(4, nil) }},
			{"first record again", 3, func(c []core.AuditRecord) core.AuditRecord { return core.Link(intruder(0, nil), core.ChainHead{}) }},
			{"sequence zero", 3, func(c []core.AuditRecord) core.AuditRecord { return intruder(0, nil) }},
			{"empty chain, sequence 2", 0, func(c []core.AuditRecord) core.AuditRecord { return intruder(2, nil) }},
			{"empty chain, previous hash set", 0, func(c []core.AuditRecord) core.AuditRecord { return intruder(1, Digest("x")) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, h)
				chain := appendChain(t, s, "pat-1", tc.chainLen, nil)
				var head core.ChainHead
				if len(chain) > 0 {
					head = HeadOf(chain[len(chain)-1])
				}
				err := s.AppendAudit(ctx(t), tc.rec(chain))
				var moved *core.HeadMismatchError
				if !errors.As(err, &moved) {
					t.Fatalf("AppendAudit: got %v, want *core.HeadMismatchError", err)
				}
				if moved.PatientID != "pat-1" {
					t.Errorf("HeadMismatchError.PatientID: got %q, want %q", moved.PatientID, "pat-1")
				}
				if diff := cmp.Diff(head, moved.Current, cmpOpts); diff != "" {
					t.Errorf("HeadMismatchError.Current mismatch (-want +got):\n%s", diff)
				}
				// Nothing was written: not the chain, the head or the index.
				wantHead(t, s, "pat-1", head)
				wantChain(t, s, "pat-1", chain)
				recs, _, err := s.ListAuditByActor(ctx(t), "dr-intruder", core.Page{Limit: 10})
				Must(t, "ListAuditByActor", err)
				if len(recs) != 0 {
					t.Errorf("ListAuditByActor(dr-intruder): got %d records, want none", len(recs))
				}
			})
		}
	})

	t.Run("ListAudit", func(t *testing.T) {
		s := newStore(t, h)
		chain := appendChain(t, s, "pat-1", 7, nil)
		// Chains whose keys start like pat-1's must never leak into its list.
		appendChain(t, s, "pat-10", 2, nil)
		appendChain(t, s, "pat-", 1, nil)
		reversed := slices.Clone(chain)
		slices.Reverse(reversed)
		for _, tc := range []struct {
			name        string
			newestFirst bool
			limit       int
			wantSeqs    [][]uint64
			want        []core.AuditRecord
		}{
			{"ascending", false, 3, [][]uint64{{1, 2, 3}, {4, 5, 6}, {7}}, chain},
			{"newest first", true, 3, [][]uint64{{7, 6, 5}, {4, 3, 2}, {1}}, reversed},
			{"ascending, one page", false, 50, [][]uint64{{1, 2, 3, 4, 5, 6, 7}}, chain},
			{"newest first, limit 1", true, 1, [][]uint64{{7}, {6}, {5}, {4}, {3}, {2}, {1}}, reversed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pages := listChain(t, s, "pat-1", tc.newestFirst, tc.limit)
				if diff := cmp.Diff(tc.wantSeqs, seqs(pages)); diff != "" {
					t.Errorf("sequences of the pages mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want, Flatten(pages), cmpOpts); diff != "" {
					t.Errorf("listed records mismatch (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("ListAuditByActor", func(t *testing.T) {
		s := newStore(t, h)
		// Three chains appended one after the other, with times interleaved
		// across them, so that time order is not insertion order.
		patients := []string{"pat-1", "pat-2", "pat-3"}
		actors := []string{"dr-a", "dr-b", "dr-a", "dr-", "dr-a10", "dr-a"}
		var all []core.AuditRecord
		for p, patient := range patients {
			all = append(all, appendChain(t, s, patient, 6, func(i int, r *core.AuditRecord) {
				k := (i-1)*len(patients) + p // position in time order
				r.At = t0.Add(time.Duration(k)*time.Minute + time.Duration(k))
				r.ActorID = actors[(i-1)%len(actors)]
			})...)
		}
		for _, actor := range []string{"dr-a", "dr-b", "dr-", "dr-a10", "dr-nobody"} {
			t.Run(actor, func(t *testing.T) {
				var want []core.AuditRecord
				for _, r := range all {
					if r.ActorID == actor {
						want = append(want, r)
					}
				}
				slices.SortFunc(want, func(a, b core.AuditRecord) int { return b.At.Compare(a.At) })
				pages := Collect(t, "ListAuditByActor "+actor, 2, func(pg core.Page) ([]core.AuditRecord, string, error) {
					return s.ListAuditByActor(ctx(t), actor, pg)
				})
				if diff := cmp.Diff(want, Flatten(pages), cmpOpts); diff != "" {
					t.Errorf("ListAuditByActor(%s) mismatch (-want +got):\n%s", actor, diff)
				}
			})
		}
	})

	t.Run("MalformedCursor", func(t *testing.T) {
		s := newStore(t, h)
		createPhotos(t, s, "pat-1", 2)
		appendChain(t, s, "pat-1", 2, nil)
		photoCursor := firstCursor(t, "ListPhotos", photoLister(t, s, "pat-1"))
		chainCursor := firstCursor(t, "ListAudit", chainLister(t, s, "pat-1", false))
		actorCursor := firstCursor(t, "ListAuditByActor", actorLister(t, s, "dr-a"))
		listChain, listChainNewest := chainLister(t, s, "pat-1", false), chainLister(t, s, "pat-1", true)
		listActor := actorLister(t, s, "dr-a")
		wantCursorsRefused(t, []refusedCursor{
			{"ListAudit, not base64", listChain, "%%% not a cursor"},
			{"ListAudit newest first, not base64", listChainNewest, "%%% not a cursor"},
			{"ListAudit, photo cursor", listChain, photoCursor},
			{"ListAudit, actor cursor", listChain, actorCursor},
			{"ListAuditByActor, not base64", listActor, "%%% not a cursor"},
			{"ListAuditByActor, photo cursor", listActor, photoCursor},
			{"ListAuditByActor, chain cursor", listActor, chainCursor},
		})
	})
}
