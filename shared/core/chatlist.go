package core

import (
	"context"
	"fmt"
	"slices"
)

// ListChatImages returns one page of an appointment's READY chat images,
// newest first, to a participant of the appointment. The appointment is
// resolved as CreateChatUpload resolves it (participantAppointment):
// appointment ids are scoped to their clinic, clinicID names the clinic
// and may be "" unless the caller takes part in appointments of several
// clinics with this id (409). Anyone who is not a participant gets the
// same 404 as for an appointment that does not exist, and nothing is
// recorded: as for chat-upload, appointment ids are the clinics' own and
// may be guessed, so a probe tells the patient nothing, and the list hands
// out no image (each image's URL is a ChatImageURL call of its own,
// recorded there, strangers' requests included). A granted list is not
// recorded either. PENDING images (being uploaded, or abandoned) are not
// listed: the uploader's app shows its own upload until it is finalized,
// and the others see it from then on. A page's cursor is the caller's
// (storekeys.ChatImagesList).
func (s *Service) ListChatImages(ctx context.Context, c Caller, appointmentID, clinicID string, page Page) ([]ChatImage, string, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return nil, "", err
	}
	if !ValidExternalID(appointmentID) {
		return nil, "", ErrInvalid("appointment_id is malformed")
	}
	if clinicID != "" && !ValidExternalID(clinicID) {
		return nil, "", ErrInvalid("clinic_id is malformed")
	}
	page, err := pageOf(page)
	if err != nil {
		return nil, "", err
	}
	a, err := s.participantAppointment(ctx, c, appointmentID, clinicID)
	if err != nil {
		return nil, "", err
	}
	imgs, next, err := s.store.ListChatImages(ctx, a.ClinicID, a.ID, c.ID, page)
	if err != nil {
		return nil, "", fmt.Errorf("list chat images of %s: %w", a.ID, err)
	}
	// The store lists READY images of this appointment, whose participants
	// are fixed once it has images; the checks below hold by construction
	// and are kept so that no change elsewhere can widen what a caller sees.
	imgs = slices.DeleteFunc(imgs, func(img ChatImage) bool {
		return img.Status != StatusReady || img.AppointmentID != a.ID || img.ClinicID != a.ClinicID || !img.IsParticipant(c.ID)
	})
	return imgs, next, nil
}
