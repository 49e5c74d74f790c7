package core

import (
	"context"
	"fmt"
)

// AccessHistory returns one page of the audit trail the caller may read: a
// patient's whole chain, newest first; a professional's own actions, newest
// first.
func (s *Service) AccessHistory(ctx context.Context, c Caller, page Page) ([]AuditRecord, string, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return nil, "", err
	}
	page, err := pageOf(page)
	if err != nil {
		return nil, "", err
	}
	var recs []AuditRecord
	var next string
	if c.Role == RolePatient {
		recs, next, err = s.store.ListAudit(ctx, c.ID, true, page)
	} else {
		recs, next, err = s.store.ListAuditByActor(ctx, c.ID, page)
	}
	if err != nil {
		return nil, "", fmt.Errorf("access history of %s: %w", c.ID, err)
	}
	if c.Role != RolePatient {
		// A denied attempt is in the chain of the patient whose resource it
		// was; showing that patient's id to the actor would tell them whose
		// resource it was. The hashes go with it: they cover the patient id,
		// and would confirm a guess of it. (The store lists only the denials
		// whose precise reason the actor was told: AuditRecord.InActorHistory.)
		for i := range recs {
			if recs[i].Outcome != OutcomeSuccess {
				recs[i].PatientID, recs[i].PrevHash, recs[i].Hash = "", nil, nil
			}
		}
	}
	return recs, next, nil
}

// VerifyAudit recomputes the audit trail the caller may read. For a patient it
// recomputes the whole chain (hashes, links, sequence, head); for a
// professional, whose records are spread over patients' chains, it recomputes
// the hash of each of their own records.
func (s *Service) VerifyAudit(ctx context.Context, c Caller) (AuditVerification, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return AuditVerification{}, err
	}
	if c.Role == RolePatient {
		return VerifyChain(ctx, s.store, c.ID)
	}
	v := AuditVerification{Valid: true}
	page := Page{Limit: MaxPageLimit}
	for {
		recs, next, err := s.store.ListAuditByActor(ctx, c.ID, page)
		if err != nil {
			return AuditVerification{}, fmt.Errorf("verify audit of actor %s: %w", c.ID, err)
		}
		for _, r := range recs {
			if r.ActorID != c.ID || !VerifyRecord(r) {
				v.Valid, v.FirstBadSeq, v.Problem = false, r.Seq, "record hash does not match its content"
				return v, nil
			}
			v.Records++
		}
		if next == "" {
			return v, nil
		}
		page.Cursor = next
	}
}
