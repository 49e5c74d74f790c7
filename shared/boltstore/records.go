package boltstore

import (
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The stored JSON shapes of the items, one per entity, with the attribute
// names the DynamoDB items use. Times are stored in UTC at nanosecond
// precision (encoding/json writes RFC 3339 with nanoseconds).

type photoRecord struct {
	OwnerID         string    `json:"owner_id"`
	ID              string    `json:"photo_id"`
	Angle           string    `json:"angle"`
	ContentType     string    `json:"content_type"`
	Size            int64     `json:"size"`
	SHA256          []byte    `json:"sha256"`
	WrappedKeyID    string    `json:"wrapped_key_id"`
	WrappedKey      []byte    `json:"wrapped_key"`
	Metadata        []byte    `json:"metadata"`
	Status          string    `json:"status"`
	CreatedAt       time.Time `json:"created_at"`
	UploadExpiresAt time.Time `json:"upload_expires_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func photoRecordOf(p core.Photo) photoRecord {
	return photoRecord{
		OwnerID:         p.OwnerID,
		ID:              p.ID,
		Angle:           string(p.Angle),
		ContentType:     p.ContentType,
		Size:            p.Size,
		SHA256:          p.SHA256,
		WrappedKeyID:    p.WrappedKey.KeyID,
		WrappedKey:      p.WrappedKey.Ciphertext,
		Metadata:        p.Metadata,
		Status:          string(p.Status),
		CreatedAt:       p.CreatedAt.UTC(),
		UploadExpiresAt: p.UploadExpiresAt.UTC(),
		UpdatedAt:       p.UpdatedAt.UTC(),
	}
}

func (r photoRecord) photo() core.Photo {
	return core.Photo{
		ID:              r.ID,
		OwnerID:         r.OwnerID,
		Angle:           core.Angle(r.Angle),
		ContentType:     r.ContentType,
		Size:            r.Size,
		SHA256:          r.SHA256,
		WrappedKey:      core.WrappedKey{KeyID: r.WrappedKeyID, Ciphertext: r.WrappedKey},
		Metadata:        r.Metadata,
		Status:          core.UploadStatus(r.Status),
		CreatedAt:       r.CreatedAt.UTC(),
		UploadExpiresAt: r.UploadExpiresAt.UTC(),
		UpdatedAt:       r.UpdatedAt.UTC(),
	}
}

type appointmentRecord struct {
	ID              string    `json:"appointment_id"`
	ClinicID        string    `json:"clinic_id"`
	PatientID       string    `json:"patient_id"`
	ProfessionalIDs []string  `json:"professional_ids"`
	StartsAt        time.Time `json:"starts_at"`
	EndsAt          time.Time `json:"ends_at"`
	ImageCount      int       `json:"image_count"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func appointmentRecordOf(a core.Appointment) appointmentRecord {
	return appointmentRecord{
		ID:              a.ID,
		ClinicID:        a.ClinicID,
		PatientID:       a.PatientID,
		ProfessionalIDs: a.ProfessionalIDs,
		StartsAt:        a.StartsAt.UTC(),
		EndsAt:          a.EndsAt.UTC(),
		ImageCount:      a.ImageCount,
		CreatedAt:       a.CreatedAt.UTC(),
		UpdatedAt:       a.UpdatedAt.UTC(),
	}
}

func (r appointmentRecord) appointment() core.Appointment {
	return core.Appointment{
		ID:              r.ID,
		ClinicID:        r.ClinicID,
		PatientID:       r.PatientID,
		ProfessionalIDs: r.ProfessionalIDs,
		StartsAt:        r.StartsAt.UTC(),
		EndsAt:          r.EndsAt.UTC(),
		ImageCount:      r.ImageCount,
		CreatedAt:       r.CreatedAt.UTC(),
		UpdatedAt:       r.UpdatedAt.UTC(),
	}
}

type chatImageRecord struct {
	ID              string    `json:"image_id"`
	AppointmentID   string    `json:"appointment_id"`
	ClinicID        string    `json:"clinic_id"`
	PatientID       string    `json:"patient_id"`
	UploaderID      string    `json:"uploader_id"`
	Participants    []string  `json:"participants"`
	ContentType     string    `json:"content_type"`
	Size            int64     `json:"size"`
	SHA256          []byte    `json:"sha256"`
	Status          string    `json:"status"`
	CreatedAt       time.Time `json:"created_at"`
	UploadExpiresAt time.Time `json:"upload_expires_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func chatImageRecordOf(c core.ChatImage) chatImageRecord {
	return chatImageRecord{
		ID:              c.ID,
		AppointmentID:   c.AppointmentID,
		ClinicID:        c.ClinicID,
		PatientID:       c.PatientID,
		UploaderID:      c.UploaderID,
		Participants:    c.Participants,
		ContentType:     c.ContentType,
		Size:            c.Size,
		SHA256:          c.SHA256,
		Status:          string(c.Status),
		CreatedAt:       c.CreatedAt.UTC(),
		UploadExpiresAt: c.UploadExpiresAt.UTC(),
		UpdatedAt:       c.UpdatedAt.UTC(),
	}
}

func (r chatImageRecord) chatImage() core.ChatImage {
	return core.ChatImage{
		ID:              r.ID,
		AppointmentID:   r.AppointmentID,
		ClinicID:        r.ClinicID,
		PatientID:       r.PatientID,
		UploaderID:      r.UploaderID,
		Participants:    r.Participants,
		ContentType:     r.ContentType,
		Size:            r.Size,
		SHA256:          r.SHA256,
		Status:          core.UploadStatus(r.Status),
		CreatedAt:       r.CreatedAt.UTC(),
		UploadExpiresAt: r.UploadExpiresAt.UTC(),
		UpdatedAt:       r.UpdatedAt.UTC(),
	}
}

// auditRecord is an audit record as stored. Version, PhotoID, ShareID and
// Device are omitted when empty, so that a version 1 record is stored
// exactly as before versions existed.
type auditRecord struct {
	Version      int       `json:"v,omitempty"`
	PatientID    string    `json:"patient_id"`
	Seq          uint64    `json:"seq"`
	At           time.Time `json:"at"`
	ActorID      string    `json:"actor_id"`
	ActorRole    string    `json:"actor_role"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason"`
	SourceIP     string    `json:"source_ip"`
	UserAgent    string    `json:"user_agent"`
	RequestID    string    `json:"request_id"`
	PhotoID      string    `json:"photo_id,omitempty"`
	ShareID      string    `json:"share_id,omitempty"`
	Device       string    `json:"device,omitempty"`
	PrevHash     []byte    `json:"prev_hash"`
	Hash         []byte    `json:"hash"`
}

func auditRecordOf(a core.AuditRecord) auditRecord {
	return auditRecord{
		Version:      a.Version,
		PatientID:    a.PatientID,
		Seq:          a.Seq,
		At:           a.At.UTC(),
		ActorID:      a.ActorID,
		ActorRole:    string(a.ActorRole),
		Action:       string(a.Action),
		ResourceType: a.ResourceType,
		ResourceID:   a.ResourceID,
		Outcome:      a.Outcome,
		Reason:       a.Reason,
		SourceIP:     a.SourceIP,
		UserAgent:    a.UserAgent,
		RequestID:    a.RequestID,
		PhotoID:      a.PhotoID,
		ShareID:      a.ShareID,
		Device:       a.Device,
		PrevHash:     a.PrevHash,
		Hash:         a.Hash,
	}
}

func (r auditRecord) record() core.AuditRecord {
	return core.AuditRecord{
		Version:      r.Version,
		PatientID:    r.PatientID,
		Seq:          r.Seq,
		At:           r.At.UTC(),
		ActorID:      r.ActorID,
		ActorRole:    core.Role(r.ActorRole),
		Action:       core.AuditAction(r.Action),
		ResourceType: r.ResourceType,
		ResourceID:   r.ResourceID,
		Outcome:      r.Outcome,
		Reason:       r.Reason,
		SourceIP:     r.SourceIP,
		UserAgent:    r.UserAgent,
		RequestID:    r.RequestID,
		PhotoID:      r.PhotoID,
		ShareID:      r.ShareID,
		Device:       r.Device,
		PrevHash:     r.PrevHash,
		Hash:         r.Hash,
	}
}

// headRecord is the head item of an audit partition: the last link.
type headRecord struct {
	Seq  uint64 `json:"seq"`
	Hash []byte `json:"hash"`
}
