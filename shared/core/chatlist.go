package core

import (
	"context"
	"fmt"
	"slices"
)

// appointmentNotFound is the one answer of ListChatImages to everyone who
// is not a participant, whether or not the appointment exists.
func appointmentNotFound() error { return ErrNotFound("appointment not found") }

// ListChatImages returns one page of an appointment's READY chat images,
// newest first, to a participant of the appointment, under the participant
// rule of ChatImageURL: anyone else gets the same 404 as for an appointment
// that does not exist, and their attempt on an existing appointment is
// recorded, denied, in its patient's chain (an unknown id belongs to no
// chain). Listing hands out no image: each image's URL is a ChatImageURL
// call of its own, audited there, so a granted list is not recorded.
// PENDING images (being uploaded, or abandoned) are not listed: the
// uploader's app shows its own upload until it is finalized, and the others
// see it from then on.
func (s *Service) ListChatImages(ctx context.Context, c Caller, appointmentID string, page Page) ([]ChatImage, string, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return nil, "", err
	}
	if !ValidExternalID(appointmentID) {
		return nil, "", ErrInvalid("appointment_id is malformed")
	}
	page, err := pageOf(page)
	if err != nil {
		return nil, "", err
	}
	a, err := s.store.GetAppointment(ctx, appointmentID)
	if IsKind(err, KindNotFound) {
		return nil, "", appointmentNotFound()
	}
	if err != nil {
		return nil, "", fmt.Errorf("get appointment %s: %w", appointmentID, err)
	}
	if !slices.Contains(a.Participants(), c.ID) {
		denied := appointmentNotFound()
		if aerr := s.record(ctx, c, a.PatientID, "chat_image.list", "appointment", a.ID, denied); aerr != nil {
			return nil, "", aerr
		}
		return nil, "", denied
	}
	imgs, next, err := s.store.ListChatImages(ctx, a.ID, page)
	if err != nil {
		return nil, "", fmt.Errorf("list chat images of %s: %w", a.ID, err)
	}
	// The store lists READY images of this appointment, whose participants
	// are fixed once it has images; the checks below hold by construction
	// and are kept so that no change elsewhere can widen what a caller sees.
	imgs = slices.DeleteFunc(imgs, func(img ChatImage) bool {
		return img.Status != StatusReady || img.AppointmentID != a.ID || !img.IsParticipant(c.ID)
	})
	return imgs, next, nil
}
