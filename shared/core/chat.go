package core

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ChatContentTypes are the image types a chat image may have.
var ChatContentTypes = []string{"image/jpeg", "image/png", "image/heic", "image/heif", "image/webp", "image/gif"}

// MaxProfessionals caps the professionals of one appointment.
const MaxProfessionals = 20

// AppointmentInput is a clinic's registration of an appointment.
type AppointmentInput struct {
	PatientID       string
	ProfessionalIDs []string
	StartsAt        time.Time
	EndsAt          time.Time
}

// RegisterAppointment creates or updates an appointment (PUT semantics).
// Appointment ids are scoped to the clinic: another clinic's appointment with
// the same id is another appointment, and the answer (201 for the first PUT
// of the clinic, 200 after) says nothing about it. Once the appointment has
// chat images its participants are fixed (409 conflict on a change), so that
// every image's participant list stays exact.
func (s *Service) RegisterAppointment(ctx context.Context, c Caller, id string, in AppointmentInput) (Appointment, bool, error) {
	if err := s.requireRole(c, RoleClinic); err != nil {
		return Appointment{}, false, err
	}
	if !ValidExternalID(id) {
		return Appointment{}, false, ErrInvalid("appointment_id must be 1-128 characters of letters, digits and ._:@-")
	}
	if !ValidExternalID(in.PatientID) {
		return Appointment{}, false, ErrInvalid("patient_id is malformed")
	}
	if ReservedID(in.PatientID) {
		return Appointment{}, false, ErrInvalid("patient_id is reserved for the service")
	}
	if len(in.ProfessionalIDs) == 0 || len(in.ProfessionalIDs) > MaxProfessionals {
		return Appointment{}, false, ErrInvalid("professional_ids must list 1 to %d ids", MaxProfessionals)
	}
	for i, p := range in.ProfessionalIDs {
		switch {
		case !ValidExternalID(p):
			return Appointment{}, false, ErrInvalid("professional_ids[%d] is malformed", i)
		case ReservedID(p):
			return Appointment{}, false, ErrInvalid("professional_ids[%d] is reserved for the service", i)
		case p == in.PatientID:
			return Appointment{}, false, ErrInvalid("the patient cannot also be a professional of the appointment")
		case slices.Contains(in.ProfessionalIDs[:i], p):
			return Appointment{}, false, ErrInvalid("professional_ids[%d] is listed twice", i)
		}
	}
	if in.StartsAt.IsZero() || in.EndsAt.IsZero() || !in.EndsAt.After(in.StartsAt) {
		return Appointment{}, false, ErrInvalid("ends_at must be after starts_at")
	}
	// Each registration goes into the patient's chain.
	if err := s.limit(ctx, s.cfg.Limits.Appointments, "registrations of this patient's appointments", "appointment", c.ID, in.PatientID); err != nil {
		return Appointment{}, false, err
	}
	now := s.now()
	a := Appointment{
		ID:              id,
		ClinicID:        c.ID,
		PatientID:       in.PatientID,
		ProfessionalIDs: slices.Clone(in.ProfessionalIDs),
		StartsAt:        in.StartsAt.UTC(),
		EndsAt:          in.EndsAt.UTC(),
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	created, err := s.store.PutAppointment(ctx, a)
	if err != nil {
		return Appointment{}, false, fmt.Errorf("register appointment %s: %w", id, err)
	}
	if err := s.record(ctx, c, a.PatientID, AuditAppointmentRegister, "appointment", id, nil); err != nil {
		return Appointment{}, false, err
	}
	return a, created, nil
}

// ChatUploadInput is a participant's request to send an image.
type ChatUploadInput struct {
	AppointmentID string
	// ClinicID is optional: it names the clinic of the appointment when the
	// caller takes part in appointments of several clinics with this id.
	ClinicID    string
	ContentType string
	Size        int64
	SHA256      []byte
}

// ChatUpload is a staged chat image and how to upload it.
type ChatUpload struct {
	Image  ChatImage
	Upload Upload
}

// chatNotFound is the one answer a non-participant gets, whether or not the
// image or appointment exists.
func chatNotFound() error { return ErrNotFound("chat image not found") }

// CreateChatUpload stages a chat image in an appointment the caller takes part in.
func (s *Service) CreateChatUpload(ctx context.Context, c Caller, in ChatUploadInput) (ChatUpload, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return ChatUpload{}, err
	}
	if !ValidExternalID(in.AppointmentID) {
		return ChatUpload{}, ErrInvalid("appointment_id is malformed")
	}
	if err := s.validUpload(in.ContentType, ChatContentTypes, in.Size, in.SHA256); err != nil {
		return ChatUpload{}, err
	}
	if in.ClinicID != "" && !ValidExternalID(in.ClinicID) {
		return ChatUpload{}, ErrInvalid("clinic_id is malformed")
	}
	a, err := s.participantAppointment(ctx, c, in.AppointmentID, in.ClinicID)
	if err != nil {
		return ChatUpload{}, err
	}
	// Each image is stored and, once finalized, recorded in the patient's
	// chain: one participant cannot fill an appointment without bound.
	if err := s.limit(ctx, s.cfg.Limits.ChatUploads, "chat images in this appointment", "chat", c.ID, a.ClinicID, a.ID); err != nil {
		return ChatUpload{}, err
	}
	now := s.now()
	img := ChatImage{
		ID:              NewID("ci"),
		AppointmentID:   a.ID,
		ClinicID:        a.ClinicID,
		PatientID:       a.PatientID,
		UploaderID:      c.ID,
		Participants:    a.Participants(),
		ContentType:     in.ContentType,
		Size:            in.Size,
		SHA256:          in.SHA256,
		Status:          StatusPending,
		CreatedAt:       now,
		UpdatedAt:       now,
		UploadExpiresAt: now.Add(s.cfg.UploadTTL),
	}
	up, err := s.blobs.PresignPut(ctx, img.ObjectKey(), img.Size, img.SHA256, img.ContentType, s.cfg.UploadTTL)
	if err != nil {
		return ChatUpload{}, fmt.Errorf("presign chat image %s: %w", img.ID, err)
	}
	if err := s.store.CreateChatImage(ctx, img); err != nil {
		return ChatUpload{}, fmt.Errorf("create chat image %s: %w", img.ID, err)
	}
	return ChatUpload{Image: img, Upload: up}, nil
}

