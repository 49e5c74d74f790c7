package httpapi

import (
	"context"
	"log/slog"

	"github.com/medshare/medshare/shared/core"
)

// An Operation is the implementation of one route of Routes. NewHandler
// serves every operation; a Lambda function serves one
// (NewOperationHandler), and since it names only that one, the linker
// leaves the others out of its binary, with the service methods, adapter
// calls and SDK operations that only they reach (docs/PERFORMANCE.md,
// "Lambda binaries").
type Operation struct {
	Op  string // the route's Op
	run func(h *Handler, ctx context.Context, r request) (int, any, error)
}

// The operations, one per route, named after the route's Op.
var (
	OpHealth               = Operation{"health", (*Handler).health}
	OpUploadPresign        = Operation{"upload-presign", (*Handler).uploadPresign}
	OpFinalizeUpload       = Operation{"finalize-upload", (*Handler).finalizeUpload}
	OpListPhotos           = Operation{"list-photos", (*Handler).listPhotos}
	OpDeletePhoto          = Operation{"delete-photo", (*Handler).deletePhoto}
	OpPhotoKey             = Operation{"photo-key", (*Handler).photoKey}
	OpRegisterAppointment  = Operation{"register-appointment", (*Handler).registerAppointment}
	OpChatUpload           = Operation{"chat-upload", (*Handler).chatUpload}
	OpChatFinalize         = Operation{"chat-finalize", (*Handler).chatFinalize}
	OpChatSignedURL        = Operation{"chat-signed-url", (*Handler).chatSignedURL}
	OpChatResolve          = Operation{"chat-resolve", (*Handler).chatResolve}
	OpListChatImages       = Operation{"list-chat-images", (*Handler).listChatImages}
	OpCreateSession        = Operation{"create-session", (*Handler).createShare}
	OpListSessions         = Operation{"list-sessions", (*Handler).listShares}
	OpGetSession           = Operation{"get-session", (*Handler).getShare}
	OpRevokeSession        = Operation{"revoke-session", (*Handler).revokeShare}
	OpOpenAccess           = Operation{"open-access", (*Handler).openAccess}
	OpIssueKey             = Operation{"issue-key", (*Handler).issueKey}
	OpSignedURL            = Operation{"signed-url", (*Handler).claimKey}
	OpReportActivity       = Operation{"report-activity", (*Handler).reportActivity}
	OpListNotifications    = Operation{"list-notifications", (*Handler).listNotifications}
	OpMarkNotificationRead = Operation{"mark-notification-read", (*Handler).markNotificationRead}
	OpAccessHistory        = Operation{"access-history", (*Handler).accessHistory}
	OpVerifyAudit          = Operation{"verify-audit", (*Handler).verifyAudit}
)

// Operations lists every operation, in the order of Routes.
func Operations() []Operation {
	return []Operation{
		OpHealth, OpUploadPresign, OpFinalizeUpload, OpListPhotos, OpDeletePhoto, OpPhotoKey,
		OpRegisterAppointment, OpChatUpload, OpChatFinalize, OpChatSignedURL, OpChatResolve, OpListChatImages,
		OpCreateSession, OpListSessions, OpGetSession, OpRevokeSession, OpOpenAccess,
		OpIssueKey, OpSignedURL, OpReportActivity, OpListNotifications,
		OpMarkNotificationRead, OpAccessHistory, OpVerifyAudit,
	}
}

// OperationOf returns the operation of op.
func OperationOf(op string) (Operation, bool) {
	for _, o := range Operations() {
		if o.Op == op {
			return o, true
		}
	}
	return Operation{}, false
}

// NewOperationHandler builds the edge for svc that serves only ops; any
// other operation answers not found. log receives one line per request.
func NewOperationHandler(svc *core.Service, log *slog.Logger, ops ...Operation) *Handler {
	h := &Handler{svc: svc, log: log, ops: make(map[string]opFunc, len(ops))}
	for _, o := range ops {
		run := o.run
		h.ops[o.Op] = func(ctx context.Context, r request) (int, any, error) { return run(h, ctx, r) }
	}
	return h
}
