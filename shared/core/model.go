package core

import (
	"slices"
	"time"
)

// Role is the group a caller belongs to (a Cognito group in AWS, a claim of the
// dev token locally).
type Role string

// The roles.
const (
	RolePatient      Role = "patient"
	RoleProfessional Role = "professional"
	RoleClinic       Role = "clinic"
)

// Valid reports whether r is a role a caller may have. RoleSystem, the role
// of the service's own actors, is not: no token can carry it.
func (r Role) Valid() bool {
	return r == RolePatient || r == RoleProfessional || r == RoleClinic
}

// Caller is the authenticated party of a request, with the facts the audit trail
// records about it. ID is the token's subject.
type Caller struct {
	ID        string
	Role      Role
	SourceIP  string
	UserAgent string
	RequestID string
}

// Angle is the body region a photo shows.
type Angle string

// Angles lists every valid angle, in the order clients show them.
var Angles = []Angle{"VERTEX", "HAIRLINE", "TEMPLES", "CROWN", "FRONT", "BACK", "LEFT", "RIGHT", "OTHER"}

// Valid reports whether a is one of Angles.
func (a Angle) Valid() bool { return slices.Contains(Angles, a) }

// UploadStatus is the state of a staged upload.
type UploadStatus string

// Upload states: an upload is PENDING until finalize has checked the object's
// size and SHA-256, then READY.
const (
	StatusPending UploadStatus = "pending"
	StatusReady   UploadStatus = "ready"
)

// Photo is a patient's end-to-end encrypted photo. The server holds only the
// ciphertext (in the blob store), the data key wrapped by the key ring under the
// context {photo, owner}, and client-encrypted metadata it cannot read.
type Photo struct {
	ID              string
	OwnerID         string
	Angle           Angle
	ContentType     string // type of the plaintext image, for the client after decryption
	Size            int64  // bytes of the ciphertext
	SHA256          []byte // of the ciphertext
	WrappedKey      WrappedKey
	Metadata        []byte // client-encrypted, opaque to the server
	Status          UploadStatus
	CreatedAt       time.Time
	UploadExpiresAt time.Time // a PENDING photo past this is abandoned
	UpdatedAt       time.Time
}

// ObjectKey is where the photo's ciphertext lives in the blob store. It holds
// ids only, never PHI, and is derivable from the request so that finalize can
// check the object before touching the store.
func (p Photo) ObjectKey() string { return PhotoObjectKey(p.OwnerID, p.ID) }

// PhotoObjectKey is the blob key of photo id owned by owner.
func PhotoObjectKey(owner, id string) string { return "photos/" + owner + "/" + id }

// Abandoned reports whether a pending upload's window has passed at now.
func (p Photo) Abandoned(now time.Time) bool {
	return p.Status == StatusPending && !now.Before(p.UploadExpiresAt)
}

// EncryptionContext is the context the photo's data key is wrapped under: ids
// only, never PHI (ARCHITECTURE §2.7).
func (p Photo) EncryptionContext() map[string]string {
	return map[string]string{"photo": p.ID, "owner": p.OwnerID}
}

// Appointment is a telemedicine appointment registered by a clinic. Its
// participants (the patient and the professionals) may exchange chat images.
type Appointment struct {
	ID              string
	ClinicID        string
	PatientID       string
	ProfessionalIDs []string
	StartsAt        time.Time
	EndsAt          time.Time
	ImageCount      int // chat images created; participants are fixed once it is > 0
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Participants returns the patient followed by the professionals.
func (a Appointment) Participants() []string {
	return append([]string{a.PatientID}, a.ProfessionalIDs...)
}

// SameParticipants reports whether a and b list the same patient and the same
// set of professionals.
func (a Appointment) SameParticipants(b Appointment) bool {
	if a.PatientID != b.PatientID || len(a.ProfessionalIDs) != len(b.ProfessionalIDs) {
		return false
	}
	x, y := slices.Clone(a.ProfessionalIDs), slices.Clone(b.ProfessionalIDs)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// ChatImage is an image sent in an appointment's chat. It is encrypted at rest by
// the blob store (SSE-KMS in AWS), not end to end. Participants is the
// appointment's participant list when the image was created; it cannot drift
// because an appointment's participants are fixed once it has images.
type ChatImage struct {
	ID              string
	AppointmentID   string
	ClinicID        string // of the appointment: appointment ids are scoped to their clinic
	PatientID       string
	UploaderID      string
	Participants    []string
	ContentType     string
	Size            int64
	SHA256          []byte
	Status          UploadStatus
	CreatedAt       time.Time
	UploadExpiresAt time.Time
	UpdatedAt       time.Time
}

// ObjectKey is where the image lives in the blob store.
func (c ChatImage) ObjectKey() string { return "chat/" + c.ID }

// IsParticipant reports whether id may see the image.
func (c ChatImage) IsParticipant(id string) bool { return slices.Contains(c.Participants, id) }

// Abandoned reports whether a pending upload's window has passed at now.
func (c ChatImage) Abandoned(now time.Time) bool {
	return c.Status == StatusPending && !now.Before(c.UploadExpiresAt)
}

// WrappedKey is a data key encrypted by the key ring. KeyID names the wrapping
// key (a KMS key ARN in AWS, the master key's id locally).
type WrappedKey struct {
	KeyID      string
	Ciphertext []byte
}

// BlobInfo is what the blob store knows about a stored object.
type BlobInfo struct {
	Size   int64
	SHA256 []byte
}

// Upload tells a client how to send an object: exactly this method, URL and
// headers, before ExpiresAt.
type Upload struct {
	Method    string
	URL       string
	Headers   map[string]string
	ExpiresAt time.Time
}

// SignedURL is a short-lived URL that reads one object.
type SignedURL struct {
	URL       string
	ExpiresAt time.Time
}

// Page asks for one page of a list. Cursor is opaque to clients; the empty
// cursor starts at the beginning.
type Page struct {
	Cursor string
	Limit  int
}
