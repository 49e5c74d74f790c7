// Package httpapi is the HTTP edge: the route table, the API Gateway HTTP API
// (payload 2.0) handler that turns events into service calls, and the table
// that maps error kinds to statuses.
package httpapi

import (
	"slices"

	"github.com/medshare/medshare/shared/core"
)

// Route is one operation of the HTTP API. The table below is the single source
// of truth for the local server, the Lambda functions (one per operation, named
// after Op), the CDK routes, the OpenAPI document and the sample events.
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

var (
	patient       = []core.Role{core.RolePatient}
	clinic        = []core.Role{core.RoleClinic}
	participants  = []core.Role{core.RolePatient, core.RoleProfessional}
	auditReaders  = []core.Role{core.RolePatient, core.RoleProfessional}
	professional  = []core.Role{core.RoleProfessional}
	everyone      = []core.Role{core.RolePatient, core.RoleProfessional, core.RoleClinic}
	allRolesRoute = []core.Role(nil)
)

// Routes is the route table.
var Routes = []Route{
	{Op: "health", Method: "GET", Path: "/health", Roles: allRolesRoute, Summary: "Check that the service and its dependencies answer"},
	{Op: "upload-presign", Method: "POST", Path: "/v1/photos", Roles: patient, Summary: "Stage an encrypted photo and get a presigned upload", Body: BodyRequired},
	{Op: "finalize-upload", Method: "POST", Path: "/v1/photos/{photo_id}/finalize", Roles: patient, Summary: "Check the uploaded ciphertext and mark the photo ready"},
	{Op: "list-photos", Method: "GET", Path: "/v1/photos", Roles: patient, Summary: "List the caller's photos", Paged: true},
	{Op: "delete-photo", Method: "DELETE", Path: "/v1/photos/{photo_id}", Roles: patient, Summary: "Delete a photo, its ciphertext and its wrapped key"},
	{Op: "photo-key", Method: "POST", Path: "/v1/photos/{photo_id}/key", Roles: patient, Summary: "Get one's own photo key sealed to one's device, and a short signed URL of the ciphertext", Body: BodyRequired},
	{Op: "register-appointment", Method: "PUT", Path: "/v1/appointments/{appointment_id}", Roles: clinic, Summary: "Create or update an appointment and its participants", Body: BodyRequired},
	{Op: "chat-upload", Method: "POST", Path: "/api/chat-images", Roles: participants, Summary: "Stage a chat image in an appointment", Body: BodyRequired},
	{Op: "chat-finalize", Method: "POST", Path: "/api/chat-images/{id}/finalize", Roles: participants, Summary: "Check the uploaded chat image and mark it ready"},
	{Op: "chat-signed-url", Method: "GET", Path: "/api/chat-images/{id}/signed-url", Roles: participants, Summary: "Get a signed URL for a chat image"},
	{Op: "chat-resolve", Method: "POST", Path: "/api/chat-images/resolve", Roles: participants, Summary: "Resolve an old chat image URL of the legacy chat to its image", Body: BodyRequired},
	{Op: "list-chat-images", Method: "GET", Path: "/api/appointments/{appointment_id}/chat-images", Roles: participants, Summary: "List an appointment's chat images, newest first", Paged: true, Query: []string{"clinic_id"}},
	{Op: "create-session", Method: "POST", Path: "/v1/shares", Roles: patient, Summary: "Share photos with one professional for a limited time and number of views", Body: BodyRequired},
	{Op: "list-sessions", Method: "GET", Path: "/v1/shares", Roles: participants, Summary: "List the caller's sharing sessions (own, or granted to them)", Paged: true},
	{Op: "get-session", Method: "GET", Path: "/v1/shares/{share_id}", Roles: participants, Summary: "Read one sharing session"},
	{Op: "revoke-session", Method: "POST", Path: "/v1/shares/{share_id}/revoke", Roles: patient, Summary: "Revoke a sharing session at once", Body: BodyOptional},
	{Op: "open-access", Method: "POST", Path: "/v1/shares/{share_id}/access", Roles: professional, Summary: "Open a time-boxed access to a session on a device", Body: BodyRequired},
	{Op: "issue-key", Method: "POST", Path: "/v1/access/{access_id}/photos/{photo_id}/key", Roles: professional, Summary: "Spend one view: get the photo's key sealed to the device"},
	{Op: "signed-url", Method: "POST", Path: "/v1/keys/{key_id}/signed-url", Roles: professional, Summary: "Claim an issued key, once, for a short signed URL of the ciphertext"},
	{Op: "report-activity", Method: "POST", Path: "/v1/access/{access_id}/activity", Roles: participants, Summary: "Report events on an access (grantee's client) or an unexpected access (patient)", Body: BodyRequired},
	{Op: "list-notifications", Method: "GET", Path: "/v1/notifications", Roles: everyone, Summary: "List the caller's notifications, newest first", Paged: true},
	{Op: "mark-notification-read", Method: "POST", Path: "/v1/notifications/{notification_id}/read", Roles: everyone, Summary: "Mark one of the caller's notifications read"},
	{Op: "access-history", Method: "GET", Path: "/v1/audit", Roles: auditReaders, Summary: "List the audit trail the caller may read", Paged: true},
	{Op: "verify-audit", Method: "GET", Path: "/v1/audit/verify", Roles: auditReaders, Summary: "Recompute the audit hash chain"},
}

// RouteByOp returns the route of an operation.
func RouteByOp(op string) (Route, bool) {
	i := slices.IndexFunc(Routes, func(r Route) bool { return r.Op == op })
	if i < 0 {
		return Route{}, false
	}
	return Routes[i], true
}
