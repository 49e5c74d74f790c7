// Package httpapi is the HTTP edge: the route table, the API Gateway HTTP API
// (payload 2.0) handler that turns events into service calls, and the table
// that maps error kinds to statuses.
package httpapi

import (
	"context"
	"slices"

	"github.com/medshare/medshare/shared/core"
)

// Route is one operation of the HTTP API: a row of the route table, with
// its handler. The table is the single source of truth for the local server,
// the Lambda functions (one per operation, named after Op), the CDK routes,
// the OpenAPI document and the sample events.
//
// Each row is a variable of its own (RouteIssueKey, ...), and Routes is a
// function, not a variable, so that a Lambda function, whose main names
// only its own row, links only that row's handler: the linker leaves the
// other operations out of its binary, with the service methods, adapter
// calls and SDK operations that only they reach (docs/PERFORMANCE.md,
// "Lambda binaries"; TestFunctionsLinkOnlyTheirOperation).
type Route struct {
	Op      string      // operation name; also the function's directory under functions/
	Method  string      // HTTP method
	Path    string      // API Gateway route path, with {param} placeholders
	Roles   []core.Role // roles that may call it; nil for a public route
	Summary string
	Paged   bool // takes the limit and cursor query parameters
	// Query are the route's optional query parameters besides limit and
	// cursor; a route takes no other (and a route that is not Paged and
	// has none takes no query parameter at all).
	Query []string
	Body  Body // whether the route takes a JSON body
	// run is the operation: it returns the status and body of a success.
	run func(h *Handler, ctx context.Context, r request) (int, any, error)
}

// Body says whether a route takes a request body. A route that takes none
// refuses one, so that nothing a client sends is silently ignored.
type Body int

// The kinds of request body.
const (
	BodyNone     Body = iota // no body: every GET and DELETE, and the POSTs that act on the path alone
	BodyRequired             // a JSON object
	BodyOptional             // a JSON object, or nothing
)

// Public reports whether the route needs no token.
func (r Route) Public() bool { return len(r.Roles) == 0 }

// RouteKey is the API Gateway route key, e.g. "GET /health".
func (r Route) RouteKey() string { return r.Method + " " + r.Path }

// takesQuery reports whether the route takes query parameter name.
func (r Route) takesQuery(name string) bool {
	return r.Paged && (name == "limit" || name == "cursor") || slices.Contains(r.Query, name)
}

// Allows reports whether role may call the route.
func (r Route) Allows(role core.Role) bool { return slices.Contains(r.Roles, role) }

