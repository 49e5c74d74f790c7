// Package wire holds the JSON bodies of the HTTP API that the Go client
// shares with the server, each beside the mapping from or to core's
// entity: the server (httpapi) answers with them, the client (package
// client) decodes into them, and httpapi.OpenAPI derives their schemas
// from their fields. A field added to one of them is on the wire, in the
// client and in the served spec at once.
//
// It imports core and the standard library only, so that the client
// carries no server dependency.
package wire