// participantAppointment resolves the appointment id that a participant
// names (chat-upload, list-chat-images): among every clinic's appointments
// with this id, the ones the caller takes part in, and of those the one of
// clinicID when it is given. None is the same 404 whether or not other
// clinics hold the id, which is never told; two or more (the caller takes
// part in appointments of several clinics with this id, and gave no
// clinic_id) is 409, which only someone who takes part in both can get.
func (s *Service) participantAppointment(ctx context.Context, c Caller, id, clinicID string) (Appointment, error) {
	all, err := s.store.FindAppointments(ctx, id)
	if err != nil {
		return Appointment{}, fmt.Errorf("find appointment %s: %w", id, err)
	}
	// Only the caller's own appointments count: what other clinics hold
	// under this id is never told.
	var mine []Appointment
	for _, a := range all {
		if slices.Contains(a.Participants(), c.ID) && (clinicID == "" || a.ClinicID == clinicID) {
			mine = append(mine, a)
		}
	}
	switch {
	case len(mine) == 0:
		return Appointment{}, appointmentNotFound()
	case len(mine) > 1:
		return Appointment{}, ErrConflict("you take part in appointments of several clinics with this id: give clinic_id")
	}
	return mine[0], nil
}

// appointmentNotFound is the one answer to everyone who is not a
// participant of an appointment, whether or not it exists.
func appointmentNotFound() error { return ErrNotFound("appointment not found") }

