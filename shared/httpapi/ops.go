package httpapi

import (
	"context"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi/wire"
)

// Wire views: snake_case JSON, RFC 3339 UTC times, standard base64 for bytes.

type signedURLView struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// healthView is health's answer.
type healthView struct {
	Status string `json:"status"`
}

func (h *Handler) health(ctx context.Context, r request) (int, any, error) {
	if err := h.svc.Health(ctx); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, healthView{"ok"}, nil
}

type uploadPresignBody struct {
	Angle       string `json:"angle"`
	ContentType string `json:"content_type"`
	Size        *int64 `json:"size"`
	SHA256      []byte `json:"sha256"`
	DataKey     []byte `json:"data_key"`
	Metadata    []byte `json:"metadata"`
}

// uploadPresignView is upload-presign's answer.
type uploadPresignView struct {
	PhotoID string      `json:"photo_id"`
	Status  string      `json:"status"`
	Upload  wire.Upload `json:"upload"`
}

func (h *Handler) uploadPresign(ctx context.Context, r request) (int, any, error) {
	var b uploadPresignBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	if b.Size == nil {
		return 0, nil, core.ErrInvalid("size is required")
	}
	up, err := h.svc.PresignPhotoUpload(ctx, r.caller, core.PhotoUploadInput{
		Angle: core.Angle(b.Angle), ContentType: b.ContentType, Size: *b.Size,
		SHA256: b.SHA256, DataKey: b.DataKey, Metadata: b.Metadata,
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, uploadPresignView{up.Photo.ID, string(up.Photo.Status), wire.UploadOf(up.Upload)}, nil
}

// photoStatusView is the answer of finalize-upload and delete-photo.
type photoStatusView struct {
	PhotoID string `json:"photo_id"`
	Status  string `json:"status"`
}

func (h *Handler) finalizeUpload(ctx context.Context, r request) (int, any, error) {
	p, err := h.svc.FinalizePhoto(ctx, r.caller, r.ev.PathParameters["photo_id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, photoStatusView{p.ID, string(p.Status)}, nil
}

type listView[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (h *Handler) listPhotos(ctx context.Context, r request) (int, any, error) {
	page, err := pageParam(r.ev)
	if err != nil {
		return 0, nil, err
	}
	photos, next, err := h.svc.ListPhotos(ctx, r.caller, page)
	if err != nil {
		return 0, nil, err
	}
	out := listView[wire.Photo]{Items: make([]wire.Photo, 0, len(photos)), NextCursor: next}
	for _, p := range photos {
		out.Items = append(out.Items, wire.PhotoOf(p))
	}
	return http.StatusOK, out, nil
}

func (h *Handler) deletePhoto(ctx context.Context, r request) (int, any, error) {
	id := r.ev.PathParameters["photo_id"]
	if err := h.svc.DeletePhoto(ctx, r.caller, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, photoStatusView{id, "deleted"}, nil
}

type appointmentBody struct {
	PatientID       string    `json:"patient_id"`
	ProfessionalIDs []string  `json:"professional_ids"`
	StartsAt        time.Time `json:"starts_at"`
	EndsAt          time.Time `json:"ends_at"`
}

type appointmentView struct {
	AppointmentID   string    `json:"appointment_id"`
	PatientID       string    `json:"patient_id"`
	ProfessionalIDs []string  `json:"professional_ids"`
	StartsAt        time.Time `json:"starts_at"`
	EndsAt          time.Time `json:"ends_at"`
}

func (h *Handler) registerAppointment(ctx context.Context, r request) (int, any, error) {
	var b appointmentBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	a, created, err := h.svc.RegisterAppointment(ctx, r.caller, r.ev.PathParameters["appointment_id"], core.AppointmentInput{
		PatientID: b.PatientID, ProfessionalIDs: b.ProfessionalIDs, StartsAt: b.StartsAt, EndsAt: b.EndsAt,
	})
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return status, appointmentView{a.ID, a.PatientID, a.ProfessionalIDs, a.StartsAt, a.EndsAt}, nil
}

type chatUploadBody struct {
	AppointmentID string `json:"appointment_id"`
	ClinicID      string `json:"clinic_id"` // optional: see core.ChatUploadInput
	ContentType   string `json:"content_type"`
	Size          *int64 `json:"size"`
	SHA256        []byte `json:"sha256"`
}

// ChatImageURL is how the chat app shows an image: an opaque private URL that
// only the signed-url route resolves.
func ChatImageURL(id string) string { return "private://chat-images/" + id }

// chatUploadView is chat-upload's answer.
type chatUploadView struct {
	ImageID string      `json:"image_id"`
	URL     string      `json:"url"`
	Status  string      `json:"status"`
	Upload  wire.Upload `json:"upload"`
}

func (h *Handler) chatUpload(ctx context.Context, r request) (int, any, error) {
	var b chatUploadBody
	if err := decodeJSON(r.ev, &b); err != nil {
		return 0, nil, err
	}
	if b.Size == nil {
		return 0, nil, core.ErrInvalid("size is required")
	}
	up, err := h.svc.CreateChatUpload(ctx, r.caller, core.ChatUploadInput{
		AppointmentID: b.AppointmentID, ClinicID: b.ClinicID, ContentType: b.ContentType, Size: *b.Size, SHA256: b.SHA256,
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, chatUploadView{up.Image.ID, ChatImageURL(up.Image.ID), string(up.Image.Status), wire.UploadOf(up.Upload)}, nil
}

// chatFinalizeView is chat-finalize's answer.
type chatFinalizeView struct {
	ImageID string `json:"image_id"`
	URL     string `json:"url"`
	Status  string `json:"status"`
}

func (h *Handler) chatFinalize(ctx context.Context, r request) (int, any, error) {
	img, err := h.svc.FinalizeChatImage(ctx, r.caller, r.ev.PathParameters["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, chatFinalizeView{img.ID, ChatImageURL(img.ID), string(img.Status)}, nil
}

func (h *Handler) chatSignedURL(ctx context.Context, r request) (int, any, error) {
	u, err := h.svc.ChatImageURL(ctx, r.caller, r.ev.PathParameters["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, signedURLView{u.URL, u.ExpiresAt.UTC()}, nil
}

// auditView is a record as GET /v1/audit shows it: every field its hash
// covers, with v, its canonical version (1 for records written before
// version 2, whose photo_id, share_id and device are always empty), so that
// anyone with the records can recompute the chain.
type auditView struct {
	V            int       `json:"v"`
	PatientID    string    `json:"patient_id"`
	Seq          uint64    `json:"seq"`
	At           time.Time `json:"at"`
	ActorID      string    `json:"actor_id"`
	ActorRole    string    `json:"actor_role"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason,omitempty"`
	SourceIP     string    `json:"source_ip"`
	UserAgent    string    `json:"user_agent"`
	RequestID    string    `json:"request_id"`
	PhotoID      string    `json:"photo_id"`
	ShareID      string    `json:"share_id"`
	Device       string    `json:"device"`
	PrevHash     string    `json:"prev_hash"`
	Hash         string    `json:"hash"`
}

func (h *Handler) accessHistory(ctx context.Context, r request) (int, any, error) {
	page, err := pageParam(r.ev)
	if err != nil {
		return 0, nil, err
	}
	recs, next, err := h.svc.AccessHistory(ctx, r.caller, page)
	if err != nil {
		return 0, nil, err
	}
	out := listView[auditView]{Items: make([]auditView, 0, len(recs)), NextCursor: next}
	for _, a := range recs {
		out.Items = append(out.Items, auditView{
			V: max(a.Version, core.AuditVersion1), PatientID: a.PatientID, Seq: a.Seq, At: a.At.UTC(), ActorID: a.ActorID, ActorRole: string(a.ActorRole),
			Action: string(a.Action), ResourceType: a.ResourceType, ResourceID: a.ResourceID, Outcome: a.Outcome,
			Reason: a.Reason, SourceIP: a.SourceIP, UserAgent: a.UserAgent, RequestID: a.RequestID,
			PhotoID: a.PhotoID, ShareID: a.ShareID, Device: a.Device,
			PrevHash: hex.EncodeToString(a.PrevHash), Hash: hex.EncodeToString(a.Hash),
		})
	}
	return http.StatusOK, out, nil
}

// auditVerificationView is verify-audit's answer.
type auditVerificationView struct {
	Valid       bool   `json:"valid"`
	Records     uint64 `json:"records"`
	HeadSeq     uint64 `json:"head_seq"`
	HeadHash    string `json:"head_hash,omitempty"`
	FirstBadSeq uint64 `json:"first_bad_seq,omitempty"`
	Problem     string `json:"problem,omitempty"`
}

func (h *Handler) verifyAudit(ctx context.Context, r request) (int, any, error) {
	v, err := h.svc.VerifyAudit(ctx, r.caller)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, auditVerificationView{v.Valid, v.Records, v.HeadSeq, hex.EncodeToString(v.HeadHash), v.FirstBadSeq, v.Problem}, nil
}