// The routes, one per operation, each named Route and its Op in Pascal case
// (the generated mains name them; TestRouteNames).
var (
	RouteHealth               = Route{Op: "health", Method: "GET", Path: "/health", Summary: "Check that the service and its dependencies answer", run: (*Handler).health}
	RouteUploadPresign        = Route{Op: "upload-presign", Method: "POST", Path: "/v1/photos", Roles: []core.Role{core.RolePatient}, Summary: "Stage an encrypted photo and get a presigned upload", Body: BodyRequired, run: (*Handler).uploadPresign}
	RouteFinalizeUpload       = Route{Op: "finalize-upload", Method: "POST", Path: "/v1/photos/{photo_id}/finalize", Roles: []core.Role{core.RolePatient}, Summary: "Check the uploaded ciphertext and mark the photo ready", run: (*Handler).finalizeUpload}
	RouteListPhotos           = Route{Op: "list-photos", Method: "GET", Path: "/v1/photos", Roles: []core.Role{core.RolePatient}, Summary: "List the caller's photos", Paged: true, run: (*Handler).listPhotos}
	RouteDeletePhoto          = Route{Op: "delete-photo", Method: "DELETE", Path: "/v1/photos/{photo_id}", Roles: []core.Role{core.RolePatient}, Summary: "Delete a photo, its ciphertext and its wrapped key", run: (*Handler).deletePhoto}
	RoutePhotoKey             = Route{Op: "photo-key", Method: "POST", Path: "/v1/photos/{photo_id}/key", Roles: []core.Role{core.RolePatient}, Summary: "Get one's own photo key sealed to one's device, and a short signed URL of the ciphertext", Body: BodyRequired, run: (*Handler).photoKey}
	RouteRegisterAppointment  = Route{Op: "register-appointment", Method: "PUT", Path: "/v1/appointments/{appointment_id}", Roles: []core.Role{core.RoleClinic}, Summary: "Create or update an appointment and its participants", Body: BodyRequired, run: (*Handler).registerAppointment}
	RouteChatUpload           = Route{Op: "chat-upload", Method: "POST", Path: "/api/chat-images", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "Stage a chat image in an appointment", Body: BodyRequired, run: (*Handler).chatUpload}
	RouteChatFinalize         = Route{Op: "chat-finalize", Method: "POST", Path: "/api/chat-images/{id}/finalize", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "Check the uploaded chat image and mark it ready", run: (*Handler).chatFinalize}
	RouteChatSignedURL        = Route{Op: "chat-signed-url", Method: "GET", Path: "/api/chat-images/{id}/signed-url", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "Get a signed URL for a chat image", run: (*Handler).chatSignedURL}
	RouteListChatImages       = Route{Op: "list-chat-images", Method: "GET", Path: "/api/appointments/{appointment_id}/chat-images", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "List an appointment's chat images, newest first", Paged: true, Query: []string{"clinic_id"}, run: (*Handler).listChatImages}
	RouteCreateSession        = Route{Op: "create-session", Method: "POST", Path: "/v1/shares", Roles: []core.Role{core.RolePatient}, Summary: "Share photos with one professional for a limited time and number of views", Body: BodyRequired, run: (*Handler).createShare}
	RouteListSessions         = Route{Op: "list-sessions", Method: "GET", Path: "/v1/shares", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "List the caller's sharing sessions (own, or granted to them)", Paged: true, run: (*Handler).listShares}
	RouteGetSession           = Route{Op: "get-session", Method: "GET", Path: "/v1/shares/{share_id}", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "Read one sharing session", run: (*Handler).getShare}
	RouteRevokeSession        = Route{Op: "revoke-session", Method: "POST", Path: "/v1/shares/{share_id}/revoke", Roles: []core.Role{core.RolePatient}, Summary: "Revoke a sharing session at once", Body: BodyOptional, run: (*Handler).revokeShare}
	RouteOpenAccess           = Route{Op: "open-access", Method: "POST", Path: "/v1/shares/{share_id}/access", Roles: []core.Role{core.RoleProfessional}, Summary: "Open a time-boxed access to a session on a device", Body: BodyRequired, run: (*Handler).openAccess}
	RouteIssueKey             = Route{Op: "issue-key", Method: "POST", Path: "/v1/access/{access_id}/photos/{photo_id}/key", Roles: []core.Role{core.RoleProfessional}, Summary: "Spend one view: get the photo's key sealed to the device", run: (*Handler).issueKey}
	RouteSignedURL            = Route{Op: "signed-url", Method: "POST", Path: "/v1/keys/{key_id}/signed-url", Roles: []core.Role{core.RoleProfessional}, Summary: "Claim an issued key, once, for a short signed URL of the ciphertext", run: (*Handler).claimKey}
	RouteReportActivity       = Route{Op: "report-activity", Method: "POST", Path: "/v1/access/{access_id}/activity", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "Report events on an access (grantee's client) or an unexpected access (patient)", Body: BodyRequired, run: (*Handler).reportActivity}
	RouteListNotifications    = Route{Op: "list-notifications", Method: "GET", Path: "/v1/notifications", Roles: []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic}, Summary: "List the caller's notifications, newest first", Paged: true, run: (*Handler).listNotifications}
	RouteMarkNotificationRead = Route{Op: "mark-notification-read", Method: "POST", Path: "/v1/notifications/{notification_id}/read", Roles: []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic}, Summary: "Mark one of the caller's notifications read", run: (*Handler).markNotificationRead}
	RouteAccessHistory        = Route{Op: "access-history", Method: "GET", Path: "/v1/audit", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "List the audit trail the caller may read", Paged: true, run: (*Handler).accessHistory}
	RouteVerifyAudit          = Route{Op: "verify-audit", Method: "GET", Path: "/v1/audit/verify", Roles: []core.Role{core.RolePatient, core.RoleProfessional}, Summary: "Recompute the audit hash chain", run: (*Handler).verifyAudit}
)

// Routes returns the route table: every route, in the order the API
// documents them. Calling it links every operation's handler.
func Routes() []Route {
	return []Route{
		RouteHealth, RouteUploadPresign, RouteFinalizeUpload, RouteListPhotos, RouteDeletePhoto, RoutePhotoKey,
		RouteRegisterAppointment, RouteChatUpload, RouteChatFinalize, RouteChatSignedURL, RouteListChatImages,
		RouteCreateSession, RouteListSessions, RouteGetSession, RouteRevokeSession, RouteOpenAccess,
		RouteIssueKey, RouteSignedURL, RouteReportActivity, RouteListNotifications,
		RouteMarkNotificationRead, RouteAccessHistory, RouteVerifyAudit,
	}
}

// RouteByOp returns the route of an operation, for the tests and commands
// that name operations; a Lambda function names its row directly.
func RouteByOp(op string) (Route, bool) {
	routes := Routes()
	i := slices.IndexFunc(routes, func(r Route) bool { return r.Op == op })
	if i < 0 {
		return Route{}, false
	}
	return routes[i], true
}