// visibleChatImage loads an image and checks that the caller takes part in its
// appointment; anything else is the same not-found.
func (s *Service) visibleChatImage(ctx context.Context, c Caller, id string) (ChatImage, error) {
	if !ValidID("ci", id) {
		return ChatImage{}, ErrInvalid("image id is malformed")
	}
	img, err := s.store.GetChatImage(ctx, id)
	if IsKind(err, KindNotFound) {
		return ChatImage{}, chatNotFound()
	}
	if err != nil {
		return ChatImage{}, fmt.Errorf("get chat image %s: %w", id, err)
	}
	return img, nil
}

// FinalizeChatImage checks the uploaded object and marks the image READY. Only
// its uploader may finalize it.
func (s *Service) FinalizeChatImage(ctx context.Context, c Caller, id string) (ChatImage, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return ChatImage{}, err
	}
	img, err := s.visibleChatImage(ctx, c, id)
	if err != nil {
		return ChatImage{}, err
	}
	now := s.now()
	if !img.IsParticipant(c.ID) || img.Abandoned(now) {
		return ChatImage{}, chatNotFound()
	}
	if img.UploaderID != c.ID {
		return ChatImage{}, ErrForbidden("only the uploader may finalize a chat image")
	}
	key := img.ObjectKey()
	info, err := s.blobs.Stat(ctx, key)
	if IsKind(err, KindNotFound) {
		return ChatImage{}, ErrConflict("the image's upload has not been received")
	}
	if err != nil {
		return ChatImage{}, fmt.Errorf("stat chat image %s: %w", id, err)
	}
	img, err = s.store.MarkChatImageReady(ctx, id, info, now)
	if IsKind(err, KindConflict) {
		if derr := s.blobs.Delete(ctx, key); derr != nil {
			return ChatImage{}, fmt.Errorf("delete mismatched chat image %s: %w", id, derr)
		}
		return ChatImage{}, ErrConflict("the uploaded object does not match the declared size and sha256; start a new upload")
	}
	if err != nil {
		return ChatImage{}, notFoundAs(fmt.Errorf("finalize chat image %s: %w", id, err), "chat image")
	}
	if err := s.record(ctx, c, img.PatientID, AuditChatImageUpload, "chat_image", id, nil); err != nil {
		return ChatImage{}, err
	}
	return img, nil
}

// ChatImageURL returns a signed URL for a READY chat image, valid for the
// configured chat URL lifetime, to a participant of its appointment. Every
// fetch, granted or denied, is appended to the patient's audit chain before the
// answer leaves: no audit, no URL. A non-participant gets the not-found an
// unknown id gets, even when the record cannot be appended, and their
// denials on one patient's chain are recorded up to the denied-record limit
// per window (recordDenial).
func (s *Service) ChatImageURL(ctx context.Context, c Caller, id string) (SignedURL, error) {
	if err := s.requireRole(c, RolePatient, RoleProfessional); err != nil {
		return SignedURL{}, err
	}
	img, err := s.visibleChatImage(ctx, c, id)
	if err != nil {
		return SignedURL{}, err
	}
	if !img.IsParticipant(c.ID) {
		return SignedURL{}, s.denyUnseen(ctx, c, img.PatientID, AuditChatImageSignedURL, "chat_image", id, chatNotFound())
	}
	now := s.now()
	switch {
	case img.Abandoned(now):
		return SignedURL{}, chatNotFound()
	case img.Status != StatusReady:
		return SignedURL{}, ErrConflict("the image has not been finalized")
	}
	u, err := s.blobs.PresignGet(ctx, img.ObjectKey(), s.cfg.ChatURLTTL)
	if err != nil {
		return SignedURL{}, fmt.Errorf("presign chat image %s: %w", id, err)
	}
	if err := s.record(ctx, c, img.PatientID, AuditChatImageSignedURL, "chat_image", id, nil); err != nil {
		return SignedURL{}, err
	}
	return u, nil
}
